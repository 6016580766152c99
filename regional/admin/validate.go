package admin

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/regional/apierror"
)

// Bounds on free-text customer and key fields. Identifiers, model
// patterns and limits are checked by internal/rules; these bounds only
// keep records small and printable. They would move to internal/rules as
// soon as another component (the Terraform provider) checks them too.
// fieldErrors collects validation problems by JSON path.
type fieldErrors []apierror.FieldError

func (f *fieldErrors) add(field, format string, args ...any) {
	*f = append(*f, apierror.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// err returns the collected problems as one invalid_request error, or nil.
func (f fieldErrors) err(what string) error {
	if len(f) == 0 {
		return nil
	}
	return &apierror.Error{Type: apierror.InvalidRequest, Message: what + " is invalid; see fields", Fields: f}
}

// text checks a free-text field: valid UTF-8, no control characters, at
// most max bytes; required fields must not be empty.
func (f *fieldErrors) text(field, v string, max int, required bool) {
	switch {
	case v == "" && required:
		f.add(field, "is required")
	case len(v) > max:
		f.add(field, "must be at most %d bytes, got %d", max, len(v))
	case !utf8.ValidString(v):
		f.add(field, "must be valid UTF-8")
	default:
		for _, r := range v {
			if unicode.IsControl(r) {
				f.add(field, "must not contain control characters")
				return
			}
		}
	}
}

// tier checks a tier name: like a customer id, but may be empty.
func (f *fieldErrors) tier(v string) {
	if v == "" {
		return
	}
	if len(v) > rules.MaxTierLen {
		f.add("tier", "must be at most %d characters", rules.MaxTierLen)
		return
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			f.add("tier", "only lower-case letters, digits, '-' and '_' are allowed")
			return
		}
	}
}

// settableStatus checks a status a request may set; deletion has its own
// operation.
func (f *fieldErrors) settableStatus(v string) {
	switch v {
	case "", rules.CustomerActive, rules.CustomerSuspended:
	case rules.CustomerDeleted:
		f.add("status", "cannot be set to deleted: use DELETE /admin/v1/customers/{id}")
	default:
		f.add("status", "must be %q or %q, got %q", rules.CustomerActive, rules.CustomerSuspended, v)
	}
}

func (f *fieldErrors) models(ms []string, required bool) {
	if ms == nil && required {
		f.add("allowed_models", `is required: list the model patterns the customer may call, e.g. ["anthropic.*"] or ["*"]; [] allows none`)
		return
	}
	if len(ms) > rules.MaxModelPatterns {
		f.add("allowed_models", "must have at most %d patterns, got %d", rules.MaxModelPatterns, len(ms))
		return
	}
	for i, p := range ms {
		if err := rules.ValidateModelPattern(p); err != nil {
			f.add("allowed_models["+strconv.Itoa(i)+"]", "%v", err)
		}
	}
}

func (f *fieldErrors) limits(l rules.Limits) {
	for _, e := range rules.ValidateLimits("limits", l) {
		f.add(e.Field, "%s", e.Message)
	}
}

func (f *fieldErrors) tags(tags map[string]string) {
	if len(tags) > rules.MaxTags {
		f.add("tags", "must have at most %d entries, got %d", rules.MaxTags, len(tags))
		return
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		v := tags[k]
		if k == "" || len(k) > rules.MaxTagKeyLen {
			f.add("tags", "keys must be 1 to %d bytes", rules.MaxTagKeyLen)
			continue
		}
		f.text("tags."+k, k, rules.MaxTagKeyLen, true)
		f.text("tags."+k, v, rules.MaxTagValueLen, false)
	}
}

// customerID checks an id given in a request path or body.
// customerFields checks the fields a create and a replace share, and
// returns the limits to store (absent limits: none).
func (f *fieldErrors) customerFields(name, contact, status, tier string, models []string, limits *rules.Limits, tags map[string]string) rules.Limits {
	f.text("name", name, rules.MaxNameLen, true)
	f.text("contact", contact, rules.MaxContactLen, false)
	f.settableStatus(status)
	f.tier(tier)
	f.models(models, true)
	var l rules.Limits
	if limits != nil {
		l = *limits
	}
	f.limits(l)
	f.tags(tags)
	return l
}

func (f *fieldErrors) customerID(field, id string) {
	if err := rules.ValidateCustomerID(id); err != nil {
		f.add(field, "%v", err)
	}
}

// version checks the version an update is based on.
func (f *fieldErrors) version(v int64) {
	if v < 1 {
		f.add("version", "is required: send the version you read (GET the customer first); it guards against overwriting a concurrent change")
	}
}
