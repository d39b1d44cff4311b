package embedded

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/cockroachdb/pebble/v2"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
)

// maxProblems bounds VerifyReport.Problems; MoreProblems counts the rest.
const maxProblems = 1000

// VerifyReport is what Verify found. The store is sound when Problems is empty.
type VerifyReport struct {
	Records      int64     // event records checked
	Streams      int       // streams with events
	Heads        int       // stream heads checked
	Problems     []Problem // at most maxProblems, in key order within each check
	MoreProblems int       // problems found beyond those listed
}

// OK reports whether Verify found no problem.
func (r VerifyReport) OK() bool { return len(r.Problems) == 0 && r.MoreProblems == 0 }

// Problem is one inconsistency, at a key rendered by FormatKey.
type Problem struct {
	Key    string
	Detail string
}

func (p Problem) String() string { return p.Key + ": " + p.Detail }

type topicPartition struct {
	topic     string
	partition int32
}

type streamEnd struct {
	version int64
	pos     stream.Position
}

// verifier holds one Verify's state.
type verifier struct {
	e      *Engine
	rep    VerifyReport
	last   map[stream.ID]streamEnd  // each stream's last event in the log
	ends   map[topicPartition]int64 // end offset in the log of each topic-partition without a counter yet
	headed map[stream.ID]bool       // streams whose head was checked
	tp     topicPartition           // the topic-partition being walked
	next   int64                    // the offset expected next in tp
}

// Verify reads a consistent snapshot of the whole store and checks every record's checksum
// and encoding, that offsets run 0..n-1 per topic-partition with no hole and match the
// stored next offset, that each event sits in its type's topic and its aggregate's
// partition, that per stream versions are exactly 1..n in log order (I1), and that every
// stream's head matches its log. The error is for failures to read; what is wrong with the
// data is in the report.
func (e *Engine) Verify(ctx context.Context) (VerifyReport, error) {
	v := &verifier{e: e, last: map[stream.ID]streamEnd{}, ends: map[topicPartition]int64{},
		headed: map[stream.ID]bool{}}
	err := e.use(func(db *pebble.DB) error {
		snap := db.NewSnapshot()
		defer func() { _ = snap.Close() }()
		if err := v.walk(ctx, snap, kindEvent, v.event); err != nil {
			return err
		}
		if err := v.walk(ctx, snap, kindOffset, v.counter); err != nil {
			return err
		}
		return v.walk(ctx, snap, kindHead, v.head)
	})
	if err != nil {
		return v.rep, fmt.Errorf("embedded: verify: %w", err)
	}
	v.finish()
	return v.rep, nil
}

// walk calls f for every key of one kind.
func (v *verifier) walk(ctx context.Context, snap *pebble.Snapshot, kind byte, f func(k, val []byte)) error {
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: []byte{kind}, UpperBound: []byte{kind + 1}})
	if err != nil {
		return err
	}
	defer func() { _ = it.Close() }()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		f(it.Key(), it.Value())
	}
	return it.Error()
}

func (v *verifier) problem(key []byte, format string, args ...any) {
	if len(v.rep.Problems) >= maxProblems {
		v.rep.MoreProblems++
		return
	}
	v.rep.Problems = append(v.rep.Problems, Problem{Key: FormatKey(key), Detail: fmt.Sprintf(format, args...)})
}

// event checks one event record.
func (v *verifier) event(key, val []byte) {
	v.rep.Records++
	topic, p, off, ok := parseEventKey(key)
	if !ok {
		v.problem(key, "malformed event key")
		return
	}
	tp := topicPartition{topic, p}
	if tp != v.tp {
		v.tp, v.next = tp, 0
	}
	if off != v.next {
		v.problem(key, "offset %d where %d was expected: offsets must run from 0 without a hole", off, v.next)
	}
	v.next = off + 1
	v.ends[tp] = off + 1
	kr, err := decodeRecord(key, val)
	if err != nil {
		v.corrupt(key, err)
		return
	}
	ev, err := recordEvent(key, kr)
	if err != nil {
		v.corrupt(key, err)
		return
	}
	v.checkEvent(key, stream.Position{Topic: topic, Partition: p, Offset: off}, string(kr.Key), &ev)
}

