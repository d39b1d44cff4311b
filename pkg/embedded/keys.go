package embedded

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
)

// Key layout (see docs/formats/embedded.md). Every key starts with a one-byte kind; names
// are followed by a 0x00 separator (topic names, aggregate types and ids never contain
// 0x00); numbers are big-endian so that byte order is numeric order.
//
//	'm' "config"                                   store metadata (JSON)
//	'e' topic 0x00 partition(u32) offset(u64)      event record
//	'o' topic 0x00 partition(u32)                  next offset of a topic-partition (u64)
//	'h' type 0x00 id                               stream head
//	'r', 'c'                                       reserved: read models, checkpoints
const (
	kindMeta   byte = 'm'
	kindEvent  byte = 'e'
	kindOffset byte = 'o'
	kindHead   byte = 'h'
	sep        byte = 0x00
)

var metaKey = []byte{kindMeta, 'c', 'o', 'n', 'f', 'i', 'g'}

// topicPartitionPrefix is kind topic 0x00 partition.
func topicPartitionPrefix(dst []byte, kind byte, topic string, partition int32) []byte {
	dst = append(dst, kind)
	dst = append(dst, topic...)
	dst = append(dst, sep)
	return binary.BigEndian.AppendUint32(dst, uint32(partition))
}

func eventKey(dst []byte, topic string, partition int32, offset int64) []byte {
	dst = topicPartitionPrefix(dst, kindEvent, topic, partition)
	return binary.BigEndian.AppendUint64(dst, uint64(offset))
}

func offsetKey(topic string, partition int32) []byte {
	return topicPartitionPrefix(nil, kindOffset, topic, partition)
}

func headKey(dst []byte, aggType, aggID string) []byte {
	dst = append(dst, kindHead)
	dst = append(dst, aggType...)
	dst = append(dst, sep)
	return append(dst, aggID...)
}

// prefixEnd returns the smallest key greater than every key with the given prefix.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // every byte is 0xff: no upper bound
}

// splitTopicPartition parses kind topic 0x00 partition [rest]; ok is false if malformed.
func splitTopicPartition(key []byte) (topic string, partition int32, rest []byte, ok bool) {
	if len(key) < 1 {
		return "", 0, nil, false
	}
	i := bytes.IndexByte(key[1:], sep)
	if i < 0 || len(key) < 1+i+1+4 {
		return "", 0, nil, false
	}
	topic = string(key[1 : 1+i])
	p := binary.BigEndian.Uint32(key[1+i+1:])
	return topic, int32(p), key[1+i+1+4:], true
}

// parseEventKey returns the position an event key names.
func parseEventKey(key []byte) (topic string, partition int32, offset int64, ok bool) {
	topic, partition, rest, ok := splitTopicPartition(key)
	if !ok || key[0] != kindEvent || len(rest) != 8 {
		return "", 0, 0, false
	}
	return topic, partition, int64(binary.BigEndian.Uint64(rest)), true
}

// parseHeadKey returns the stream a head key names.
func parseHeadKey(key []byte) (aggType, aggID string, ok bool) {
	if len(key) < 1 || key[0] != kindHead {
		return "", "", false
	}
	i := bytes.IndexByte(key[1:], sep)
	if i < 0 {
		return "", "", false
	}
	return string(key[1 : 1+i]), string(key[2+i:]), true
}

// FormatKey renders a stored key for humans: "e/<topic>/<partition>/<offset>",
// "o/<topic>/<partition>", "h/<type>/<id>", or the bytes quoted.
func FormatKey(key []byte) string {
	if len(key) == 0 {
		return `""`
	}
	switch key[0] {
	case kindEvent:
		if t, p, o, ok := parseEventKey(key); ok {
			return fmt.Sprintf("e/%s/%d/%d", t, p, o)
		}
	case kindOffset:
		if t, p, rest, ok := splitTopicPartition(key); ok && len(rest) == 0 {
			return fmt.Sprintf("o/%s/%d", t, p)
		}
	case kindHead:
		if t, id, ok := parseHeadKey(key); ok {
			return "h/" + t + "/" + id
		}
	}
	return strconv.Quote(string(key))
}
