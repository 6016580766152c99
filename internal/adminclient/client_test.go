package adminclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestClientRequestsAndErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("authorization header %q", r.Header.Get("Authorization"))
		}
		switch {
		case r.URL.Path == "/admin/v1/customers" && r.Method == http.MethodGet:
			// Three pages of one customer each, chained by cursor.
			n := len(r.URL.Query().Get("cursor"))
			p := CustomerPage{Customers: []Customer{{ID: fmt.Sprint("c", n)}}}
			if n < 2 {
				p.NextCursor = strings.Repeat("x", n+1)
			}
			_ = json.NewEncoder(w).Encode(p)
		case r.URL.EscapedPath() == "/admin/v1/customers/a%2Fb":
			w.Header().Set("X-Tollgate-Request-Id", "rid")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"message":"bad","type":"invalid_request","request_id":"rid","fields":[{"field":"id","message":"nope"}]}`))
		default:
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>proxy error</html>"))
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL+"/", "tok", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for cu, err := range c.Customers(t.Context(), ListCustomersOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, cu.ID)
	}
	if strings.Join(ids, ",") != "c0,c1,c2" {
		t.Fatalf("walked %v", ids)
	}

	_, err = c.GetCustomer(t.Context(), "a/b")
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != 400 || e.Type != "invalid_request" || e.RequestID != "rid" || len(e.Fields) != 1 || !IsType(err, "invalid_request") {
		t.Fatalf("API error: %#v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "id: nope") || !strings.Contains(msg, "request id rid") {
		t.Fatalf("message %q", msg)
	}
	_, err = c.GetKey(t.Context(), "k")
	if !errors.As(err, &e) || e.StatusCode != 502 || e.Type != "" || !strings.Contains(e.Error(), "HTTP 502: <html>proxy error</html>") {
		t.Fatalf("non-JSON error: %v", err)
	}

	for _, bad := range []string{"", "ftp://x", "http://", "127.0.0.1:9443"} {
		if _, err := New(bad, "tok", Options{}); err == nil {
			t.Errorf("New(%q) accepted", bad)
		}
	}
	if _, err := New(srv.URL, "", Options{}); err == nil {
		t.Error("empty token accepted")
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{"30d": 30 * 24 * time.Hour, "0d": 0, "720h": 720 * time.Hour, "90s": 90 * time.Second, "1h30m": 90 * time.Minute}
	for s, want := range good {
		if got, err := ParseDuration(s); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "d", "1.5d", "-1d", "+1d", "01d", "-5m", "soon", "999999999d"} {
		if _, err := ParseDuration(s); err == nil {
			t.Errorf("ParseDuration(%q) accepted", s)
		}
	}
}
