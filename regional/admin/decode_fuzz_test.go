package admin

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/regional/apierror"
)

// FuzzDecodeBody feeds arbitrary bodies to the admin API's request decoder:
// it must never panic, and every refusal must be a user-facing
// invalid_request or payload_too_large error.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"id":"acme","name":"Acme","allowed_models":["anthropic.*"],"limits":{"requests_per_minute":600}}`,
		`{"limits":{"requests_per_minute":"600"}}`,
		`{"name":"x","extra":{"nested":1}}`,
		`[]`, `null`, `{`, ``, `{"tags":{"a":1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []any{&adminclient.CreateCustomerRequest{}, &adminclient.PatchCustomerRequest{}} {
			r := httptest.NewRequest("POST", "/admin/v1/customers", bytes.NewReader(body))
			err := decodeBody(r, v, 4096, false)
			if err == nil {
				continue
			}
			var e *apierror.Error
			if !errors.As(err, &e) || (e.Type != apierror.InvalidRequest && e.Type != apierror.PayloadTooLarge) {
				t.Fatalf("body %q: error %v is not a user-facing refusal", body, err)
			}
		}
	})
}
