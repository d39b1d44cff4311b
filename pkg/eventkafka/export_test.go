package eventkafka

import "github.com/twmb/franz-go/pkg/kgo"

// DecodedFast reports whether d decodes r on its fast path.
func DecodedFast(d *Decoder, r *kgo.Record) bool {
	_, ok := d.fast(r)
	return ok
}
