package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/regional/apierror"
)

// Routing, the run of one operation, and how its errors reach the client.

var allMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// route dispatches to the operation, and answers requests that match none
// in the API's error shape: an unknown path, or a known path with a method
// it does not serve (with an Allow header).
func (h *Handler) route(w http.ResponseWriter, r *http.Request) {
	if _, pattern := h.mux.Handler(r); pattern != "" {
		h.mux.ServeHTTP(w, r)
		return
	}
	ri := infoFrom(r.Context())
	var allowed []string
	for _, m := range allMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := h.mux.Handler(probe); p != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		apierror.Write(w, ri.id, apierror.New(apierror.UnknownOperation,
			fmt.Sprintf("%s is not an operation on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allowed, ", "))))
		return
	}
	apierror.Write(w, ri.id, apierror.New(apierror.UnknownOperation,
		fmt.Sprintf("no admin API operation at %s %s; see docs/admin-api.md", r.Method, r.URL.Path)))
}

// call is one admin API request as an operation sees it.
type call struct {
	// ctx is the request's context, detached from the client for changes.
	ctx  context.Context
	r    *http.Request
	w    http.ResponseWriter
	h    *Handler
	info *reqInfo
	// now is the request's time, one value for every record it writes.
	now time.Time
	// auditSeq numbers the audit records this request writes.
	auditSeq int
}

// header is the response's header, for operations that add to it.
func (c *call) header() http.Header { return c.w.Header() }

// endpoint runs one operation and writes its answer.
func (h *Handler) endpoint(rt route) http.Handler {
	name := rt.Method + " " + rt.Path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := infoFrom(r.Context())
		ri.route = name
		ctx := r.Context()
		if rt.mutates {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), h.cfg.WriteTimeout)
			defer cancel()
		}
		c := &call{ctx: ctx, r: r, w: w, h: h, info: ri, now: h.cfg.Now().UTC()}
		status, body, err := rt.do(c)
		if err != nil {
			h.writeError(w, ri, err)
			return
		}
		hdr := w.Header()
		hdr.Set("Content-Type", "application/json")
		// Answers may hold a key's secret; none is worth caching.
		hdr.Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	})
}

// writeError sends err in the API's error shape. Errors that are not the
// client's are logged with the request id; the client sees only a generic
// message.
func (h *Handler) writeError(w http.ResponseWriter, ri *reqInfo, err error) {
	e := toAPIError(err)
	if e.Type == apierror.Internal || e.Type == apierror.Unavailable {
		h.cfg.Logger.Error().Err(err).Str("request_id", ri.id).Str("route", ri.route).Msg("admin request failed")
	}
	apierror.Write(w, ri.id, e)
}

// toAPIError maps an error to what a client may see: user-facing errors as
// they are, the store's sentinels to their types, anything else to a
// generic internal error.
func toAPIError(err error) *apierror.Error {
	var e *apierror.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, store.ErrBadCursor):
		return &apierror.Error{Type: apierror.InvalidRequest, Message: "invalid cursor",
			Fields: []apierror.FieldError{{Field: "cursor", Message: "pass back the next_cursor of the previous page unchanged"}}}
	case errors.Is(err, store.ErrVersionConflict):
		return apierror.New(apierror.Conflict, "the record was changed concurrently; read it again, reapply your change and retry")
	case errors.Is(err, rules.ErrUnknownSchema):
		return apierror.New(apierror.Unavailable, "a record involved was written by a newer Tollgate release than the one serving this region; retry once the upgrade has reached this region")
	case errors.Is(err, context.DeadlineExceeded):
		return apierror.New(apierror.Unavailable, "the configuration store did not answer in time; retry (a change may have been applied: read the record before retrying it)")
	}
	return apierror.From(err)
}

// errNotFound is the answer for a missing customer or key.
func errNotFound(what, id string) error {
	return apierror.New(apierror.NotFound, fmt.Sprintf("%s %q not found", what, id))
}

// errConflict is a 409 with a message.
func errConflict(format string, args ...any) error {
	return apierror.New(apierror.Conflict, fmt.Sprintf(format, args...))
}

// staleVersion is the answer when an update is based on an old version.
func staleVersion(what, id string, sent, stored int64) error {
	return errConflict("%s %q is at version %d, the request was based on version %d: read it again, reapply your change and retry", what, id, stored, sent)
}
