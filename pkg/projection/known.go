package projection

// known is what a Runner's own commits left in the store, for handlers whose keys are
// partition-local (partitionLocal): a batch reads a key from it instead of the store, so that
// a stream's documents are not read back from Redis batch after batch (the index projection
// spent a third of its apply time waiting for those reads, queued behind the previous
// batch's commit).
//
// Why the values are the store's: a partition-local key is written only by batches of one
// partition. Entries are added only once a commit succeeded (Runner.settle), and the whole of
// known is dropped whenever the runner's partitions may have been written by another worker:
// every revocation, loss or assignment (forget, adjust) and every resync moves
// Runner.moves; the next batch drops known, and a commit sent before the move is never
// added after it. Between two moves, another worker that wrote a partition's keys also moved its checkpoint, so this
// runner's next commit of that partition is refused (ErrStaleCheckpoint), nothing of the
// batch built on stale values is stored, and the resync drops known. Only Run's goroutine
// uses it.
type known struct {
	m     map[string]stored
	bytes int
}

// knownMax and knownMaxBytes bound known; beyond them an arbitrary entry is dropped per new
// one.
const (
	knownMax      = 1 << 16
	knownMaxBytes = 64 << 20
)

func newKnown() *known { return &known{m: map[string]stored{}} }

func (k *known) get(key string) (stored, bool) {
	if k == nil {
		return stored{}, false
	}
	v, ok := k.m[key]
	return v, ok
}

func (k *known) has(key string) bool {
	_, ok := k.get(key)
	return ok
}

// set records what the store holds under key after a commit (ok false: nothing).
func (k *known) set(key string, v []byte, ok bool) {
	if old, had := k.m[key]; had {
		k.bytes -= len(key) + len(old.v)
	}
	for len(k.m) > 0 && (len(k.m) >= knownMax || k.bytes+len(key)+len(v) > knownMaxBytes) {
		for victim, e := range k.m {
			k.bytes -= len(victim) + len(e.v)
			delete(k.m, victim)
			break
		}
	}
	k.m[key] = stored{v, ok}
	k.bytes += len(key) + len(v)
}

// absorb records a committed batch's writes.
func (k *known) absorb(tx *Tx) {
	if k == nil {
		return
	}
	for key, v := range tx.puts {
		k.set(key, v, true)
	}
	for key := range tx.dels {
		k.set(key, nil, false)
	}
}

// clear forgets everything.
func (k *known) clear() {
	if k != nil {
		clear(k.m)
		k.bytes = 0
	}
}

// partitionLocal is implemented by handlers every key of which is read and written only by
// batches of one partition (the built-ins and Fold key their documents by stream, and a
// stream lives in one partition; stats keys name their partition). For them a Runner
// remembers its own commits (known).
type partitionLocal interface{ partitionLocal() bool }

// knownFor returns a known for a partition-local handler, nil for any other.
func knownFor(h Handler) *known {
	if _, ok := h.(*snapshotter); ok {
		return newKnown() // its state and snapshot keys are per stream
	}
	if p, ok := h.(partitionLocal); ok && p.partitionLocal() {
		return newKnown()
	}
	return nil
}
