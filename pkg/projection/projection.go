package projection

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-platform/strata/pkg/event"
	"github.com/strata-platform/strata/pkg/stream"
)

// Envelope is one committed event as a projection sees it.
type Envelope struct {
	Stream   stream.ID
	Version  int64
	Position stream.Position
	Time     time.Time // the record's timestamp
	Event    event.Event
}

// Handler applies events to a read model. Apply is called in log order per partition; it
// reads and writes through tx, whose writes are committed atomically with the partition's
// checkpoint after the batch. Apply must be deterministic in the events it is given: after
// a crash the same events are applied again to the state as it was before the batch.
type Handler interface {
	Apply(ctx context.Context, tx *Tx, env *Envelope) error
}

// Prefetcher is implemented by a Handler that knows, from an event alone, which keys its
// Apply will read. Before a batch is applied, the runtime collects every event's keys and,
// when the store is a MultiReader, reads them all in one round trip, so that Tx.Get serves
// them from memory instead of going to the store once per key. Prefetch appends env's keys
// to keys and returns the result. Naming a key Apply then does not read costs nothing but
// the read; a key it does not name is read by Tx.Get as before. Prefetching changes no
// result: a batch's reads see the store as it was before the batch, plus the batch's writes.
type Prefetcher interface {
	Prefetch(env *Envelope, keys []string) []string
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, tx *Tx, env *Envelope) error

// Apply calls f.
func (f HandlerFunc) Apply(ctx context.Context, tx *Tx, env *Envelope) error { return f(ctx, tx, env) }

// Projection names a read model and what feeds it.
type Projection struct {
	Name    string   // keyspace name, e.g. "orders"; [a-z0-9_-]
	Version int      // bump to rebuild into a fresh keyspace; from 1
	Types   []string // aggregate types whose events it consumes; empty: every event topic
	Handler Handler
	// Flush, if set, runs after a batch's Apply calls and before its commit, with the
	// batch's transaction: a projection that writes outside the store (the snapshot
	// topic) does so here, idempotently.
	Flush func(ctx context.Context, tx *Tx) error
}

// Validate checks the projection's names.
func (p Projection) Validate() error {
	if !nameRe.MatchString(p.Name) {
		return fmt.Errorf("projection name %q: want %s", p.Name, nameRe)
	}
	if p.Version < 1 {
		return fmt.Errorf("projection %s: version %d: want 1 or more", p.Name, p.Version)
	}
	if p.Handler == nil {
		return fmt.Errorf("projection %s: needs a handler", p.Name)
	}
	for _, t := range p.Types {
		if err := event.ValidateStreamName(t, "x"); err != nil {
			return fmt.Errorf("projection %s: %w", p.Name, err)
		}
	}
	return nil
}

// Keyspace is the namespace of one version of a projection's read model.
func (p Projection) Keyspace() string { return fmt.Sprintf("%s.v%d", p.Name, p.Version) }

// Tx stages one batch's writes. Reads see the batch's own writes first, then the store.
// A Tx is used by one goroutine.
type Tx struct {
	ctx   context.Context
	store Reader
	ns    string
	puts  map[string][]byte
	dels  map[string]bool
	read  map[string]stored // what the store held before the batch, for keys read so far
	after []func()          // run after a successful commit
	// under is the previous batch while its commit is in flight: its writes are read
	// before the store's. The runner sends this batch only once that commit succeeded.
	under *Tx
	vals  map[string]any // keys whose staged write is a decoded value (putDecoded), until seal
	memo  *memo          // the runner's decoded values of bytes it wrote (nil: none)
	known *known         // what the runner's own commits left in the store (nil: none)
}

// stored is a value read from the store (ok false: the key was absent).
type stored struct {
	v  []byte
	ok bool
}

// Reader is the read side of a Store.
type Reader interface {
	Get(ctx context.Context, keyspace, key string) ([]byte, bool, error)
}

