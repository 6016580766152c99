// Package rules is the one definition of every rule Tollgate enforces on
// identifiers, keys, model ids, limits and record schema versions. The data
// plane, the admin API, the CLI and the Terraform provider all call it, so a
// value accepted in one place is accepted everywhere (DESIGN.md invariant 7).
package rules

import (
	"errors"
	"fmt"
)

// Record schema versions. A record carries the version it was written with;
// readers accept every version up to the current one and refuse newer ones
// (written by a newer release during a rolling upgrade) instead of misreading
// them.
const (
	CustomerSchemaVersion = 1
	KeySchemaVersion      = 1
	UsageSchemaVersion    = 1
	AuditSchemaVersion    = 1
)

// ErrUnknownSchema is returned for a record written with a newer schema
// version than this binary knows.
var ErrUnknownSchema = errors.New("record schema version is newer than this release understands")

// CheckSchema reports whether a record of the given kind and version can be
// read by this release.
func CheckSchema(kind string, got, known int) error {
	if got < 1 || got > known {
		return fmt.Errorf("%s record has schema version %d, this release reads 1..%d: %w", kind, got, known, ErrUnknownSchema)
	}
	return nil
}

// Customer statuses.
const (
	CustomerActive    = "active"
	CustomerSuspended = "suspended"
	CustomerDeleted   = "deleted"
)

// Key statuses. Expiry is not a status: it is a time checked on every use.
const (
	KeyActive  = "active"
	KeyRevoked = "revoked"
)

// ValidCustomerStatus reports whether s is a customer status.
func ValidCustomerStatus(s string) bool {
	return s == CustomerActive || s == CustomerSuspended || s == CustomerDeleted
}

// MaxCustomerIDLen bounds customer ids; they appear in DynamoDB keys and
// metric labels.
const MaxCustomerIDLen = 63

// ValidateCustomerID checks the id syntax: 2 to 63 characters, lower-case
// letters, digits and '-', starting with a letter or digit.
func ValidateCustomerID(id string) error {
	if len(id) < 2 || len(id) > MaxCustomerIDLen {
		return fmt.Errorf("customer id must be 2 to %d characters, got %d", MaxCustomerIDLen, len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0:
		default:
			return fmt.Errorf("customer id %q: only lower-case letters, digits and '-' (not first) are allowed", id)
		}
	}
	return nil
}

// Limits are a customer's rate limits and budgets. Zero means "no limit".
type Limits struct {
	RequestsPerMinute    int64   `json:"requests_per_minute" dynamodbav:"rpm"`
	TokensPerMinute      int64   `json:"tokens_per_minute" dynamodbav:"tpm"`
	MonthlyTokenBudget   int64   `json:"monthly_token_budget" dynamodbav:"mtb"`
	MonthlyCostBudgetUSD float64 `json:"monthly_cost_budget_usd" dynamodbav:"mcb"`
}

// Limit ranges. Upper bounds are far above any real customer; they exist so
// that a typo (an extra three zeros) is refused instead of silently lifting a
// limit.
const (
	MaxRequestsPerMinute    = 1_000_000
	MaxTokensPerMinute      = 1_000_000_000
	MaxMonthlyTokenBudget   = 1_000_000_000_000_000
	MaxMonthlyCostBudgetUSD = 100_000_000
)

// FieldError is a validation problem with one field, named by its JSON path.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// ValidateLimits returns one FieldError per out-of-range limit, with paths
// under prefix (e.g. "limits").
func ValidateLimits(prefix string, l Limits) []FieldError {
	var errs []FieldError
	check := func(name string, v, maxV int64) {
		if v < 0 || v > maxV {
			errs = append(errs, FieldError{prefix + "." + name, fmt.Sprintf("must be between 0 (no limit) and %d, got %d", maxV, v)})
		}
	}
	check("requests_per_minute", l.RequestsPerMinute, MaxRequestsPerMinute)
	check("tokens_per_minute", l.TokensPerMinute, MaxTokensPerMinute)
	check("monthly_token_budget", l.MonthlyTokenBudget, MaxMonthlyTokenBudget)
	if l.MonthlyCostBudgetUSD < 0 || l.MonthlyCostBudgetUSD > MaxMonthlyCostBudgetUSD || l.MonthlyCostBudgetUSD != l.MonthlyCostBudgetUSD {
		errs = append(errs, FieldError{prefix + ".monthly_cost_budget_usd", fmt.Sprintf("must be between 0 (no limit) and %d", MaxMonthlyCostBudgetUSD)})
	}
	return errs
}
