package admin_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/rules"
)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestKeys(t *testing.T) {
	clk := &clock{}
	clk.set(time.Now().Truncate(time.Second))
	e := newEnv(t, envOptions{now: clk.now})
	ctx := context.Background()
	c := e.client
	if _, err := c.CreateCustomer(ctx, adminclient.CreateCustomerRequest{ID: "acme", Name: "Acme", AllowedModels: []string{"*"}}); err != nil {
		t.Fatal(err)
	}

	created, err := c.CreateKey(ctx, "acme", adminclient.CreateKeyRequest{Description: "ci", ExpiresIn: "30d"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := rules.ParseKey(created.Secret)
	if err != nil || id != created.Key.ID || created.Key.Prefix != "tg_"+id {
		t.Fatalf("secret %q does not parse to key %q: %v", created.Secret, created.Key.ID, err)
	}
	if created.Key.ExpiresAt == nil || !created.Key.ExpiresAt.Equal(clk.now().Add(30*24*time.Hour)) {
		t.Fatalf("expires_at %v", created.Key.ExpiresAt)
	}
	stored, _ := e.store.GetKey(ctx, id, true)
	if h, _ := stored.HashBytes(); !h.Equal(rules.HashKey(created.Secret)) {
		t.Fatal("the stored hash is not the secret's")
	}

	// Reading a key never shows its secret or hash.
	status, hdr, body := e.do(t, http.MethodGet, "/admin/v1/keys/"+id, testToken, "")
	if status != 200 || strings.Contains(string(body), created.Secret[len(created.Secret)-20:]) || strings.Contains(string(body), stored.Hash) || strings.Contains(string(body), `"hash"`) {
		t.Fatalf("GET key: %d %s", status, body)
	}
	if hdr.Get("Cache-Control") != "no-store" {
		t.Fatal("admin answers must not be cached")
	}

	at := clk.now().Add(48 * time.Hour).Format(time.RFC3339)
	second, err := c.CreateKey(ctx, "acme", adminclient.CreateKeyRequest{ExpiresAt: at})
	if err != nil {
		t.Fatal(err)
	}
	third, err := c.CreateKey(ctx, "acme", adminclient.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}

	// Listing pages through the customer's keys.
	seen := map[string]bool{}
	cursor := ""
	for pages := 1; ; pages++ {
		p, err := c.ListKeys(ctx, "acme", adminclient.ListOptions{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range p.Keys {
			if seen[k.ID] {
				t.Fatalf("key %s listed twice", k.ID)
			}
			seen[k.ID] = true
		}
		if p.NextCursor == "" {
			if len(seen) != 3 || pages != 2 {
				t.Fatalf("%d keys in %d pages", len(seen), pages)
			}
			break
		}
		cursor = p.NextCursor
	}

	// Expiring within 7 days: only the 48-hour key.
	exp, err := c.ExpiringKeys(ctx, "7d", adminclient.ListOptions{})
	if err != nil || len(exp.Keys) != 1 || exp.Keys[0].ID != second.Key.ID {
		t.Fatalf("expiring: %+v %v", exp, err)
	}

	// Rotation: the new key lives as long as the old one was meant to;
	// the old one ends after the grace period and names its successor.
	rot, err := c.RotateKey(ctx, id, adminclient.RotateKeyRequest{GracePeriod: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rules.ParseKey(rot.Secret); err != nil || rot.Key.ID == id || rot.Key.Description != "ci" {
		t.Fatalf("rotated: %+v %v", rot, err)
	}
	if !rot.Previous.ExpiresAt.Equal(clk.now().Add(time.Hour)) || rot.Previous.ReplacedBy != rot.Key.ID || rot.Previous.Status != rules.KeyActive {
		t.Fatalf("previous key %+v", rot.Previous)
	}
	if rot.Key.ExpiresAt == nil || !rot.Key.ExpiresAt.Equal(clk.now().Add(30*24*time.Hour)) {
		t.Fatalf("new key expires at %v", rot.Key.ExpiresAt)
	}
	if _, err := c.RotateKey(ctx, id, adminclient.RotateKeyRequest{}); !adminclient.IsConflict(err) {
		t.Fatalf("rotating a rotated key: %v", err)
	}
	// A grace period never extends an earlier expiry.
	rot2, err := c.RotateKey(ctx, second.Key.ID, adminclient.RotateKeyRequest{GracePeriod: "7d"})
	if err != nil {
		t.Fatal(err)
	}
	if !rot2.Previous.ExpiresAt.Equal(*second.Key.ExpiresAt) {
		t.Fatalf("grace extended the expiry from %v to %v", second.Key.ExpiresAt, rot2.Previous.ExpiresAt)
	}

	// Revocation is idempotent and audited once. (The frozen clock moves
	// on so that audit records sort by time, not by request id.)
	clk.advance(time.Second)
	for range 2 {
		k, err := c.RevokeKey(ctx, third.Key.ID)
		if err != nil || k.Status != rules.KeyRevoked || k.RevokedAt == nil || k.Version != 2 {
			t.Fatalf("revoke: %+v %v", k, err)
		}
	}
	if _, err := c.RotateKey(ctx, third.Key.ID, adminclient.RotateKeyRequest{}); !adminclient.IsConflict(err) {
		t.Fatalf("rotating a revoked key: %v", err)
	}
	audit, err := c.ListAudit(ctx, adminclient.ListAuditOptions{Target: "key:" + third.Key.ID})
	if err != nil || len(audit.Records) != 2 || audit.Records[0].Action != adminclient.ActionKeyRevoke || audit.Records[1].Action != adminclient.ActionKeyCreate {
		t.Fatalf("audit of the revoked key: %+v %v", audit, err)
	}
}
