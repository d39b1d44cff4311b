package projection

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
)

// PartitionProgress is one partition's checkpoint against its last stable offset.
type PartitionProgress struct {
	Topic      string `json:"topic"`
	Partition  int32  `json:"partition"`
	Checkpoint int64  `json:"checkpoint"`
	End        int64  `json:"end"` // last stable offset
}

// Lag is how many offsets the projection has still to read in this partition.
func (p PartitionProgress) Lag() int64 { return max(0, p.End-p.Checkpoint) }

// Progress is a projection's position over all its partitions.
type Progress struct {
	Partitions []PartitionProgress `json:"partitions"`
}

// Lag sums the partitions' lags.
func (p Progress) Lag() int64 {
	var n int64
	for _, pp := range p.Partitions {
		n += pp.Lag()
	}
	return n
}

// Fraction is the share of offsets read, 0..1 (1 with no events).
func (p Progress) Fraction() float64 {
	var done, total int64
	for _, pp := range p.Partitions {
		done += min(pp.Checkpoint, pp.End)
		total += pp.End
	}
	if total == 0 {
		return 1
	}
	return float64(done) / float64(total)
}

// Measure reads a projection's checkpoints and the topics' last stable offsets. A
// projection is caught up with the log as it was when Measure ran when Lag() == 0:
// checkpoints move past transaction markers, so a caught-up partition has lag 0 exactly.
func Measure(ctx context.Context, adm *kadm.Client, store Store, cfg Config, proj Projection) (Progress, error) {
	cfg = cfg.withDefaults()
	topics, err := projectionTopics(ctx, adm, cfg, proj)
	if err != nil {
		return Progress{}, err
	}
	var out Progress
	if len(topics) == 0 {
		return out, nil
	}
	ends, err := adm.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return Progress{}, fmt.Errorf("end offsets: %w", err)
	}
	var all []kadm.ListedOffset
	ends.Each(func(o kadm.ListedOffset) { all = append(all, o) })
	sort.Slice(all, func(i, j int) bool {
		return all[i].Topic < all[j].Topic || all[i].Topic == all[j].Topic && all[i].Partition < all[j].Partition
	})
	for _, o := range all {
		if o.Err != nil {
			return Progress{}, fmt.Errorf("end offset of %s/%d: %w", o.Topic, o.Partition, o.Err)
		}
		ck, err := store.Checkpoint(ctx, proj.Keyspace(), o.Topic, o.Partition)
		if err != nil {
			return Progress{}, err
		}
		out.Partitions = append(out.Partitions, PartitionProgress{Topic: o.Topic, Partition: o.Partition, Checkpoint: ck, End: o.Offset})
	}
	return out, nil
}

// projectionTopics lists the event topics a projection reads that exist now.
func projectionTopics(ctx context.Context, adm *kadm.Client, cfg Config, proj Projection) ([]string, error) {
	details, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	want := map[string]bool{}
	for _, t := range proj.Types {
		want[cfg.Topic(t)] = true
	}
	var out []string
	for _, t := range details.Names() {
		if (len(want) == 0 && eventTopicRe(cfg.TopicPrefix).MatchString(t)) || want[t] {
			out = append(out, t)
		}
	}
	return out, nil
}
