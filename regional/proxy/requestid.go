package proxy

import (
	"context"
	"net/http"

	"github.com/tollgate-dev/tollgate/regional/apierror"
)

type requestIDKey struct{}

// WithRequestID gives every request an id (in its context and in the
// X-Tollgate-Request-Id response header). A client-sent id is never
// trusted: it would let callers forge log correlation.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := apierror.NewRequestID()
		w.Header().Set("X-Tollgate-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// RequestIDFrom returns the request id set by WithRequestID, or a new one.
func RequestIDFrom(ctx context.Context) string {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok {
		return id
	}
	return apierror.NewRequestID()
}
