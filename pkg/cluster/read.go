package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// readRange calls fn for every committed data record of topic/partition with offset in
// [from, end), read_committed. end must be at most the partition's last stable offset (LSO)
// when the call starts.
//
// The record at end-1 is always delivered to a client that keeps control records: below
// the LSO every transaction is decided, so that offset holds committed data or a
// transaction marker (aborted data is always followed by its abort marker). Reading stops
// there, so the range is read exactly, with no guessing from quiet periods. A broker that
// delivers nothing for idleLimit is an error, never a premature success.
func readRange(ctx context.Context, seeds []string, topic string, partition int32, from, end int64, fn func(context.Context, *kgo.Record) error) error {
	const idleLimit = 30 * time.Second
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {partition: kgo.NewOffset().At(from)}}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		pctx, cancel := context.WithTimeout(ctx, idleLimit)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := fetchErr(fs); err != nil {
			return err
		}
		if fs.NumRecords() == 0 {
			return fmt.Errorf("read %s/%d: nothing delivered for %s before offset %d", topic, partition, idleLimit, end)
		}
		for _, r := range fs.Records() {
			if r.Offset >= end {
				return nil
			}
			if !r.Attrs.IsControl() {
				if err := fn(ctx, r); err != nil {
					return err
				}
			}
			if r.Offset == end-1 {
				return nil
			}
		}
	}
}

func fetchErr(fs kgo.Fetches) error {
	var out error
	fs.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			out = fmt.Errorf("fetch %s/%d: %w", t, p, err)
		}
	})
	return out
}
