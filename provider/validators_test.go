package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

func TestStringValidators(t *testing.T) {
	tests := []struct {
		name  string
		v     validator.String
		value types.String
		want  string // substring of the error; "" means valid
	}{
		{"customer id ok", customerID(), types.StringValue("acme-1"), ""},
		{"customer id upper", customerID(), types.StringValue("Acme"), "only lower-case"},
		{"customer id short", customerID(), types.StringValue("a"), "2 to 63"},
		{"customer id leading dash", customerID(), types.StringValue("-acme"), "only lower-case"},
		{"customer id null", customerID(), types.StringNull(), ""},
		{"customer id unknown", customerID(), types.StringUnknown(), ""},
		{"pattern star", modelPattern(), types.StringValue("*"), ""},
		{"pattern prefix", modelPattern(), types.StringValue("anthropic.*"), ""},
		{"pattern dots", modelPattern(), types.StringValue("anthropic..x"), `".."`},
		{"pattern space", modelPattern(), types.StringValue("a b"), "character Bedrock does not allow"},
		{"tier ok", tier(), types.StringValue("gold_2"), ""},
		{"tier upper", tier(), types.StringValue("Gold"), "only lower-case"},
		{"tier long", tier(), types.StringValue(strings.Repeat("a", 33)), "1 to 32"},
		{"name ok", text("name", 200), types.StringValue("Acme Corp é"), ""},
		{"name empty", text("name", 200), types.StringValue(""), "must not be empty"},
		{"name long", text("name", 200), types.StringValue(strings.Repeat("x", 201)), "at most 200 bytes"},
		{"name control", text("name", 200), types.StringValue("a\nb"), "control characters"},
		{"lifetime days", keyLifetime(), types.StringValue("90d"), ""},
		{"lifetime hours", keyLifetime(), types.StringValue("720h"), ""},
		{"lifetime max", keyLifetime(), types.StringValue("3650d"), ""},
		{"lifetime too long", keyLifetime(), types.StringValue("3651d"), "at most 3650d"},
		{"lifetime zero", keyLifetime(), types.StringValue("0s"), "positive"},
		{"lifetime negative", keyLifetime(), types.StringValue("-1h"), "negative"},
		{"lifetime garbage", keyLifetime(), types.StringValue("1 week"), "want a Go duration"},
		{"time ok", rfc3339(), types.StringValue("2027-01-31T00:00:00Z"), ""},
		{"time offset", rfc3339(), types.StringValue("2027-01-31T01:00:00+01:00"), ""},
		{"time date only", rfc3339(), types.StringValue("2027-01-31"), "RFC 3339"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp validator.StringResponse
			tt.v.ValidateString(context.Background(), validator.StringRequest{Path: path.Root("x"), ConfigValue: tt.value}, &resp)
			checkDiags(t, resp.Diagnostics.Errors(), tt.want)
		})
	}
}

type diagsLike interface {
	Summary() string
	Detail() string
}

func checkDiags[D diagsLike](t *testing.T, errs []D, want string) {
	t.Helper()
	if want == "" {
		if len(errs) > 0 {
			t.Fatalf("unexpected error: %s: %s", errs[0].Summary(), errs[0].Detail())
		}
		return
	}
	if len(errs) == 0 {
		t.Fatalf("no error, want %q", want)
	}
	var all []string
	for _, e := range errs {
		all = append(all, e.Summary()+": "+e.Detail())
	}
	if got := strings.Join(all, "\n"); !strings.Contains(got, want) {
		t.Fatalf("error %q, want %q", got, want)
	}
}

func limitsObject(rpm, tpm, mtb int64, usd float64) types.Object {
	return types.ObjectValueMust(limitsAttrTypes, map[string]attr.Value{
		"requests_per_minute":     types.Int64Value(rpm),
		"tokens_per_minute":       types.Int64Value(tpm),
		"monthly_token_budget":    types.Int64Value(mtb),
		"monthly_cost_budget_usd": types.Float64Value(usd),
	})
}

func TestLimitsValidator(t *testing.T) {
	partlyUnknown := types.ObjectValueMust(limitsAttrTypes, map[string]attr.Value{
		"requests_per_minute":     types.Int64Unknown(),
		"tokens_per_minute":       types.Int64Value(-1),
		"monthly_token_budget":    types.Int64Null(),
		"monthly_cost_budget_usd": types.Float64Value(1),
	})
	tests := []struct {
		name     string
		value    types.Object
		want     string
		wantPath string
	}{
		{"zeros", limitsObject(0, 0, 0, 0), "", ""},
		{"maxima", limitsObject(1_000_000, 1_000_000_000, 1_000_000_000_000_000, 100_000_000), "", ""},
		{"rpm", limitsObject(1_000_001, 0, 0, 0), "requests_per_minute must be between 0 (no limit) and 1000000", "limits.requests_per_minute"},
		{"negative budget", limitsObject(0, 0, -5, 0), "monthly_token_budget must be between", "limits.monthly_token_budget"},
		{"usd", limitsObject(0, 0, 0, 100_000_001), "monthly_cost_budget_usd must be between", "limits.monthly_cost_budget_usd"},
		{"unknown parts", partlyUnknown, "tokens_per_minute", "limits.tokens_per_minute"},
		{"null", types.ObjectNull(limitsAttrTypes), "", ""},
		{"unknown", types.ObjectUnknown(limitsAttrTypes), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp validator.ObjectResponse
			limitsValidator{}.ValidateObject(context.Background(), validator.ObjectRequest{Path: path.Root("limits"), ConfigValue: tt.value}, &resp)
			errs := resp.Diagnostics.Errors()
			checkDiags(t, errs, tt.want)
			if tt.wantPath != "" {
				if len(errs) != 1 {
					t.Fatalf("%d errors, want 1", len(errs))
				}
				pd, ok := errs[0].(interface{ Path() path.Path })
				if !ok || pd.Path().String() != tt.wantPath {
					t.Fatalf("error not on %s: %v", tt.wantPath, errs[0])
				}
			}
		})
	}
}

func TestTagsValidator(t *testing.T) {
	many := map[string]string{}
	for i := range 51 {
		many[strings.Repeat("k", i+1)] = "v"
	}
	tests := []struct {
		name string
		tags map[string]string
		want string
	}{
		{"ok", map[string]string{"team": "ml", "empty": ""}, ""},
		{"too many", many, "at most 50 tags"},
		{"long key", map[string]string{strings.Repeat("k", 129): "v"}, "at most 128 bytes"},
		{"long value", map[string]string{"k": strings.Repeat("v", 257)}, "at most 256 bytes"},
		{"empty key", map[string]string{"": "v"}, "must not be empty"},
		{"control", map[string]string{"k": "a\tb"}, "control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, d := types.MapValueFrom(context.Background(), types.StringType, tt.tags)
			if d.HasError() {
				t.Fatal(d)
			}
			var resp validator.MapResponse
			tagsValidator{}.ValidateMap(context.Background(), validator.MapRequest{Path: path.Root("tags"), ConfigValue: m}, &resp)
			checkDiags(t, resp.Diagnostics.Errors(), tt.want)
		})
	}
}
