package schema

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-platform/strata/pkg/event"
)

// repoDir is the repository's schemas folder, with the sample order domain.
var repoDir = filepath.Join("..", "..", "schemas")

// Valid data for the sample order schemas.
const (
	placedOK = `{"orderId":"o-1001","customerId":"c-42","currency":"EUR",` +
		`"items":[{"sku":"SKU-1","name":"Mug","quantity":2,"unitPrice":1250}],` +
		`"shippingAddress":{"line1":"1 Rue de la Paix","city":"Lyon","postalCode":"69001","country":"FR"},` +
		`"placedAt":"2025-11-26T09:45:00Z"}`
	itemAddedOK = `{"orderId":"o-1001","item":{"sku":"SKU-2","quantity":1,"unitPrice":499},"addedAt":"2025-11-26T09:46:00+01:00"}`
	paidCardOK  = `{"orderId":"o-1001","paymentId":"pay_81","amount":2999,"currency":"EUR","method":"card",` +
		`"cardLast4":"4242","paidAt":"2025-11-26T09:50:00Z"}`
	paidTransferOK = `{"orderId":"o-1001","paymentId":"pay_82","amount":2999,"currency":"EUR","method":"bank_transfer",` +
		`"paidAt":"2025-11-26T09:50:00Z"}`
	cancelledOK = `{"orderId":"o-1001","reason":"other","note":"duplicate order","cancelledBy":"staff",` +
		`"cancelledAt":"2025-11-26T10:00:00Z"}`
)

const (
	typePlaced    = "com.example.order.placed"
	typeItemAdded = "com.example.order.item-added"
	typePaid      = "com.example.order.paid"
	typeCancelled = "com.example.order.cancelled"
)

func loadRepo(tb testing.TB, require bool) *Registry {
	tb.Helper()
	r, err := Load(Config{Dir: repoDir, Require: require})
	if err != nil {
		tb.Fatalf("Load(%s): %v", repoDir, err)
	}
	return r
}

// evOpt adjusts an event built by newEvent.
type evOpt func(*event.Event)

func withDataSchema(u string) evOpt { return func(e *event.Event) { e.SetDataSchema(u) } }

func withContentType(ct string) evOpt { return func(e *event.Event) { e.SetDataContentType(ct) } }

// newEvent builds a valid CloudEvent of type typ; data "" means no data, otherwise it is
// set as application/json.
func newEvent(tb testing.TB, typ, data string, opts ...evOpt) *event.Event {
	tb.Helper()
	e := event.New()
	e.SetID("e-1")
	e.SetSource("/tests/schema")
	e.SetType(typ)
	if data != "" {
		if err := e.SetData("application/json", []byte(data)); err != nil {
			tb.Fatal(err)
		}
	}
	for _, o := range opts {
		o(&e)
	}
	if err := event.Validate(&e, event.Limits{}); err != nil {
		tb.Fatalf("test event is invalid: %v", err)
	}
	return &e
}

// writeTree writes files (slash paths relative to a new temporary folder) and returns it.
func writeTree(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	for rel, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}