func (v *verifier) corrupt(key []byte, err error) {
	var ce *CorruptionError
	if errors.As(err, &ce) {
		v.problem(key, "corrupt: %s", ce.Reason)
		return
	}
	v.problem(key, "%v", err)
}

// checkEvent checks where an event sits and its version.
func (v *verifier) checkEvent(key []byte, pos stream.Position, kafkaKey string, ev *event.Event) {
	aggType, aggID := event.StreamOf(ev)
	if v.e.Topic(aggType) != pos.Topic {
		v.problem(key, "event of aggregate type %q in topic %s", aggType, pos.Topic)
	}
	if kafkaKey != aggID {
		v.problem(key, "record key %q differs from aggregate id %q", kafkaKey, aggID)
	}
	if aggID != "" && stream.PartitionFor(aggID, v.e.cfg.Partitions) != int(pos.Partition) {
		v.problem(key, "aggregate %q belongs in partition %d", aggID, stream.PartitionFor(aggID, v.e.cfg.Partitions))
	}
	ver, ok, err := event.AggregateVersion(ev)
	if !ok || err != nil {
		v.problem(key, "event has no valid aggregateversion")
		return
	}
	s := stream.ID{Type: aggType, ID: aggID}
	if prev := v.last[s].version; ver != prev+1 {
		v.problem(key, "stream %s: version %d follows version %d", s, ver, prev)
	}
	v.last[s] = streamEnd{version: ver, pos: pos}
}

// counter checks a topic-partition's stored next offset against its log.
func (v *verifier) counter(key, val []byte) {
	topic, p, rest, ok := splitTopicPartition(key)
	if !ok || len(rest) != 0 || len(val) != 8 {
		v.problem(key, "malformed offset entry")
		return
	}
	tp := topicPartition{topic, p}
	if n, end := int64(binary.BigEndian.Uint64(val)), v.ends[tp]; n != end {
		v.problem(key, "next offset %d, but the log ends at %d", n, end)
	}
	delete(v.ends, tp)
}

// head checks a stream's head against its log.
func (v *verifier) head(key, val []byte) {
	v.rep.Heads++
	aggType, aggID, ok := parseHeadKey(key)
	if !ok {
		v.problem(key, "malformed head key")
		return
	}
	h, err := decodeHead(key, val)
	if err != nil {
		v.corrupt(key, err)
		return
	}
	s := stream.ID{Type: aggType, ID: aggID}
	v.headed[s] = true
	end := v.last[s]
	if h.Version != end.version {
		v.problem(key, "head version %d, but the log's last event of %s has version %d", h.Version, s, end.version)
		return
	}
	if n := len(h.Recent); n > 0 && (h.Recent[n-1].Version != end.version || h.Recent[n-1].Position != end.pos) {
		v.problem(key, "newest recent event is version %d at %+v, the log's is version %d at %+v",
			h.Recent[n-1].Version, h.Recent[n-1].Position, end.version, end.pos)
	}
}

// finish reports what only shows once everything was walked.
func (v *verifier) finish() {
	v.rep.Streams = len(v.last)
	tps := make([]topicPartition, 0, len(v.ends))
	for tp := range v.ends {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		return tps[i].topic < tps[j].topic || tps[i].topic == tps[j].topic && tps[i].partition < tps[j].partition
	})
	for _, tp := range tps {
		v.problem(offsetKey(tp.topic, tp.partition), "log ends at %d but no next offset is stored", v.ends[tp])
	}
	missing := make([]stream.ID, 0)
	for s := range v.last {
		if !v.headed[s] {
			missing = append(missing, s)
		}
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i].String() < missing[j].String() })
	for _, s := range missing {
		v.problem(headKey(nil, s.Type, s.ID), "stream has %d events but no head", v.last[s].version)
	}
}
