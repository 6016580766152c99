package admin_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
)

// TestBadInputWritesNothing sends every kind of bad request and checks the
// answer's status, type and field paths, then that the config table is
// exactly as it was: a refused request writes nothing, not even an audit
// record.
func TestBadInputWritesNothing(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if _, err := e.client.CreateCustomer(ctx, adminclient.CreateCustomerRequest{ID: "acme", Name: "Acme", AllowedModels: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	key, err := e.client.CreateKey(ctx, "acme", adminclient.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keyPath := "/admin/v1/keys/" + key.Key.ID
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"l":"customers","a":"NOT AN ID"}`))
	big := `{"name":"` + strings.Repeat("x", 70<<10) + `","allowed_models":["*"]}`
	valid := func(extra string) string { return `{"name":"N","allowed_models":["*"]` + extra + `}` }

	cases := []struct {
		name         string
		method, path string
		token        string // "" means the valid token; "-" none
		body         string
		status       int
		typ          string
		fields       []string
	}{
		{"missing token", "GET", "/admin/v1/customers", "-", "", 401, "unauthorized", nil},
		{"wrong token", "POST", "/admin/v1/customers", "not-the-token-at-all", valid(""), 401, "unauthorized", nil},
		{"data-plane key as admin token", "GET", "/admin/v1/customers", key.Secret, "", 401, "unauthorized", nil},
		{"missing name and models", "POST", "/admin/v1/customers", "", `{"id":"new"}`, 400, "invalid_request", []string{"allowed_models", "name"}},
		{"bad id", "POST", "/admin/v1/customers", "", `{"id":"Not_OK","name":"N","allowed_models":["*"]}`, 400, "invalid_request", []string{"id"}},
		{"limits out of range", "POST", "/admin/v1/customers", "", valid(`,"limits":{"requests_per_minute":-1,"tokens_per_minute":9000000000,"monthly_cost_budget_usd":1e12}`), 400, "invalid_request",
			[]string{"limits.monthly_cost_budget_usd", "limits.requests_per_minute", "limits.tokens_per_minute"}},
		{"bad model patterns", "POST", "/admin/v1/customers", "", `{"name":"N","allowed_models":["anthropic.*","a b","../x"]}`, 400, "invalid_request", []string{"allowed_models[1]", "allowed_models[2]"}},
		{"unknown fields", "POST", "/admin/v1/customers", "", valid(`,"nmae":"typo","limits":{"rpm":5},"Name":"case"`), 400, "invalid_request", []string{"Name", "limits.rpm", "nmae"}},
		{"wrong type", "POST", "/admin/v1/customers", "", valid(`,"limits":{"requests_per_minute":"many"}`), 400, "invalid_request", []string{"limits.requests_per_minute"}},
		{"fractional limit", "POST", "/admin/v1/customers", "", valid(`,"limits":{"tokens_per_minute":1.5}`), 400, "invalid_request", []string{"limits.tokens_per_minute"}},
		{"status deleted", "POST", "/admin/v1/customers", "", valid(`,"status":"deleted"`), 400, "invalid_request", []string{"status"}},
		{"bad tier and tag", "POST", "/admin/v1/customers", "", valid(`,"tier":"Gold Plus","tags":{"k":"a\u0001b"}`), 400, "invalid_request", []string{"tags.k", "tier"}},
		{"oversized body", "POST", "/admin/v1/customers", "", big, 413, "payload_too_large", nil},
		{"malformed JSON", "POST", "/admin/v1/customers", "", `{"name":`, 400, "invalid_request", nil},
		{"not an object", "POST", "/admin/v1/customers", "", `["name"]`, 400, "invalid_request", nil},
		{"trailing data", "POST", "/admin/v1/customers", "", valid("") + `{}`, 400, "invalid_request", nil},
		{"empty body", "POST", "/admin/v1/customers", "", "", 400, "invalid_request", nil},
		{"duplicate id", "POST", "/admin/v1/customers", "", `{"id":"acme","name":"N","allowed_models":["*"]}`, 409, "conflict", nil},
		{"put without version", "PUT", "/admin/v1/customers/acme", "", valid(""), 400, "invalid_request", []string{"version"}},
		{"put stale version", "PUT", "/admin/v1/customers/acme", "", valid(`,"version":7`), 409, "conflict", nil},
		{"put missing customer", "PUT", "/admin/v1/customers/ghost", "", valid(`,"version":1`), 404, "not_found", nil},
		{"patch bad limit", "PATCH", "/admin/v1/customers/acme", "", `{"limits":{"monthly_token_budget":-5},"version":1}`, 400, "invalid_request", []string{"limits.monthly_token_budget"}},
		{"patch bad id in path", "PATCH", "/admin/v1/customers/A!", "", `{"version":1}`, 400, "invalid_request", []string{"id"}},
		{"suspend unknown field", "POST", "/admin/v1/customers/acme/suspend", "", `{"versoin":1}`, 400, "invalid_request", []string{"versoin"}},
		{"delete bad version", "DELETE", "/admin/v1/customers/acme?version=x", "", "", 400, "invalid_request", []string{"version"}},
		{"delete stale version", "DELETE", "/admin/v1/customers/acme?version=9", "", "", 409, "conflict", nil},
		{"forged cursor", "GET", "/admin/v1/customers?cursor=" + forged, "", "", 400, "invalid_request", []string{"cursor"}},
		{"garbage cursor", "GET", "/admin/v1/customers?cursor=%25%25", "", "", 400, "invalid_request", []string{"cursor"}},
		{"limit too large", "GET", "/admin/v1/customers?limit=1001", "", "", 400, "invalid_request", []string{"limit"}},
		{"limit zero", "GET", "/admin/v1/customers?limit=0", "", "", 400, "invalid_request", []string{"limit"}},
		{"unknown query parameter", "GET", "/admin/v1/customers?stauts=active", "", "", 400, "invalid_request", []string{"stauts"}},
		{"bad status filter", "GET", "/admin/v1/customers?status=gone", "", "", 400, "invalid_request", []string{"status"}},
		{"key expiry in the past", "POST", "/admin/v1/customers/acme/keys", "", `{"expires_at":"2001-01-01T00:00:00Z"}`, 400, "invalid_request", []string{"expires_at"}},
		{"key expiry twice", "POST", "/admin/v1/customers/acme/keys", "", `{"expires_at":"2099-01-01T00:00:00Z","expires_in":"1d"}`, 400, "invalid_request", []string{"expires_in"}},
		{"key expiry not a duration", "POST", "/admin/v1/customers/acme/keys", "", `{"expires_in":"a fortnight"}`, 400, "invalid_request", []string{"expires_in"}},
		{"key expiry not a time", "POST", "/admin/v1/customers/acme/keys", "", `{"expires_at":"tomorrow"}`, 400, "invalid_request", []string{"expires_at"}},
		{"key for a missing customer", "POST", "/admin/v1/customers/ghost/keys", "", `{}`, 404, "not_found", nil},
		{"bad key id", "GET", "/admin/v1/keys/tg_notanid", "", "", 400, "invalid_request", []string{"key_id"}},
		{"missing key", "POST", "/admin/v1/keys/aaaaaaaaaaaaaaaa/revoke", "", "", 404, "not_found", nil},
		{"revoke with a body", "POST", keyPath + "/revoke", "", `{"now":true}`, 400, "invalid_request", []string{"now"}},
		{"rotate grace too long", "POST", keyPath + "/rotate", "", `{"grace_period":"365d"}`, 400, "invalid_request", []string{"grace_period"}},
		{"rotate negative grace", "POST", keyPath + "/rotate", "", `{"grace_period":"-1h"}`, 400, "invalid_request", []string{"grace_period"}},
		{"expiring without window", "GET", "/admin/v1/keys", "", "", 400, "invalid_request", []string{"expiring_within"}},
		{"expiring bad window", "GET", "/admin/v1/keys?expiring_within=soon", "", "", 400, "invalid_request", []string{"expiring_within"}},
		{"audit bad target", "GET", "/admin/v1/audit?target=acme", "", "", 400, "invalid_request", []string{"target"}},
		{"audit forged cursor", "GET", "/admin/v1/audit?cursor=" + forged, "", "", 400, "invalid_request", []string{"cursor"}},
		{"keys of a missing customer", "GET", "/admin/v1/customers/ghost/keys", "", "", 404, "not_found", nil},
	}
	before := e.snapshot(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := testToken
			switch tc.token {
			case "":
			case "-":
				tok = ""
			default:
				tok = tc.token
			}
			status, hdr, body := e.do(t, tc.method, tc.path, tok, tc.body)
			var eb errorBody
			if err := json.Unmarshal(body, &eb); err != nil {
				t.Fatalf("status %d, body not the error shape: %s", status, body)
			}
			if status != tc.status || eb.Type != tc.typ {
				t.Fatalf("got %d %s (%s), want %d %s", status, eb.Type, eb.Message, tc.status, tc.typ)
			}
			if eb.Message == "" || eb.RequestID == "" || eb.RequestID != hdr.Get("X-Tollgate-Request-Id") || hdr.Get("X-Amzn-ErrorType") == "" {
				t.Fatalf("incomplete error: %s, headers %v", body, hdr)
			}
			var fields []string
			for _, f := range eb.Fields {
				if f.Message == "" {
					t.Errorf("field %s has no message", f.Field)
				}
				fields = append(fields, f.Field)
			}
			slices.Sort(fields)
			if !slices.Equal(fields, tc.fields) {
				t.Fatalf("fields %v, want %v (%s)", fields, tc.fields, body)
			}
			if status == http.StatusUnauthorized && hdr.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	if after := e.snapshot(t); !slices.Equal(before, after) {
		t.Fatalf("refused requests changed the table: %d items before, %d after", len(before), len(after))
	}
	if strings.Contains(e.logText(), testToken) || strings.Contains(e.logText(), key.Secret) {
		t.Fatal("a token or key secret reached the log")
	}
}
