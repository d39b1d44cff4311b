package projection

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-platform/strata/pkg/eventkafka"
)

// polled is one poll's records, decoded (by the Run goroutine, or ahead of their apply by a
// decoding goroutine; see Runner.Run).
type polled struct {
	fs    kgo.Fetches
	parts []*decodedPartition
}

// decodedPartition is one partition's records of a poll, decoded.
type decodedPartition struct {
	tp   topicPartition
	gen  uint64 // the partition's generation when it was polled (Runner.gen)
	recs []*kgo.Record
	// envs are the records that are not control records and decoded, in offset order.
	// Records before the partition's next offset are decoded too (the decoder does not
	// know that offset); the batch skips them, and their errors.
	envs []*Envelope
	bad  []badRecord // records that did not decode, in offset order
}

// badRecord is a record that is not a valid event.
type badRecord struct {
	offset int64
	err    error
}

// take notes the generation of each partition of a poll. It runs on Run's goroutine while
// rebalances are blocked (right after the poll), so the generations are those the records
// were fetched under.
func (r *Runner) take(fs kgo.Fetches) *polled {
	p := &polled{fs: fs}
	r.mu.Lock()
	defer r.mu.Unlock()
	fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
		if len(ftp.Records) == 0 {
			return
		}
		tp := topicPartition{ftp.Topic, ftp.Partition}
		p.parts = append(p.parts, &decodedPartition{tp: tp, gen: r.gen[tp], recs: ftp.Records})
	})
	return p
}

// decode decodes every partition of p. It touches nothing of the Runner but its settings,
// so it may run beside the Run goroutine's apply; dec is the caller's alone.
func (r *Runner) decode(dec *eventkafka.Decoder, p *polled) {
	for _, dp := range p.parts {
		dp.envs = make([]*Envelope, 0, len(dp.recs))
		block := make([]Envelope, len(dp.recs)) // one allocation for the partition's envelopes
		for i, rec := range dp.recs {
			if rec.Attrs.IsControl() {
				continue
			}
			if err := decodeInto(&block[i], dec, rec, r.dataOnly); err != nil {
				dp.bad = append(dp.bad, badRecord{rec.Offset, err})
				continue
			}
			dp.envs = append(dp.envs, &block[i])
		}
	}
}

// from returns dp's envelopes at or after offset from, or the error of its first record
// there that did not decode.
func (dp *decodedPartition) from(from int64) ([]*Envelope, error) {
	for _, b := range dp.bad {
		if b.offset >= from {
			return nil, b.err
		}
	}
	i := 0
	for i < len(dp.envs) && dp.envs[i].Position.Offset < from {
		i++
	}
	return dp.envs[i:], nil
}

// ahead is a poll taken while the previous one is applied, and its decoding goroutine.
type ahead struct {
	p    *polled
	done chan struct{} // closed when p is decoded
}

// pollAhead takes the records the client has already buffered (nil if none) and starts
// decoding them on a goroutine of their own, while Run's goroutine applies the previous
// poll. It runs while rebalances are blocked; the poll keeps them blocked.
func (r *Runner) pollAhead(ctx context.Context, cl *kgo.Client, dec *eventkafka.Decoder) *ahead {
	if cl.BufferedFetchRecords() == 0 {
		return nil
	}
	// The records are buffered: the poll returns them at once. The deadline only bounds
	// the wait if they were taken from under us (they cannot be while rebalances are
	// blocked; it costs nothing to be sure).
	pctx, cancel := context.WithTimeout(ctx, time.Millisecond)
	fs := cl.PollRecords(pctx, r.cfg.MaxBatch)
	cancel()
	if fs.NumRecords() == 0 && fetchErr(fs) == nil {
		return nil
	}
	a := &ahead{p: r.take(fs), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		r.decode(dec, a.p)
	}()
	return a
}

// wait waits for a's decoding (a nil: none) and returns its poll.
func (a *ahead) wait() *polled {
	if a == nil {
		return nil
	}
	<-a.done
	return a.p
}

// blockRebalance blocks rebalances without taking records: a poll with a cancelled context
// returns at once, but first waits for a rebalance under way and then counts as a poll
// that blocks the next until AllowRebalance (kgo.BlockRebalanceOnPoll).
func blockRebalance(ctx context.Context, cl *kgo.Client) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	cl.PollRecords(cctx, 1)
}

// stale reports whether dp was polled before its partition was last revoked, assigned or
// sought (Runner.gen); r.mu must be held.
func (r *Runner) stale(dp *decodedPartition) bool { return r.gen[dp.tp] != dp.gen }

// bump moves the generation of tp: records polled before are dropped unapplied. r.mu must
// be held.
func (r *Runner) bump(tp topicPartition) {
	r.seq++
	r.gen[tp] = r.seq
}
