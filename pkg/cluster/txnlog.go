package cluster

import (
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// txnLog is the kgo.Logger of a partition's producer. It forwards franz-go's warnings and
// errors to zap, and it watches which EndTxn request the client sends, because the return
// value of EndTransaction(TryCommit) does not say whether the transaction committed:
//
// franz-go 1.22.3 decides from its own per-partition state whether anything was produced in
// the transaction. When that state says nothing was, it turns a TryCommit into an EndTxn
// abort (under KIP-890 part 2), or into no request at all, and returns nil either way. Under
// fencing, TestStore_RaceUnderFencing saw it do so for a transaction whose produce had
// succeeded: the records got offsets, EndTransaction returned nil, and the transaction was
// aborted. Appends answered as committed were not in the log (I3), and later appends
// continued from their versions (I1).
//
// So Commit counts a transaction as committed only if the client logged, during its
// EndTransaction call, that it sent an EndTxn commit ("ending transaction" with commit
// true). If it logged an abort and EndTransaction returned nil, the broker accepted the
// abort: the group is not in the log, and Commit writes it once more in a new transaction
// of a new producer (partition.transact). Any other nil return is an unknown outcome, which
// Recover settles from the log. Should a franz-go upgrade rename that message, every commit
// becomes an unknown outcome: the tests then fail loudly, and nothing is acknowledged wrongly.
type txnLog struct {
	log *zap.Logger
	// ended is set to endCommit, endAbort or endOther by each "ending transaction"
	// message the client logs, and reset to endNone by Commit before EndTransaction.
	ended atomic.Int32
}

const (
	endNone   int32 = iota
	endCommit       // an EndTxn commit
	endAbort        // an EndTxn abort
	endOther        // an EndTxn whose kind the message did not say
)

func (l *txnLog) Level() kgo.LogLevel { return kgo.LogLevelInfo }

func (l *txnLog) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	if msg == "ending transaction" {
		// Only a value of the type franz-go logs counts; anything else is an EndTxn of
		// unknown kind (endOther), which Commit treats as an unknown outcome.
		end := endOther
		for i := 0; i+1 < len(keyvals); i += 2 {
			if k, _ := keyvals[i].(string); k == "commit" {
				if v, ok := keyvals[i+1].(kgo.TransactionEndTry); ok {
					end = endAbort
					if v == kgo.TryCommit {
						end = endCommit
					}
				}
			}
		}
		l.ended.Store(end)
	}
	if level > kgo.LogLevelWarn || level == kgo.LogLevelNone {
		return
	}
	fields := make([]zap.Field, 0, len(keyvals)/2)
	for i := 0; i+1 < len(keyvals); i += 2 {
		k, _ := keyvals[i].(string)
		fields = append(fields, zap.Any(k, keyvals[i+1]))
	}
	if level == kgo.LogLevelError {
		l.log.Error("kafka client: "+msg, fields...)
	} else {
		l.log.Warn("kafka client: "+msg, fields...)
	}
}

// begin forgets the EndTxn request of the previous transaction.
func (l *txnLog) begin() { l.ended.Store(endNone) }

// sentCommit reports whether the client sent an EndTxn commit since begin.
func (l *txnLog) sentCommit() bool { return l.ended.Load() == endCommit }

// sentAbort reports whether the client sent an EndTxn abort since begin.
func (l *txnLog) sentAbort() bool { return l.ended.Load() == endAbort }
