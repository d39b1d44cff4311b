// Package projection is the read side's runtime: it feeds committed events to projections
// (Handler) and stores their read models with checkpoints (Store). Runner consumes Kafka as a
// consumer group member over a RedisStore; RunLocal reads an in-process log (the embedded
// engine). Index, Stats and Snapshots are the built-in projections; Fold and MergePatch help
// write others.
//
// Guarantees:
//   - Exactly once in effect (I5). Per partition, events are applied in offset order in
//     batches; a batch's writes (one Tx) and the partition's checkpoint are committed in one
//     atomic Store.Commit (Redis: one MULTI/EXEC under WATCH of the checkpoint hash), which
//     refuses the batch if the stored checkpoint is no longer where the batch started
//     (ErrStaleCheckpoint), and then writes nothing. On assignment a Runner starts from
//     its stored checkpoint, never from the group's offsets; rebalances wait while a poll's
//     batches are applied (a poll is one fetch, at most 16 MiB), and a revocation waits for
//     the commit in flight. A crash, a handler error or a cancelled context between two
//     commits leaves the previous commit, and the batch is redone.
//   - A Runner pipelines commits one deep: it applies batch n+1 while batch n's commit is in
//     flight, reading batch n's writes before the store's, and sends batch n+1 only after
//     batch n committed (if batch n's commit fails, batch n+1 is dropped unsent and Run
//     returns the error, or resyncs on ErrStaleCheckpoint). Handlers see exactly what they
//     would see with the batches committed one after the other; Apply and Flush are still
//     called from Run's goroutine only. AfterCommit functions run, on that goroutine, once
//     the commit is known to have succeeded (at the latest when Run returns).
//   - Aborted events are never applied: the Runner reads read_committed, and checkpoints
//     move past transaction markers, so a caught-up partition has lag 0 (Measure).
//   - A record that is not a valid event stops the Runner with an error before anything of
//     its batch is applied or committed (records are decoded with eventkafka.Decoder, which
//     answers exactly as eventkafka.Decode). Index, Stats and Snapshots with MergePatch read
//     no more of an event than its data: their envelopes' Event may hold the data alone
//     (eventkafka.Decoder.Fields, which checks a record as Decode does).
//   - Reads in a batch (Tx.Get) see the store as it was before the batch plus the batch's own
//     writes. For the built-ins and Fold, whose keys are each written by one partition's
//     batches only, a Runner takes what its own commits stored from memory instead of
//     reading it back, and forgets all of it on every rebalance and resync (known.go says
//     why that is the store's content). A Handler that is also a Prefetcher names the keys it will read; when the store
//     is a MultiReader (RedisStore: MGET) the runtime reads them all in one round trip before
//     the batch is applied. That changes the number of round trips, never a result. Fold,
//     Stats and Snapshots are Prefetchers.
//   - Fold and Snapshots guard each aggregate's document by version: a redelivered event has
//     no second effect, and a gap is ErrVersionGap.
//   - Fold (when its document type survives a JSON round trip exactly) and Snapshots with
//     MergePatch keep documents decoded across events and encode each once per batch; a
//     Runner also remembers the documents it wrote, by their bytes, and reuses one only when
//     the bytes read back are exactly those. Handlers see the values they would see decoding
//     every document from the store.
//   - MergePatch gives evanphx/json-patch's results as JSON values (numbers keep their
//     literals), with object members sorted by name: equal states are equal bytes.
//   - Serve switches readers to a new version (SwitchOver) only once it has caught up; the
//     old keyspace is dropped Config.DropGrace later.
package projection
