package provider

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/rules"
)

// Plan-time validators. Each one calls internal/rules (or applies the
// admin API's documented bound from it), so a value the admin API would
// refuse fails `terraform plan` with the same message instead of failing
// half-way through an apply. Unknown and null values are left to the API.

// maxKeyLifetime is the admin API's bound on expires_at and expires_in.
const maxKeyLifetime = 3650 * 24 * time.Hour

var (
	_ validator.String = stringCheck{}
	_ validator.Object = limitsValidator{}
	_ validator.Map    = tagsValidator{}
)

// stringCheck adapts a check function to validator.String.
type stringCheck struct {
	desc  string
	check func(string) error
}

func (v stringCheck) Description(context.Context) string         { return v.desc }
func (v stringCheck) MarkdownDescription(context.Context) string { return v.desc }

func (v stringCheck) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.check(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+v.desc, err.Error())
	}
}

// customerID checks a customer id with rules.ValidateCustomerID.
func customerID() validator.String {
	return stringCheck{desc: "customer id", check: rules.ValidateCustomerID}
}

// modelPattern checks an allowed-model pattern with
// rules.ValidateModelPattern.
func modelPattern() validator.String {
	return stringCheck{desc: "model pattern", check: rules.ValidateModelPattern}
}

// tier checks a tier name as the admin API does: at most rules.MaxTierLen
// lower-case letters, digits, '-' and '_'.
func tier() validator.String {
	return stringCheck{desc: "tier", check: func(s string) error {
		if s == "" || len(s) > rules.MaxTierLen {
			return fmt.Errorf("tier must be 1 to %d characters, got %d", rules.MaxTierLen, len(s))
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("tier %q: only lower-case letters, digits, '-' and '_' are allowed", s)
			}
		}
		return nil
	}}
}

// text checks a free-text field as the admin API does: 1 to max bytes of
// UTF-8 without control characters. Empty values are refused because the
// API does not tell an empty value from an absent one: leave the
// attribute out instead.
func text(what string, max int) validator.String {
	return stringCheck{desc: what, check: func(s string) error { return checkText(what, s, max, true) }}
}

func checkText(what, s string, max int, required bool) error {
	switch {
	case s == "" && required:
		return fmt.Errorf("%s must not be empty; leave the attribute out instead", what)
	case len(s) > max:
		return fmt.Errorf("%s must be at most %d bytes, got %d", what, max, len(s))
	case !utf8.ValidString(s):
		return fmt.Errorf("%s must be valid UTF-8", what)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s must not contain control characters", what)
		}
	}
	return nil
}

// keyLifetime checks expires_in with adminclient.ParseDuration, the parser
// the admin API uses: positive and at most 3650 days.
func keyLifetime() validator.String {
	return stringCheck{desc: "key lifetime", check: func(s string) error {
		d, err := adminclient.ParseDuration(s)
		switch {
		case err != nil:
			return err
		case d <= 0:
			return fmt.Errorf("expires_in must be positive, got %q", s)
		case d > maxKeyLifetime:
			return fmt.Errorf("expires_in must be at most 3650d, got %q; leave expiry out for a key that does not expire", s)
		}
		return nil
	}}
}

// rfc3339 checks a time in RFC 3339 syntax ("2027-01-31T00:00:00Z").
// Whether it lies in the future is the API's to check at creation: a plan
// made today must not fail tomorrow for a key that exists.
func rfc3339() validator.String {
	return stringCheck{desc: "RFC 3339 time", check: func(s string) error {
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Errorf("want an RFC 3339 time such as 2027-01-31T00:00:00Z, got %q", s)
		}
		return nil
	}}
}

// limitsValidator checks the limits object with rules.ValidateLimits and
// reports each out-of-range limit on its own attribute.
type limitsValidator struct{}

func (limitsValidator) Description(context.Context) string {
	return "limits must be within internal/rules' ranges (0 means no limit)"
}

func (v limitsValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (limitsValidator) ValidateObject(_ context.Context, req validator.ObjectRequest, resp *validator.ObjectResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	attrs := req.ConfigValue.Attributes()
	l := rules.Limits{
		RequestsPerMinute:    int64Attr(attrs["requests_per_minute"]),
		TokensPerMinute:      int64Attr(attrs["tokens_per_minute"]),
		MonthlyTokenBudget:   int64Attr(attrs["monthly_token_budget"]),
		MonthlyCostBudgetUSD: float64Attr(attrs["monthly_cost_budget_usd"]),
	}
	for _, fe := range rules.ValidateLimits("", l) {
		name := fe.Field[1:] // "" prefix leaves a leading '.'
		resp.Diagnostics.AddAttributeError(req.Path.AtName(name), "Invalid limit", name+" "+fe.Message)
	}
}

// int64Attr is an object attribute's value; null or unknown count as 0
// (no limit), which is always valid.
func int64Attr(v attr.Value) int64 {
	if i, ok := v.(types.Int64); ok {
		return i.ValueInt64()
	}
	return 0
}

func float64Attr(v attr.Value) float64 {
	if f, ok := v.(types.Float64); ok {
		return f.ValueFloat64()
	}
	return 0
}

// tagsValidator checks tags as the admin API does: at most rules.MaxTags
// entries, keys 1 to rules.MaxTagKeyLen bytes, values at most
// rules.MaxTagValueLen, printable UTF-8.
type tagsValidator struct{}

func (tagsValidator) Description(context.Context) string {
	return fmt.Sprintf("at most %d tags, keys of 1 to %d bytes, values of at most %d bytes", rules.MaxTags, rules.MaxTagKeyLen, rules.MaxTagValueLen)
}

func (v tagsValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (tagsValidator) ValidateMap(_ context.Context, req validator.MapRequest, resp *validator.MapResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	elems := req.ConfigValue.Elements()
	if len(elems) > rules.MaxTags {
		resp.Diagnostics.AddAttributeError(req.Path, "Too many tags", fmt.Sprintf("at most %d tags are allowed, got %d", rules.MaxTags, len(elems)))
		return
	}
	for _, k := range slices.Sorted(maps.Keys(elems)) {
		p := req.Path.AtMapKey(k)
		if err := checkText("tag key", k, rules.MaxTagKeyLen, true); err != nil {
			resp.Diagnostics.AddAttributeError(p, "Invalid tag key", err.Error())
		}
		s, ok := elems[k].(types.String)
		if !ok || s.IsNull() || s.IsUnknown() {
			continue
		}
		if err := checkText("tag value", s.ValueString(), rules.MaxTagValueLen, false); err != nil {
			resp.Diagnostics.AddAttributeError(p, "Invalid tag value", err.Error())
		}
	}
}
