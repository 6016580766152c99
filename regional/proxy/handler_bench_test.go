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
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
