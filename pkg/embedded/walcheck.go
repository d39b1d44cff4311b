package embedded

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// checkWALTail closes a gap in pebble's WAL recovery. Pebble replays the newest WAL up to
// its first invalid chunk. With WAL sync chunks (FormatWALSyncChunks) every chunk records
// how far the log had been synced when it was written, and pebble reads ahead to tell a
// torn tail (nothing after it claims a sync beyond it: drop it) from corruption (a later
// chunk does: refuse to open). But pebble reads ahead only from the next 32 KiB block on,
// so a bad chunk in the log's last block is taken for a torn tail and the acknowledged
// writes behind it in that block are silently dropped. checkWALTail scans the rest of that
// block too, with the same rule, before pebble opens the folder.
//
// It reads pebble's WAL chunk format (pebble/record): blocks of 32 KiB holding chunks with
// the header crc u32 | length u16 | type u8 | log number u32 | [synced offset u64], where
// crc is pebble's masked CRC32C of everything after the length field.
func checkWALTail(dir string) error {
	path, num, ok, err := newestWAL(dir)
	if err != nil || !ok {
		return err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("embedded: read %s: %w", path, err)
	}
	bad, found := firstBadChunk(b, uint32(num))
	if !found {
		return nil
	}
	if at, synced, ok := syncedBeyond(b, bad, uint32(num)); ok {
		return fmt.Errorf("WAL %s: invalid chunk at offset %d, but the chunk at offset %d says the log was synced to %d: "+
			"acknowledged writes were damaged", filepath.Base(path), bad, at, synced)
	}
	return nil
}

// WAL chunk format constants (pebble/record; part of pebble's wire format).
const (
	walBlockSize      = 32 << 10
	walLegacyHeader   = 7
	walRecycleHeader  = 11
	walSyncHeader     = 19
	walFirstRecycle   = 5 // chunk types 5..8 carry a log number
	walFirstSyncChunk = 9 // chunk types 9..12 also carry a synced offset
	walLastChunkType  = 12
)

// newestWAL returns the WAL with the highest number: the one pebble was writing last.
func newestWAL(dir string) (path string, num uint64, ok bool, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return "", 0, false, nil
		}
		return "", 0, false, err
	}
	for _, de := range entries {
		name, isLog := strings.CutSuffix(de.Name(), ".log")
		n, perr := strconv.ParseUint(name, 10, 64)
		if !isLog || perr != nil || (ok && n <= num) {
			continue
		}
		path, num, ok = filepath.Join(dir, de.Name()), n, true
	}
	return path, num, ok, nil
}

// firstBadChunk walks the chunks of a WAL as pebble's reader does and returns the offset of
// the first one that is not valid; found is false when the log ends cleanly (its EOF
// trailer, or the end of the file).
func firstBadChunk(b []byte, logNum uint32) (offset int, found bool) {
	pos := 0
	for pos < len(b) {
		blockEnd := min((pos/walBlockSize+1)*walBlockSize, len(b))
		if blockEnd-pos < walRecycleHeader {
			pos = blockEnd // the writer zero-fills a block's tail too short for a header
			continue
		}
		length, typ := int(binary.LittleEndian.Uint16(b[pos+4:])), b[pos+6]
		if typ == 0 && length == 0 && blockEnd-pos < walSyncHeader && allZero(b[pos:blockEnd]) {
			pos = blockEnd // ... or too short for a sync chunk's header
			continue
		}
		header := walLegacyHeader
		switch {
		case typ == 0 || typ > walLastChunkType:
			return pos, true
		case typ >= walFirstSyncChunk:
			header = walSyncHeader
		case typ >= walFirstRecycle:
			header = walRecycleHeader
		}
		if header > walLegacyHeader {
			if n := binary.LittleEndian.Uint32(b[pos+7:]); n == logNum+1 {
				return 0, false // EOF trailer: the log was closed cleanly
			} else if n != logNum {
				return pos, true // left over from a recycled log
			}
		}
		end := pos + header + length
		if end > blockEnd || walChecksum(b[pos+6:end]) != binary.LittleEndian.Uint32(b[pos:]) {
			return pos, true
		}
		pos = end
	}
	return 0, false
}

// syncedBeyond looks, at every byte offset after bad, for a valid sync chunk of this log
// that promises the log was synced past bad.
func syncedBeyond(b []byte, bad int, logNum uint32) (at int, synced uint64, ok bool) {
	for p := bad + 1; p+walSyncHeader <= len(b); p++ {
		typ := b[p+6]
		if typ < walFirstSyncChunk || typ > walLastChunkType || binary.LittleEndian.Uint32(b[p+7:]) != logNum {
			continue
		}
		end := p + walSyncHeader + int(binary.LittleEndian.Uint16(b[p+4:]))
		blockEnd := min((p/walBlockSize+1)*walBlockSize, len(b))
		if end > blockEnd || walChecksum(b[p+6:end]) != binary.LittleEndian.Uint32(b[p:]) {
			continue
		}
		if s := binary.LittleEndian.Uint64(b[p+11:]); s > uint64(bad) {
			return p, s, true
		}
	}
	return 0, 0, false
}

// walChecksum is pebble's masked CRC32C (pebble/internal/crc).
func walChecksum(b []byte) uint32 {
	c := crc32.Checksum(b, castagnoli)
	return (c>>15 | c<<17) + 0xa282ead8
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
