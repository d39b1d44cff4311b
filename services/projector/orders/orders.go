// Package orders is the example projection over the sample order domain (schemas/order):
// one summary document per order, built with projection.Fold. It shows a projector author
// everything they write: a state type, a fold over the event types, and a Projection value
// that `strata projector` (or projector.Run) serves alongside the built-ins.
package orders

import (
	"encoding/json"
	"fmt"

	"github.com/strata-platform/strata/pkg/projection"
)

// Summary is the read model of one order.
type Summary struct {
	Status     string `json:"status"` // placed, paid, cancelled
	CustomerID string `json:"customerId"`
	Currency   string `json:"currency"`
	Items      int    `json:"items"` // units over all lines
	Total      int64  `json:"total"` // minor units
}

type lineItem struct {
	Quantity  int   `json:"quantity"`
	UnitPrice int64 `json:"unitPrice"`
}

// Apply folds one order event into the summary.
func Apply(s Summary, env *projection.Envelope) (Summary, error) {
	switch env.Event.Type() {
	case "com.example.order.placed":
		var d struct {
			CustomerID string     `json:"customerId"`
			Currency   string     `json:"currency"`
			Items      []lineItem `json:"items"`
		}
		if err := json.Unmarshal(env.Event.Data(), &d); err != nil {
			return s, fmt.Errorf("order placed: %w", err)
		}
		s = Summary{Status: "placed", CustomerID: d.CustomerID, Currency: d.Currency}
		for _, it := range d.Items {
			s.Items += it.Quantity
			s.Total += int64(it.Quantity) * it.UnitPrice
		}
	case "com.example.order.item-added":
		var it lineItem
		if err := json.Unmarshal(env.Event.Data(), &it); err != nil {
			return s, fmt.Errorf("item added: %w", err)
		}
		s.Items += it.Quantity
		s.Total += int64(it.Quantity) * it.UnitPrice
	case "com.example.order.paid":
		s.Status = "paid"
	case "com.example.order.cancelled":
		s.Status = "cancelled"
	}
	return s, nil
}

// Projection is the order summaries read model, keyspace "order-summaries.v<version>".
func Projection(version int) projection.Projection {
	return projection.Projection{Name: "order-summaries", Version: version, Types: []string{"order"},
		Handler: projection.Fold(Apply)}
}
