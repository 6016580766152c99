package adminclient

import (
	"time"

	"github.com/tollgate-dev/tollgate/internal/rules"
)

// The admin API's wire types. The server (regional/admin) decodes requests
// into and encodes responses from these very types, so the two cannot
// drift; docs/openapi/admin-v1.yaml describes the same shapes.

// Customer is a customer as the admin API returns it.
type Customer struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	Contact       string            `json:"contact,omitempty"`
	Status        string            `json:"status"`
	Tier          string            `json:"tier,omitempty"`
	AllowedModels []string          `json:"allowed_models"`
	Limits        rules.Limits      `json:"limits"`
	Tags          map[string]string `json:"tags,omitempty"`
	// Version increases by one with every change; send it back with an
	// update so that a concurrent change is detected (409 conflict).
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CreateCustomerRequest is the body of POST /admin/v1/customers.
type CreateCustomerRequest struct {
	// ID is generated ("cus-" and 12 random characters) when empty.
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
	// Contact is free text, typically an e-mail address.
	Contact string `json:"contact,omitempty"`
	// Status is active (the default) or suspended.
	Status string `json:"status,omitempty"`
	Tier   string `json:"tier,omitempty"`
	// AllowedModels is required: the model patterns the customer may
	// call ("anthropic.*", or "*" for every model). An empty list allows
	// nothing. It is never omitted so that an empty list is sent as [].
	AllowedModels []string `json:"allowed_models"`
	// Limits default to zero, which means no limit.
	Limits *rules.Limits     `json:"limits,omitempty"`
	Tags   map[string]string `json:"tags,omitempty"`
}

// UpdateCustomerRequest is the body of PUT /admin/v1/customers/{id}: it
// replaces every mutable field (an absent field becomes empty or zero).
type UpdateCustomerRequest struct {
	Name          string            `json:"name"`
	Contact       string            `json:"contact,omitempty"`
	Status        string            `json:"status,omitempty"`
	Tier          string            `json:"tier,omitempty"`
	AllowedModels []string          `json:"allowed_models"`
	Limits        *rules.Limits     `json:"limits,omitempty"`
	Tags          map[string]string `json:"tags,omitempty"`
	// Version is the version read; required.
	Version int64 `json:"version"`
}

// PatchCustomerRequest is the body of PATCH /admin/v1/customers/{id}: only
// the fields present change.
type PatchCustomerRequest struct {
	Name          *string            `json:"name,omitempty"`
	Contact       *string            `json:"contact,omitempty"`
	Status        *string            `json:"status,omitempty"`
	Tier          *string            `json:"tier,omitempty"`
	AllowedModels *[]string          `json:"allowed_models,omitempty"`
	Limits        *LimitsPatch       `json:"limits,omitempty"`
	Tags          *map[string]string `json:"tags,omitempty"`
	// Version is the version read; required.
	Version int64 `json:"version"`
}

// LimitsPatch changes some limits and keeps the others.
type LimitsPatch struct {
	RequestsPerMinute    *int64   `json:"requests_per_minute,omitempty"`
	TokensPerMinute      *int64   `json:"tokens_per_minute,omitempty"`
	MonthlyTokenBudget   *int64   `json:"monthly_token_budget,omitempty"`
	MonthlyCostBudgetUSD *float64 `json:"monthly_cost_budget_usd,omitempty"`
}

// VersionRequest is the optional body of suspend and reactivate: with a
// version, the change applies only to that version.
type VersionRequest struct {
	Version int64 `json:"version,omitempty"`
}

// CustomerPage is one page of GET /admin/v1/customers.
type CustomerPage struct {
	Customers []Customer `json:"customers"`
	// NextCursor continues the listing; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Key is an API key record. Neither the secret nor its hash is ever
// returned after creation.
type Key struct {
	ID         string `json:"id"`
	CustomerID string `json:"customer_id"`
	// Prefix ("tg_<id>") and Last4 identify the key to people.
	Prefix      string     `json:"prefix"`
	Last4       string     `json:"last4"`
	Status      string     `json:"status"`
	Description string     `json:"description,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	// ReplacedBy is the id of the key that replaced this one in a
	// rotation.
	ReplacedBy string    `json:"replaced_by,omitempty"`
	Version    int64     `json:"version"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// CreateKeyRequest is the body of POST /admin/v1/customers/{id}/keys. At
// most one of ExpiresAt and ExpiresIn may be set; with neither, the key
// does not expire.
type CreateKeyRequest struct {
	Description string `json:"description,omitempty"`
	// ExpiresAt is an RFC 3339 time in the future.
	ExpiresAt string `json:"expires_at,omitempty"`
	// ExpiresIn is a duration from now: Go syntax ("720h") or days ("30d").
	ExpiresIn string `json:"expires_in,omitempty"`
}

// CreatedKey is the answer to a key creation: the secret, shown this once,
// and the record.
type CreatedKey struct {
	Secret string `json:"secret"`
	Key    Key    `json:"key"`
}

// RotateKeyRequest is the optional body of POST /admin/v1/keys/{id}/rotate.
type RotateKeyRequest struct {
	// GracePeriod is how long the old key keeps working ("24h", "7d");
	// empty means DefaultGracePeriod, "0s" ends it at once.
	GracePeriod string `json:"grace_period,omitempty"`
	// Description of the new key; empty means the old key's.
	Description string `json:"description,omitempty"`
}

// DefaultGracePeriod is the grace period of a rotation that names none.
const DefaultGracePeriod = 24 * time.Hour

// RotatedKey is the answer to a rotation: the new key's secret (shown this
// once) and record, and the old key as updated.
type RotatedKey struct {
	Secret   string `json:"secret"`
	Key      Key    `json:"key"`
	Previous Key    `json:"previous"`
}

// KeyPage is one page of a key listing.
type KeyPage struct {
	Keys       []Key  `json:"keys"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// AuditRecord is one change made through the admin API.
type AuditRecord struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// Actor names the admin token used: its configured name, or the first
	// 8 hex digits of its SHA-256.
	Actor      string `json:"actor"`
	Action     string `json:"action"`
	TargetType string `json:"target_type"`
	TargetID   string `json:"target_id"`
	CustomerID string `json:"customer_id,omitempty"`
	OldVersion int64  `json:"old_version"`
	NewVersion int64  `json:"new_version"`
	RequestID  string `json:"request_id"`
	Region     string `json:"region,omitempty"`
}

// AuditPage is one page of GET /admin/v1/audit.
type AuditPage struct {
	Records    []AuditRecord `json:"records"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// Audit actions.
const (
	ActionCustomerCreate     = "customer.create"
	ActionCustomerUpdate     = "customer.update"
	ActionCustomerSuspend    = "customer.suspend"
	ActionCustomerReactivate = "customer.reactivate"
	ActionCustomerDelete     = "customer.delete"
	ActionKeyCreate          = "key.create"
	ActionKeyRevoke          = "key.revoke"
	ActionKeyRotate          = "key.rotate"
)
