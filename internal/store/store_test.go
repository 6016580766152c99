package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/localddb"
	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/internal/store"
)

func newStore(t *testing.T) *store.Store {
	t.Helper()
	ddb := localddb.StartT(t)
	s := store.New(ddb.Client(), "test-")
	if err := s.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBootstrapIdempotent(t *testing.T) {
	s := newStore(t)
	if err := s.Bootstrap(context.Background()); err != nil {
		t.Fatalf("second bootstrap: %v", err)
	}
}

func TestCustomerVersioning(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	c := &store.Customer{ID: "acme", Name: "Acme", Status: rules.CustomerActive, AllowedModels: []string{"anthropic.*"}}
	if err := s.PutCustomer(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCustomer(ctx, &store.Customer{ID: "acme", Name: "Other", Status: rules.CustomerActive}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	a, _ := s.GetCustomer(ctx, "acme", true)
	b, _ := s.GetCustomer(ctx, "acme", true)
	a.Name, a.Version = "Acme A", a.Version+1
	b.Name, b.Version = "Acme B", b.Version+1
	if err := s.PutCustomer(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCustomer(ctx, b); !errors.Is(err, store.ErrVersionConflict) {
		t.Fatalf("stale update: %v", err)
	}
	got, err := s.GetCustomer(ctx, "acme", true)
	if err != nil || got.Name != "Acme A" || got.Version != 2 {
		t.Fatalf("got %+v, %v", got, err)
	}
	if _, err := s.GetCustomer(ctx, "nobody", true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing customer: %v", err)
	}
}

func TestKeyLifecycle(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	secret, k, err := store.NewKey("acme", "ci", &exp)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	id, err := rules.ParseKey(secret)
	if err != nil || id != k.ID {
		t.Fatalf("ParseKey: %q %v", id, err)
	}
	got, err := s.GetKey(ctx, id, false)
	if err != nil {
		t.Fatal(err)
	}
	h, err := got.HashBytes()
	if err != nil || !h.Equal(rules.HashKey(secret)) {
		t.Fatal("stored hash does not match the secret")
	}
	if got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) || got.CustomerID != "acme" {
		t.Fatalf("got %+v", got)
	}
	if r, err := s.RevokeKey(ctx, id); err != nil || r.Status != rules.KeyRevoked || r.Version != 2 {
		t.Fatalf("revoke: %+v %v", r, err)
	}
}
