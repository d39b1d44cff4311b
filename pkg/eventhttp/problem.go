package eventhttp

import "github.com/strata-platform/strata/pkg/schema"

// Problem is the body of every refusal of Strata's HTTP API: an RFC 9457 problem details
// object (application/problem+json) with Strata's stable reason in Code. The server writes
// it (services/command) and the Go client reads it (pkg/client); this is their one
// definition of the wire format.
type Problem struct {
	Type           string             `json:"type"`
	Title          string             `json:"title"`
	Status         int                `json:"status"`
	Detail         string             `json:"detail,omitempty"`
	Code           string             `json:"code"`
	Attribute      string             `json:"attribute,omitempty"`
	Index          *int               `json:"index,omitempty"`
	CurrentVersion *int64             `json:"current_version,omitempty"`
	Violations     []schema.Violation `json:"violations,omitempty"`
}
