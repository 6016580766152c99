package admin

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/tollgate-dev/tollgate/regional/apierror"
)

// reqInfo is what the middleware learns about a request, shared through
// its context: set by the outer layers, completed by the inner ones, read
// by the access log.
type reqInfo struct {
	id    string
	actor string
	// route is the pattern of the operation, set once routed.
	route string
}

type infoKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	if ri, ok := ctx.Value(infoKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{id: apierror.NewRequestID()}
}

// withRequestID gives every request an id, in its context and in the
// X-Tollgate-Request-Id header as on the data plane. A client-sent id is
// never trusted: audit records carry it.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := &reqInfo{id: apierror.NewRequestID()}
		w.Header().Set("X-Tollgate-Request-Id", ri.id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), infoKey{}, ri)))
	})
}

// recoverer turns a panic into a typed internal error.
func (h *Handler) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				ri := infoFrom(r.Context())
				h.cfg.Logger.Error().Interface("panic", v).Str("request_id", ri.id).Msg("panic in admin request")
				apierror.Write(w, ri.id, apierror.From(fmt.Errorf("panic: %v", v)))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// accessLog writes one line per request and counts it. It logs the route
// pattern, never the path's query, a body or a header.
func (h *Handler) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		ri := infoFrom(r.Context())
		route := ri.route
		if route == "" {
			route = "unmatched"
		}
		h.metrics.observe(route, sw.status)
		h.cfg.Logger.Info().Str("request_id", ri.id).Str("method", r.Method).Str("route", route).
			Int("status", sw.status).Str("actor", ri.actor).Dur("duration", time.Since(start)).Msg("admin request")
	})
}

// authenticate refuses requests without an accepted admin token and
// records the actor of the others.
func (h *Handler) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := infoFrom(r.Context())
		hdr := r.Header.Get("Authorization")
		if hdr == "" {
			apierror.Write(w, ri.id, apierror.New(apierror.Unauthorized, "no admin token: send 'Authorization: Bearer <admin token>'"))
			return
		}
		actor, ok := authenticate(h.cfg.Tokens, hdr)
		if !ok {
			apierror.Write(w, ri.id, apierror.New(apierror.Unauthorized, "admin token not accepted: check that it is one of the tokens whose SHA-256 this region lists in --admin-token-hashes"))
			return
		}
		ri.actor = actor
		next.ServeHTTP(w, r)
	})
}
