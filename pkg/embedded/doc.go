// Package embedded is Strata's embedded engine: a durable, single-process store on pebble
// that keeps Kafka's shape. Events live in topics "<prefix>.<type>.events" of P partitions,
// each topic-partition numbering its records from offset 0, stored as Kafka records (key,
// headers, value, timestamp) so that one decoder serves both engines. Stream heads sit
// next to the events, and the key space leaves room for read models and checkpoints. The
// on-disk format is in docs/formats/embedded.md.
//
// Guarantees:
//
//   - Durability (invariant I3). Commit returns only after the group is in pebble's WAL and
//     the WAL is fsynced (pebble.Sync). Nothing is acknowledged before it is on disk. If a
//     WAL write or fsync fails, pebble calls Logger.Fatalf and the process exits: no caller
//     is answered, so Commit never has an unknown outcome and Recover has nothing to do.
//   - Full disk. A write (an append group, a read-model batch) that would leave less than
//     Config.DiskReserve free on the data folder's file system is refused with ErrDiskFull
//     before pebble sees it: nothing is written, reads keep working, and the same write
//     succeeds once space is freed. Fatalf is not softened into an error: after a failed WAL
//     write pebble has already made the batch visible and its WAL writer is dead, so going on
//     would answer writes a restart loses (diskspace.go has the details). And a full disk
//     need not even reach Fatalf: failing memtable flushes stall every commit with no error.
//     The reserve keeps Strata's own writes from getting there; if another process fills
//     the disk past it, the process exits or stalls, without losing anything acknowledged.
//   - Atomicity (I2). A group's events, every stream's new head and the partition's next
//     offsets are one pebble batch, which is one WAL record: after a crash all of it is
//     there or none of it is.
//   - Heads match the log. Commit refuses a whole group (ErrHeadMismatch) when an append's
//     Prior version is not the stored one, so per stream versions are exactly 1..n (I1).
//   - Offsets. Per topic-partition, offsets run from 0 with no hole, and the end offset a
//     reader sees (EndOffset) never passes what it can read.
//   - One writer per partition. OpenPartition refuses a partition that already has an open
//     writer in this Engine.
//   - One process per data folder. Open takes an exclusive flock(2) on <dir>/strata.lock and
//     fails with ErrInUse ("data folder X is in use by another process") while another
//     Engine, in this process or another, holds it. The kernel drops the lock when its
//     process dies, however it dies. Pebble also locks its own folder.
//   - Fixed shape. The partition count and topic prefix are stored at creation; Open refuses
//     a configuration that differs (ErrPartitionMismatch, ErrPrefixMismatch).
//   - Checked reads. Every record carries a CRC32C over its key and bytes; Read returns a
//     *CorruptionError naming the key of a record that fails it, and Verify walks the whole
//     store checking checksums, offsets, versions and heads.
//   - Readers never block writers: reads use pebble iterators and snapshots.
//   - Read models (projection.Store): a projection batch's writes and its checkpoint are one
//     pebble batch, committed only if the checkpoint has not moved. ServeProjection
//     rebuilds a new version of a projection into its own keyspace and moves the active
//     pointer (Active, SetActive) in one synced write once it has read the whole log, as
//     projection.Serve does on Kafka + Redis. The I5 suite (pkg/projection/projectiontest)
//     runs on this engine and on Kafka + Redis.
//
// Crash recovery and corruption. Pebble replays its WAL at Open. A WAL that is not the
// newest must end cleanly; anything else is corruption and Open fails. In the newest WAL,
// replay stops at the first invalid chunk. That is right for a torn tail: the last write
// was cut short by the crash, was never fsynced, so nobody was told it committed, and
// dropping it is correct. It would be wrong for damage in the middle of the log, after
// which acknowledged writes follow. Pebble tells the two apart only with WAL sync chunks,
// which it writes from format major version FormatWALSyncChunks on: each chunk records how
// far the log had been fsynced when it was written, and when a later chunk promises a sync
// beyond the invalid chunk, the damage is corruption and Open fails. So the engine:
//
//   - pins FormatMajorVersion (FormatTableFormatV6, >= FormatWALSyncChunks; pebble's default
//     is its oldest format, which writes no sync offsets, and silently drops everything
//     after a damaged chunk);
//   - flushes once when it creates a folder: pebble opens a new database's first WAL
//     before it ratchets the format, so that WAL would have no sync offsets;
//   - checks the newest WAL itself before pebble opens it (checkWALTail), because pebble
//     reads ahead only from the next 32 KiB block on and takes damage in the WAL's last
//     block for a torn tail;
//   - opens with ErrorIfNotExists when the pebble folder holds files, so that a database
//     whose manifest is gone is refused instead of recreated empty;
//   - reports both pebble's corruption errors and its own as ErrStoreCorrupt.
//
// One limit remains: pebble v2.1.7 computes the synced offset from the bytes it flushed
// from the block being filled, not from blocks that filled up in between, so the promise
// lags the true synced offset (by about 4 KiB per filled block in our tests). Damage within
// that lag of the WAL's end still reads as a torn tail. Sstables and the manifest carry
// pebble's own checksums, checked on every read.
package embedded
