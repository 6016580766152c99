package admin_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/regional/admin"
)

// failingAudit is a store whose audit writes fail.
type failingAudit struct{ *store.Store }

func (failingAudit) PutAudit(context.Context, *store.AuditRecord) error {
	return errors.New("audit table unavailable")
}

// TestAuditFailureKeepsChange checks the documented gap: when the audit
// write fails after a change, the change stands and is reported as done,
// and the record's content goes to the error log and a counter.
func TestAuditFailureKeepsChange(t *testing.T) {
	e := newEnv(t, envOptions{wrap: func(s *store.Store) admin.Store { return failingAudit{s} }})
	ctx := context.Background()
	c, err := e.client.CreateCustomer(ctx, adminclient.CreateCustomerRequest{ID: "acme", Name: "Acme", AllowedModels: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.store.GetCustomer(ctx, "acme", true); err != nil || got.Version != c.Version {
		t.Fatalf("the change did not stand: %+v %v", got, err)
	}
	log := e.logText()
	if !strings.Contains(log, "audit record not written") || !strings.Contains(log, `"action":"customer.create"`) || !strings.Contains(log, `"target_id":"acme"`) {
		t.Fatalf("log lacks the lost record:\n%s", log)
	}
	if n := e.counter(t, "tollgate_admin_audit_failures_total"); n != 1 {
		t.Fatalf("failure counter = %v, want 1", n)
	}
}
