package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/strata-platform/strata/pkg/appender"
	"github.com/strata-platform/strata/pkg/stream"
)

// Router says which instance writes a stream's partition.
type Router interface {
	// Route returns "" when this instance writes the stream's partition, else the address
	// (host:port) of the instance that does. It may wait briefly while ownership moves; it
	// returns an error wrapping appender.ErrNotOwner when no owner is known in time.
	Route(ctx context.Context, s stream.ID) (addr string, err error)
}

// ForwardedHeader marks a request forwarded by another instance: it is never forwarded
// again (one hop), so a request that reaches a non-owner twice gets 503 and Retry-After.
const ForwardedHeader = "Strata-Forwarded-By"

// CodeNotOwner and CodeOutcomeUnknown are the 503 codes of ownership moves.
const (
	CodeNotOwner       = "not_owner"       // nothing written; retry (after Retry-After)
	CodeOutcomeUnknown = "outcome_unknown" // may have committed; retry with the same event ids
)

// OwnerRouter routes by partition ownership: a partition this instance owns is served
// here; any other goes to the address its owner recorded. While a partition has no owner
// elsewhere (it is moving, maybe to this instance), it asks again every 50ms for Wait.
type OwnerRouter struct {
	Partitions int
	Self       string                                           // this instance's recorded address
	Owns       func(p int) bool                                 // this instance writes p
	Owner      func(ctx context.Context, p int) (string, error) // the address p's owner recorded
	Wait       time.Duration                                    // default 3s
}

// Route implements Router.
func (o OwnerRouter) Route(ctx context.Context, s stream.ID) (string, error) {
	p := stream.PartitionFor(s.ID, o.Partitions)
	wait := o.Wait
	if wait == 0 {
		wait = 3 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		if o.Owns(p) {
			return "", nil
		}
		addr, err := o.Owner(ctx, p)
		if err == nil && addr != "" && addr != o.Self {
			return addr, nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return "", fmt.Errorf("%w: owner of partition %d: %v", appender.ErrUnavailable, p, err)
			}
			return "", fmt.Errorf("%w: partition %d has no owner now", appender.ErrNotOwner, p)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// newForwardClient keeps connections to the other instances open: every forwarded request
// would otherwise pay a TCP handshake (net/http keeps only 2 idle connections per host).
func newForwardClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 256
	return &http.Client{Transport: tr}
}

// bufferBody reads the request body (up to the API's limit plus one byte, so that the
// decoder still reports an oversized body) so that it can be decoded here or forwarded.
func (s *Server) bufferBody(r *http.Request) ([]byte, error) {
	limit := int64(s.cfg.Limits.MaxBodyBytes)
	if limit <= 0 {
		limit = 1 << 20
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// routed serves the request elsewhere if another instance writes sid's partition. It
// returns true when the request has been answered.
func (s *Server) routed(w http.ResponseWriter, r *http.Request, sid stream.ID, body []byte, notOwner error) bool {
	if s.cfg.Router == nil {
		return false
	}
	if notOwner == nil && r.Header.Get(ForwardedHeader) != "" {
		return false // forwarded to us: serve here or fail, never forward again
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	addr, err := s.cfg.Router.Route(ctx, sid)
	if err == nil && addr == "" && notOwner == nil {
		return false
	}
	if err == nil && addr == "" {
		err = notOwner // we were the owner a moment ago and are not now
	}
	if err == nil && r.Header.Get(ForwardedHeader) != "" {
		err = fmt.Errorf("%w: forwarded here, but %s owns the partition now", appender.ErrNotOwner, addr)
	}
	if err != nil {
		writeProblem(w, problemFor(err))
		return true
	}
	s.forward(ctx, w, r, addr, body)
	return true
}

// forward sends the request to addr and copies its answer back.
func (s *Server) forward(ctx context.Context, w http.ResponseWriter, r *http.Request, addr string, body []byte) {
	req, err := http.NewRequestWithContext(ctx, r.Method, "http://"+addr+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		writeProblem(w, problemFor(err))
		return
	}
	req.Header = r.Header.Clone()
	req.Header.Set(ForwardedHeader, s.cfg.Self)
	resp, err := s.client.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" || r.Method == http.MethodGet {
			writeProblem(w, Problem{Status: http.StatusServiceUnavailable, Code: CodeUnavailable,
				Detail: fmt.Sprintf("the partition's owner at %s cannot be reached: %v", addr, err)})
			return
		}
		writeProblem(w, Problem{Status: http.StatusServiceUnavailable, Code: CodeOutcomeUnknown,
			Detail: fmt.Sprintf("forwarding to the partition's owner at %s failed: %v; retry with the same event ids", addr, err)})
		return
	}
	defer resp.Body.Close()
	for h, vs := range resp.Header {
		switch h {
		case "Content-Length", "Connection", "Transfer-Encoding", "Keep-Alive", "Date":
			continue // hop-by-hop, or set by our own server
		}
		w.Header()[h] = vs
	}
	w.Header().Set("Strata-Served-By", addr)
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}