// MultiReader is a Reader that reads many keys in one call (RedisStore: one MGET). The
// runtime uses it to prefetch a batch's keys (Prefetcher).
type MultiReader interface {
	// GetMany returns the value of each key (nil where absent) and whether it was present.
	GetMany(ctx context.Context, keyspace string, keys []string) ([][]byte, []bool, error)
}

func newTx(ctx context.Context, r Reader, ns string) *Tx {
	return &Tx{ctx: ctx, store: r, ns: ns, puts: map[string][]byte{}, dels: map[string]bool{}, read: map[string]stored{}}
}

// Get returns the value of key in the projection's keyspace as of this batch.
func (tx *Tx) Get(key string) ([]byte, bool, error) {
	if v, ok := tx.vals[key]; ok {
		if err := tx.encodeStaged(key, v); err != nil {
			return nil, false, err
		}
	}
	if v, ok := tx.puts[key]; ok {
		return v, true, nil
	}
	if tx.dels[key] {
		return nil, false, nil
	}
	if u := tx.under; u != nil {
		if v, ok := u.puts[key]; ok {
			return v, true, nil
		}
		if u.dels[key] {
			return nil, false, nil
		}
	}
	if r, ok := tx.read[key]; ok {
		return r.v, r.ok, nil
	}
	if r, ok := tx.known.get(key); ok {
		return r.v, r.ok, nil
	}
	v, ok, err := tx.store.Get(tx.ctx, tx.ns, key)
	if err == nil {
		tx.read[key] = stored{v, ok}
	}
	return v, ok, err
}

// prefetch reads the keys the handler names for envs in one call, when the handler is a
// Prefetcher and the store a MultiReader; Get then serves them from memory.
func (tx *Tx) prefetch(h Handler, envs []*Envelope) error {
	p, ok := h.(Prefetcher)
	if !ok {
		return nil
	}
	mr, ok := tx.store.(MultiReader)
	if !ok {
		return nil
	}
	keys := make([]string, 0, 2*len(envs)) // the built-ins name one or two keys per event
	for _, env := range envs {
		keys = p.Prefetch(env, keys)
	}
	// Known keys first: with a warm runner nearly every key is, and the rest are few.
	var seen map[string]bool
	uniq := keys[:0]
	for _, k := range keys {
		if tx.known.has(k) || tx.under.stages(k) || seen[k] {
			continue
		}
		if _, done := tx.read[k]; done {
			continue
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[k] = true
		uniq = append(uniq, k)
	}
	if len(uniq) == 0 {
		return nil
	}
	if len(tx.read) == 0 {
		tx.read = make(map[string]stored, len(uniq))
	}
	vals, oks, err := mr.GetMany(tx.ctx, tx.ns, uniq)
	if err != nil {
		return err
	}
	for i, k := range uniq {
		tx.read[k] = stored{vals[i], oks[i]}
	}
	return nil
}

// stages reports whether tx (nil: none) stages a write of key.
func (tx *Tx) stages(key string) bool {
	if tx == nil {
		return false
	}
	_, put := tx.puts[key]
	_, val := tx.vals[key]
	return put || val || tx.dels[key]
}

// Put stages a write.
func (tx *Tx) Put(key string, value []byte) {
	delete(tx.dels, key)
	delete(tx.vals, key)
	tx.puts[key] = value
}

// Delete stages a deletion.
func (tx *Tx) Delete(key string) {
	delete(tx.puts, key)
	delete(tx.vals, key)
	tx.dels[key] = true
}

// AfterCommit registers f to run once the batch is committed.
func (tx *Tx) AfterCommit(f func()) { tx.after = append(tx.after, f) }

// writes returns the staged writes, in no particular order (each key once, so the order
// changes nothing; sorting them cost the index projection 0.5 µs per event). The batch must
// be sealed.
func (tx *Tx) writes() (puts []KV, dels []string) {
	puts = make([]KV, 0, len(tx.puts))
	for k, v := range tx.puts {
		puts = append(puts, KV{k, v})
	}
	for k := range tx.dels {
		dels = append(dels, k)
	}
	return puts, dels
}

// KV is one staged write.
type KV struct {
	Key   string
	Value []byte
}
