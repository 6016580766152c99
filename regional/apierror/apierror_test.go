package apierror

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEveryTypeHasAStatusAndException(t *testing.T) {
	for _, typ := range Types() {
		e := New(typ, "m")
		if e.Status() < 400 || e.Status() > 599 {
			t.Errorf("%s: status %d", typ, e.Status())
		}
		if !strings.HasSuffix(e.AmznErrorType(), "Exception") {
			t.Errorf("%s: X-Amzn-ErrorType %q", typ, e.AmznErrorType())
		}
	}
}

func TestWrite(t *testing.T) {
	rec := httptest.NewRecorder()
	Write(rec, "rid", &Error{Type: RateLimited, Message: "slow down", RetryAfter: 3})
	if rec.Code != 429 || rec.Header().Get("X-Amzn-ErrorType") != "ThrottlingException" || rec.Header().Get("Retry-After") != "3" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	var b Body
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	if b.Message != "slow down" || b.Type != RateLimited || b.RequestID != "rid" || b.RetryAfterSeconds != 3 || b.Fields != nil {
		t.Fatalf("%+v", b)
	}
}

func TestFromHidesInternalDetails(t *testing.T) {
	e := From(fmt.Errorf("dial tcp 10.0.0.7:443: secret detail"))
	if e.Type != Internal || strings.Contains(e.Message, "10.0.0.7") || e.Status() != 500 {
		t.Fatalf("%+v", e)
	}
	wrapped := fmt.Errorf("outer: %w", New(KeyExpired, "expired"))
	if got := From(wrapped); got.Type != KeyExpired {
		t.Fatalf("wrapped user-facing error lost: %+v", got)
	}
}
