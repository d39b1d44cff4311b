package query

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strata-platform/strata/pkg/event"
)

// Cursor is a tail's position: per aggregate type, the next offset of each of its topic's
// P partitions. A type a cursor does not name is read from its first record.
//
// Its text form, used as the SSE event id, is "<type>=<o0>.<o1>...;<type>=..." with types
// sorted, e.g. "order=12.0.7.3;payment=0.4.0.1".
type Cursor map[string][]int64

// String is the cursor's text form.
func (c Cursor) String() string {
	types := make([]string, 0, len(c))
	for t := range c {
		types = append(types, t)
	}
	sort.Strings(types)
	var b strings.Builder
	for i, t := range types {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(t)
		b.WriteByte('=')
		for j, o := range c[t] {
			if j > 0 {
				b.WriteByte('.')
			}
			b.WriteString(strconv.FormatInt(o, 10))
		}
	}
	return b.String()
}

// ParseCursor reads a cursor's text form for a log of p partitions.
func ParseCursor(s string, p int) (Cursor, error) {
	c := Cursor{}
	if s == "" {
		return c, nil
	}
	for _, part := range strings.Split(s, ";") {
		t, offs, ok := strings.Cut(part, "=")
		if !ok || event.ValidateStreamName(t, "x") != nil || c[t] != nil {
			return nil, fmt.Errorf("%w: cursor %q: want <type>=<offset>.<offset>(;<type>=...)", ErrBadRequest, s)
		}
		fields := strings.Split(offs, ".")
		if len(fields) != p {
			return nil, fmt.Errorf("%w: cursor %q: type %s has %d offsets, want %d", ErrBadRequest, s, t, len(fields), p)
		}
		c[t] = make([]int64, p)
		for i, f := range fields {
			o, err := strconv.ParseInt(f, 10, 64)
			if err != nil || o < 0 || f != strconv.FormatInt(o, 10) {
				return nil, fmt.Errorf("%w: cursor %q: offset %q", ErrBadRequest, s, f)
			}
			c[t][i] = o
		}
	}
	return c, nil
}

// TopicType is the aggregate type of an event topic "<prefix>.<type>.events".
func TopicType(topic string) string {
	rest, ok := strings.CutSuffix(topic, ".events")
	if !ok {
		return ""
	}
	return rest[strings.LastIndexByte(rest, '.')+1:]
}

// TailRequest asks for the live events of one type (or every type when Type is empty) from
// a cursor (its text form; empty: from now).
type TailRequest struct {
	Type string
	From string
	// Discover is how often new topics are looked for; default 250ms.
	Discover time.Duration
}

// Tail calls start once with the cursor it starts from, then fn with every committed event
// after it and the cursor just past that event, until ctx ends (nil) or a call fails. Events
// of one partition come in offset order; resuming from any cursor Tail handed out delivers
// every later event exactly once.
func (r *Reader) Tail(ctx context.Context, q TailRequest, start func(cursor string) error, fn func(rec Record, cursor string) error) error {
	p := r.cfg.Log.Partitions()
	if q.Type != "" {
		if err := event.ValidateStreamName(q.Type, "x"); err != nil {
			return fmt.Errorf("%w: %v", ErrBadRequest, err)
		}
	}
	if q.Discover <= 0 {
		q.Discover = 250 * time.Millisecond
	}
	cur, err := ParseCursor(q.From, p)
	if err != nil {
		return err
	}
	for t := range cur {
		if q.Type != "" && t != q.Type {
			return fmt.Errorf("%w: cursor names type %s, the tail is of %s", ErrBadRequest, t, q.Type)
		}
	}
	topics, err := r.tailTopics(ctx, q.Type)
	if err != nil {
		return err
	}
	if q.From == "" { // from now: every existing topic at its end
		for _, topic := range topics {
			offs := make([]int64, p)
			for i := range offs {
				if offs[i], err = r.cfg.Log.End(ctx, topic, int32(i)); err != nil {
					return err
				}
			}
			cur[TopicType(topic)] = offs
		}
	}
	if err := start(cur.String()); err != nil {
		return err
	}
	followed := map[string]bool{}
	from := map[TopicPartition]int64{}
	for _, topic := range topics {
		followed[topic] = true
		for tp, o := range cursorOffsets(cur, topic, p) {
			from[tp] = o
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	add := make(chan map[TopicPartition]int64)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Add(1)
	startCur := cur.copy() // the cursor at start: topics found later are read from there
	go func() {
		defer wg.Done()
		r.discover(ctx, q, startCur, followed, add)
	}()
	err = r.cfg.Log.Follow(ctx, from, add, func(rec Record) error {
		t := TopicType(rec.Position.Topic)
		if cur[t] == nil {
			cur[t] = make([]int64, p)
		}
		if rec.Position.Offset < cur[t][rec.Position.Partition] {
			return nil // already delivered before this cursor
		}
		cur[t][rec.Position.Partition] = rec.Position.Offset + 1
		return fn(rec, cur.String())
	})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (c Cursor) copy() Cursor {
	out := make(Cursor, len(c))
	for t, o := range c {
		out[t] = append([]int64(nil), o...)
	}
	return out
}

func cursorOffsets(c Cursor, topic string, p int) map[TopicPartition]int64 {
	out := make(map[TopicPartition]int64, p)
	offs := c[TopicType(topic)]
	for i := 0; i < p; i++ {
		var o int64
		if offs != nil {
			o = offs[i]
		}
		out[TopicPartition{topic, int32(i)}] = o
	}
	return out
}

func (r *Reader) tailTopics(ctx context.Context, typ string) ([]string, error) {
	all, err := r.cfg.Log.Topics(ctx)
	if err != nil {
		return nil, err
	}
	if typ == "" {
		return all, nil
	}
	want := r.cfg.Log.Topic(typ)
	for _, t := range all {
		if t == want {
			return []string{t}, nil
		}
	}
	return nil, nil
}

// discover looks for new topics every q.Discover and hands them to the follower.
func (r *Reader) discover(ctx context.Context, q TailRequest, start Cursor, followed map[string]bool, add chan<- map[TopicPartition]int64) {
	p := r.cfg.Log.Partitions()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(q.Discover):
		}
		topics, err := r.tailTopics(ctx, q.Type)
		if err != nil {
			continue
		}
		for _, topic := range topics {
			if followed[topic] {
				continue
			}
			select {
			case add <- cursorOffsets(start, topic, p):
				followed[topic] = true
			case <-ctx.Done():
				return
			}
		}
	}
}
