package proxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/regional/auth"
	"github.com/tollgate-dev/tollgate/regional/metering"
)

// oneKey is an auth.Source holding one customer and key.
type oneKey struct {
	k *store.Key
	c *store.Customer
}

func (o oneKey) GetKey(context.Context, string, bool) (*store.Key, error)           { return o.k, nil }
func (o oneKey) GetCustomer(context.Context, string, bool) (*store.Customer, error) { return o.c, nil }

// cannedUpstream answers every call with the same Converse body.
type cannedUpstream struct{ body []byte }

func (u cannedUpstream) Do(context.Context, *Call) (*http.Response, string, error) {
	return &http.Response{
		StatusCode: 200,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(bytes.NewReader(u.body)),
	}, "us-east-1", nil
}

type nopRecorder struct{}

func (nopRecorder) Record(context.Context, metering.Event) error { return nil }

// BenchmarkMiddlewareChain measures Tollgate's own per-request work on the
// data plane (request id, routing, key check on a cache hit, model check,
// body read and JSON validation, usage extraction, access log, metrics)
// with an in-memory upstream and recorder, so no network or disk is timed.
func BenchmarkMiddlewareChain(b *testing.B) {
	secret, k, err := store.NewKey("acme", "", nil)
	if err != nil {
		b.Fatal(err)
	}
	src := oneKey{k: k, c: &store.Customer{ID: "acme", Status: rules.CustomerActive, AllowedModels: []string{"anthropic.*"}}}
	h := WithRequestID(New(Config{
		Region:   "us-east-1",
		Upstream: cannedUpstream{body: []byte(`{"output":{"message":{"role":"assistant","content":[{"text":"tok1 tok2"}]}},"stopReason":"end_turn","usage":{"inputTokens":12,"outputTokens":2,"totalTokens":14},"metrics":{"latencyMs":3}}`)},
		Auth:     auth.NewCache(src, auth.Config{}),
		Meter:    nopRecorder{},
	}))
	body := []byte(`{"messages":[{"role":"user","content":[{"text":"hello there, how are you"}]}],"inferenceConfig":{"maxTokens":64}}`)
	path := "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
	// One request and recorder, reset per iteration, so that only the
	// handler's own work is measured, not the test's request building.
	req := httptest.NewRequest(http.MethodPost, path, nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = int64(len(body))
	rd := bytes.NewReader(body)
	rec := &resetRecorder{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rd.Reset(body)
		req.Body = io.NopCloser(rd)
		rec.reset()
		h.ServeHTTP(rec, req)
		if rec.code != 200 {
			b.Fatalf("status %d", rec.code)
		}
	}
}

// resetRecorder is a reusable ResponseWriter that keeps the status only.
type resetRecorder struct {
	h    http.Header
	code int
}

func (r *resetRecorder) reset() {
	if r.h == nil {
		r.h = http.Header{}
	}
	clear(r.h)
	r.code = 0
}
func (r *resetRecorder) Header() http.Header { return r.h }
func (r *resetRecorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return len(p), nil
}
func (r *resetRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
