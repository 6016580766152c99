// Package admin is Tollgate's admin API (/admin/v1): customers, API keys
// and the audit log, as JSON over HTTP on a listener of its own. Every
// region serves it against its own DynamoDB replica; every change is a
// single conditional write (optimistic concurrency on the record's
// version) followed by an audit record. docs/admin-api.md is the guide,
// docs/openapi/admin-v1.yaml the reference, and internal/adminclient the Go
// client whose types the handlers decode and encode.
package admin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/tollgate-dev/tollgate/internal/store"
)

// Store is the storage the admin API uses; *store.Store implements it.
type Store interface {
	GetCustomer(ctx context.Context, id string, consistent bool) (*store.Customer, error)
	PutCustomer(ctx context.Context, c *store.Customer) error
	ListCustomers(ctx context.Context, f store.CustomerFilter, o store.ListOptions) ([]store.Customer, string, error)
	DeleteCustomer(ctx context.Context, id string, version int64) (*store.CustomerDeletion, error)
	GetKey(ctx context.Context, id string, consistent bool) (*store.Key, error)
	PutKey(ctx context.Context, k *store.Key) error
	EnsureKeyRevoked(ctx context.Context, id string) (*store.Key, bool, error)
	ListKeys(ctx context.Context, customerID string, o store.ListOptions) ([]store.Key, string, error)
	ExpiringKeys(ctx context.Context, now, until time.Time, o store.ListOptions) ([]store.Key, string, error)
	PutAudit(ctx context.Context, r *store.AuditRecord) error
	ListAudit(ctx context.Context, f store.AuditFilter, o store.ListOptions) ([]store.AuditRecord, string, error)
}

// Config configures a Handler. Store and Tokens are required; every other
// zero value means the documented default.
type Config struct {
	Store Store
	// Tokens are the accepted admin tokens (see ParseTokens).
	Tokens []Token
	// Region is recorded in audit records; default "".
	Region string
	// Logger receives one line per request (never a token, a key or a
	// body) and every internal error; default: no logging.
	Logger zerolog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// WriteTimeout bounds the DynamoDB work of one change, which runs to
	// completion even if the client goes away, so that a change is never
	// left without its audit record; 0 means 30 seconds.
	WriteTimeout time.Duration
	// Registerer receives the admin API's metrics; nil means none.
	Registerer prometheus.Registerer
	// OnChange, when set, is called after every change with the target
	// ("customer" or "key"), its id and the customer it concerns. The
	// regional process uses it to drop the changed key or customer from
	// its own key cache, so a revocation or suspension made through this
	// region takes effect here at once (other regions within the cache
	// TTL).
	OnChange func(targetType, targetID, customerID string)
}

// Handler serves the admin API.
type Handler struct {
	cfg     Config
	mux     *http.ServeMux
	handler http.Handler
	metrics *metrics
}

// New returns the admin API handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil {
		return nil, errors.New("admin: Config.Store is required")
	}
	if len(cfg.Tokens) == 0 {
		return nil, errors.New("admin: at least one admin token is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 30 * time.Second
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	var err error
	if h.metrics, err = newMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	for _, rt := range h.routes() {
		h.mux.Handle(rt.Method+" "+rt.Path, h.endpoint(rt))
	}
	// Middleware, outermost first: the request id comes first so that
	// every later log line and error carries it; the access log next, so
	// that it sees every outcome, a recovered panic included; then panic
	// recovery; authentication before routing, so that an unauthenticated
	// caller learns nothing, not even which paths exist.
	h.handler = withRequestID(h.accessLog(h.recoverer(h.authenticate(http.HandlerFunc(h.route)))))
	return h, nil
}

// ServeHTTP serves one admin API request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.handler.ServeHTTP(w, r) }

// Route is one operation of the admin API: an HTTP method and a path
// pattern in OpenAPI syntax ("/admin/v1/customers/{id}").
type Route struct {
	Method, Path string
}

// route is a Route with its implementation.
type route struct {
	Route
	// mutates marks changes, which run detached from the client's
	// cancellation.
	mutates bool
	do      func(*call) (status int, body any, err error)
}

func (h *Handler) routes() []route {
	get := func(p string, f func(*call) (int, any, error)) route {
		return route{Route: Route{http.MethodGet, p}, do: f}
	}
	change := func(m, p string, f func(*call) (int, any, error)) route {
		return route{Route: Route{m, p}, mutates: true, do: f}
	}
	const v1 = "/admin/v1"
	return []route{
		change(http.MethodPost, v1+"/customers", h.createCustomer),
		get(v1+"/customers", h.listCustomers),
		get(v1+"/customers/{id}", h.getCustomer),
		change(http.MethodPut, v1+"/customers/{id}", h.putCustomer),
		change(http.MethodPatch, v1+"/customers/{id}", h.patchCustomer),
		change(http.MethodDelete, v1+"/customers/{id}", h.deleteCustomer),
		change(http.MethodPost, v1+"/customers/{id}/suspend", h.suspendCustomer),
		change(http.MethodPost, v1+"/customers/{id}/reactivate", h.reactivateCustomer),
		change(http.MethodPost, v1+"/customers/{id}/keys", h.createKey),
		get(v1+"/customers/{id}/keys", h.listCustomerKeys),
		get(v1+"/keys", h.expiringKeys),
		get(v1+"/keys/{key_id}", h.getKey),
		change(http.MethodPost, v1+"/keys/{key_id}/revoke", h.revokeKey),
		change(http.MethodPost, v1+"/keys/{key_id}/rotate", h.rotateKey),
		get(v1+"/audit", h.listAudit),
	}
}

// Routes lists every operation the admin API serves, in a stable order.
// The OpenAPI document is tested against it.
func Routes() []Route {
	var out []Route
	for _, rt := range (&Handler{}).routes() {
		out = append(out, rt.Route)
	}
	return out
}
