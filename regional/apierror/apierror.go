// Package apierror defines every error Tollgate itself returns to a client:
// one JSON shape, a stable machine-readable type, an actionable message, the
// request id, and an X-Amzn-ErrorType header naming the closest Bedrock
// exception so that AWS SDKs surface a typed error. It is the allowlist of
// user-facing errors (DESIGN.md invariants 8 and 9): anything that is not an
// *Error becomes a generic "internal" error and its details stay in the log.
package apierror

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// Type is the stable, machine-readable error type.
type Type string

// Error types. The list is part of the API: never rename one.
const (
	MissingKey          Type = "missing_key"
	InvalidKey          Type = "invalid_key"
	KeyRevoked          Type = "key_revoked"
	KeyExpired          Type = "key_expired"
	CustomerSuspended   Type = "customer_suspended"
	ModelNotAllowed     Type = "model_not_allowed"
	InvalidRequest      Type = "invalid_request"
	PayloadTooLarge     Type = "payload_too_large"
	UnknownOperation    Type = "unknown_operation"
	UpstreamUnavailable Type = "upstream_unavailable"
	UpstreamTimeout     Type = "upstream_timeout"
	Unavailable         Type = "unavailable"
	Internal            Type = "internal"
	RateLimited         Type = "rate_limited"
	BudgetExhausted     Type = "budget_exhausted"
	Unauthorized        Type = "unauthorized"
	NotFound            Type = "not_found"
	Conflict            Type = "conflict"
)

// kind is how a type maps onto HTTP and onto Bedrock's exceptions.
type kind struct {
	status int
	amzn   string
}

var kinds = map[Type]kind{
	MissingKey:          {http.StatusUnauthorized, "AccessDeniedException"},
	InvalidKey:          {http.StatusUnauthorized, "AccessDeniedException"},
	KeyRevoked:          {http.StatusUnauthorized, "AccessDeniedException"},
	KeyExpired:          {http.StatusUnauthorized, "AccessDeniedException"},
	CustomerSuspended:   {http.StatusForbidden, "AccessDeniedException"},
	ModelNotAllowed:     {http.StatusForbidden, "AccessDeniedException"},
	InvalidRequest:      {http.StatusBadRequest, "ValidationException"},
	PayloadTooLarge:     {http.StatusRequestEntityTooLarge, "ValidationException"},
	UnknownOperation:    {http.StatusNotFound, "UnknownOperationException"},
	UpstreamUnavailable: {http.StatusServiceUnavailable, "ServiceUnavailableException"},
	UpstreamTimeout:     {http.StatusGatewayTimeout, "ServiceUnavailableException"},
	Unavailable:         {http.StatusServiceUnavailable, "ServiceUnavailableException"},
	Internal:            {http.StatusInternalServerError, "InternalServerException"},
	RateLimited:         {http.StatusTooManyRequests, "ThrottlingException"},
	BudgetExhausted:     {http.StatusPaymentRequired, "ServiceQuotaExceededException"},
	Unauthorized:        {http.StatusUnauthorized, "AccessDeniedException"},
	NotFound:            {http.StatusNotFound, "ResourceNotFoundException"},
	Conflict:            {http.StatusConflict, "ConflictException"},
}

// FieldError names one invalid field of a request by its JSON path.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is a user-facing error.
type Error struct {
	Type    Type
	Message string
	// RetryAfter, when positive, is sent as Retry-After and
	// retry_after_seconds.
	RetryAfter int
	// Fields lists validation problems, for admin API requests.
	Fields []FieldError
}

func (e *Error) Error() string { return string(e.Type) + ": " + e.Message }

// New returns a user-facing error of type t.
func New(t Type, msg string) *Error { return &Error{Type: t, Message: msg} }

// Status is the HTTP status for the error's type.
func (e *Error) Status() int { return kinds[e.Type].status }

// AmznErrorType is the Bedrock exception name sent in X-Amzn-ErrorType.
func (e *Error) AmznErrorType() string { return kinds[e.Type].amzn }

// Body is the JSON shape of every Tollgate error.
type Body struct {
	Message           string       `json:"message"`
	Type              Type         `json:"type"`
	RequestID         string       `json:"request_id"`
	RetryAfterSeconds int          `json:"retry_after_seconds,omitempty"`
	Fields            []FieldError `json:"fields,omitempty"`
}

// From returns err as a user-facing error: err itself when it is (or wraps)
// an *Error, otherwise a generic internal error that reveals nothing.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return New(Internal, "Tollgate hit an internal error; retry, and if it persists report the request id to your administrator")
}

// Write sends err to the client. Use From first for errors of unknown
// origin.
func Write(w http.ResponseWriter, requestID string, e *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", e.AmznErrorType())
	h.Set("X-Amzn-RequestId", requestID)
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if e.Status() == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="tollgate"`)
	}
	w.WriteHeader(e.Status())
	_ = json.NewEncoder(w).Encode(Body{
		Message: e.Message, Type: e.Type, RequestID: requestID,
		RetryAfterSeconds: e.RetryAfter, Fields: e.Fields,
	})
}

// Types lists every error type, for tests and documentation.
func Types() []Type {
	out := make([]Type, 0, len(kinds))
	for t := range kinds {
		out = append(out, t)
	}
	return out
}

// NewRequestID returns a random 128-bit request id in hex: the id every
// Tollgate response and error body carries, on the data plane and the
// admin API alike.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
