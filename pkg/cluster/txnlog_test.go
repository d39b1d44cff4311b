package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/strata-platform/strata/pkg/testrig"
)

func TestTxnLog_Ending(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	l := &txnLog{log: zap.New(core)}
	steps := []struct {
		msg  string
		kv   []any
		want bool
	}{
		{"beginning transaction", []any{"transactional_id", "x"}, false},
		{"ending transaction", []any{"transactional_id", "x", "commit", kgo.TryCommit, "epoch", int16(3)}, true},
		{"end transaction response successfully received", []any{"commit", kgo.TryCommit}, true},
		{"ending transaction", []any{"commit", kgo.TryAbort}, false},
		{"ending transaction", []any{"commit", true}, false}, // not the type franz-go logs: neither
		{"ending transaction", []any{"commit"}, false},
	}
	for _, s := range steps {
		l.Log(kgo.LogLevelInfo, s.msg, s.kv...)
		if got := l.sentCommit(); got != s.want {
			t.Errorf("after %q %v: sentCommit = %v, want %v", s.msg, s.kv, got, s.want)
		}
		if l.sentCommit() && l.sentAbort() {
			t.Errorf("after %q %v: both a commit and an abort", s.msg, s.kv)
		}
	}
	if l.sentAbort() {
		t.Error("an ending transaction without a commit value taken for an abort")
	}
	l.Log(kgo.LogLevelInfo, "ending transaction", "commit", kgo.TryAbort)
	if !l.sentAbort() {
		t.Error("an ending transaction with commit false not taken for an abort")
	}
	l.Log(kgo.LogLevelInfo, "ending transaction", "commit", kgo.TryCommit)
	l.begin()
	if l.sentCommit() || l.sentAbort() {
		t.Error("an EndTxn request remembered after begin")
	}
	l.Log(kgo.LogLevelWarn, "something odd", "broker", 1)
	l.Log(kgo.LogLevelError, "something bad")
	l.Log(kgo.LogLevelDebug, "chatter")
	if got := logs.Len(); got != 2 {
		t.Errorf("forwarded %d entries to zap, want the warning and the error", got)
	}
}

// TestTxnLog_RealClient checks, against the real broker, that the franz-go version we build
// with logs the EndTxn request txnLog relies on: a commit is seen as one, an abort is not.
// If an upgrade renames the message, this test says so before every commit turns into an
// unknown outcome.
func TestTxnLog_RealClient(t *testing.T) {
	a := testrig.Get(t)
	name := testrig.Name(t, "txnlog")
	testrig.CreateTopic(t, name, 1, nil)
	l := &txnLog{log: zap.NewNop()}
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.Kafka...), kgo.TransactionalID(name), kgo.WithLogger(l),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, end := range []kgo.TransactionEndTry{kgo.TryCommit, kgo.TryAbort, kgo.TryCommit} {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: name, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		l.begin()
		if err := cl.EndTransaction(ctx, end); err != nil {
			t.Fatal(err)
		}
		if got := l.sentCommit(); got != bool(end) {
			t.Errorf("EndTransaction(%v): sentCommit = %v", end, got)
		}
		if got := l.sentAbort(); got == bool(end) {
			t.Errorf("EndTransaction(%v): sentAbort = %v", end, got)
		}
	}
}
