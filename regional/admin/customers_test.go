package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/internal/store"
)

func strp(s string) *string { return &s }

func TestCustomerLifecycle(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	c := e.client

	created, err := c.CreateCustomer(ctx, adminclient.CreateCustomerRequest{
		ID: "acme", Name: "Acme Corp", Contact: "ops@acme.test", Tier: "gold",
		AllowedModels: []string{"anthropic.*"},
		Limits:        &rules.Limits{RequestsPerMinute: 600, MonthlyCostBudgetUSD: 99.5},
		Tags:          map[string]string{"team": "ml"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if created.Status != rules.CustomerActive || created.Version != 1 || created.Limits.RequestsPerMinute != 600 || created.Tags["team"] != "ml" {
		t.Fatalf("created %+v", created)
	}
	gen, err := c.CreateCustomer(ctx, adminclient.CreateCustomerRequest{Name: "Generated", AllowedModels: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(gen.ID, "cus-") || rules.ValidateCustomerID(gen.ID) != nil || gen.AllowedModels == nil {
		t.Fatalf("generated customer %+v", gen)
	}
	if _, err := c.CreateCustomer(ctx, adminclient.CreateCustomerRequest{ID: "acme", Name: "again", AllowedModels: []string{"*"}}); !adminclient.IsConflict(err) {
		t.Fatalf("duplicate: %v", err)
	}

	got, err := c.GetCustomer(ctx, "acme")
	if err != nil || got.Name != "Acme Corp" || got.Contact != "ops@acme.test" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := c.GetCustomer(ctx, "nobody"); !adminclient.IsNotFound(err) {
		t.Fatalf("missing: %v", err)
	}

	// PUT replaces the mutable fields and keeps the status.
	put, err := c.UpdateCustomer(ctx, "acme", adminclient.UpdateCustomerRequest{
		Name: "Acme", AllowedModels: []string{"anthropic.*", "amazon.*"}, Version: 1,
		Limits: &rules.Limits{TokensPerMinute: 1000},
	})
	if err != nil {
		t.Fatal(err)
	}
	if put.Version != 2 || put.Contact != "" || put.Tier != "" || put.Limits.RequestsPerMinute != 0 || put.Limits.TokensPerMinute != 1000 || put.Status != rules.CustomerActive || len(put.Tags) != 0 {
		t.Fatalf("put %+v", put)
	}
	// The same PUT again (version 2) changes nothing and writes nothing.
	same, err := c.UpdateCustomer(ctx, "acme", adminclient.UpdateCustomerRequest{
		Name: "Acme", AllowedModels: []string{"anthropic.*", "amazon.*"}, Version: 2,
		Limits: &rules.Limits{TokensPerMinute: 1000},
	})
	if err != nil || same.Version != 2 {
		t.Fatalf("no-op put: %+v %v", same, err)
	}

	// PATCH changes one limit and keeps the others.
	rpm := int64(60)
	patched, err := c.PatchCustomer(ctx, "acme", adminclient.PatchCustomerRequest{
		Limits: &adminclient.LimitsPatch{RequestsPerMinute: &rpm}, Contact: strp("new@acme.test"), Version: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if patched.Version != 3 || patched.Limits.RequestsPerMinute != 60 || patched.Limits.TokensPerMinute != 1000 || patched.Contact != "new@acme.test" || patched.Name != "Acme" {
		t.Fatalf("patched %+v", patched)
	}

	s, err := c.SuspendCustomer(ctx, "acme", 0)
	if err != nil || s.Status != rules.CustomerSuspended || s.Version != 4 {
		t.Fatalf("suspend: %+v %v", s, err)
	}
	if s, err = c.SuspendCustomer(ctx, "acme", 0); err != nil || s.Version != 4 {
		t.Fatalf("suspend again: %+v %v", s, err)
	}
	if _, err := c.ReactivateCustomer(ctx, "acme", 3); !adminclient.IsConflict(err) {
		t.Fatalf("reactivate from a stale version: %v", err)
	}
	if s, err = c.ReactivateCustomer(ctx, "acme", 4); err != nil || s.Status != rules.CustomerActive || s.Version != 5 {
		t.Fatalf("reactivate: %+v %v", s, err)
	}

	key, err := c.CreateKey(ctx, "acme", adminclient.CreateKeyRequest{Description: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.DeleteCustomer(ctx, "acme", 5)
	if err != nil || d.Status != rules.CustomerDeleted || d.Version != 6 {
		t.Fatalf("delete: %+v %v", d, err)
	}
	if k, err := c.GetKey(ctx, key.Key.ID); err != nil || k.Status != rules.KeyRevoked {
		t.Fatalf("key after delete: %+v %v", k, err)
	}
	if d, err = c.DeleteCustomer(ctx, "acme", 0); err != nil || d.Version != 6 {
		t.Fatalf("delete again: %+v %v", d, err)
	}
	if _, err := c.PatchCustomer(ctx, "acme", adminclient.PatchCustomerRequest{Name: strp("x"), Version: 6}); !adminclient.IsConflict(err) {
		t.Fatalf("patch a deleted customer: %v", err)
	}
	if _, err := c.CreateKey(ctx, "acme", adminclient.CreateKeyRequest{}); !adminclient.IsConflict(err) {
		t.Fatalf("key for a deleted customer: %v", err)
	}

	// Listing: by id, with filters.
	all, err := c.ListCustomers(ctx, adminclient.ListCustomersOptions{})
	if err != nil || len(all.Customers) != 2 || all.Customers[0].ID != "acme" || all.NextCursor != "" {
		t.Fatalf("list: %+v %v", all, err)
	}
	deleted, err := c.ListCustomers(ctx, adminclient.ListCustomersOptions{Status: rules.CustomerDeleted})
	if err != nil || len(deleted.Customers) != 1 || deleted.Customers[0].ID != "acme" {
		t.Fatalf("list deleted: %+v %v", deleted, err)
	}

	// Every change is audited, newest first, with versions and the actor.
	page, err := c.ListAudit(ctx, adminclient.ListAuditOptions{Target: "customer:acme"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range page.Records {
		actions = append(actions, r.Action)
		if r.Actor != "ops" || r.Region != "us-test-1" || r.RequestID == "" || r.CustomerID != "acme" {
			t.Fatalf("record %+v", r)
		}
	}
	want := []string{"key.revoke", "customer.delete", "key.create", "customer.reactivate", "customer.suspend", "customer.update", "customer.update", "customer.create"}
	if !slices.Equal(actions, want) {
		t.Fatalf("audit actions %v, want %v", actions, want)
	}
	if r := page.Records[1]; r.OldVersion != 5 || r.NewVersion != 6 {
		t.Fatalf("delete record versions %d → %d", r.OldVersion, r.NewVersion)
	}
}

// TestConcurrentUpdates sends two updates based on the same version at
// once: exactly one wins, the other gets 409 and changes nothing.
func TestConcurrentUpdates(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if _, err := e.client.CreateCustomer(ctx, adminclient.CreateCustomerRequest{ID: "acme", Name: "Acme", AllowedModels: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		cur, err := e.client.GetCustomer(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		// Fresh names each round: a patch to the stored value is a
		// no-op that succeeds whatever the version race.
		names := []string{fmt.Sprint("A", round), fmt.Sprint("B", round)}
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				_, errs[i] = e.client.PatchCustomer(ctx, "acme", adminclient.PatchCustomerRequest{Name: &names[i], Version: cur.Version})
			})
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if winner >= 0 {
					t.Fatalf("round %d: both updates won", round)
				}
				winner = i
			case !adminclient.IsConflict(err):
				t.Fatalf("round %d: loser got %v, want a conflict", round, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no update won: %v", round, errs)
		}
		// Read the table itself, not the API's answer.
		stored, err := e.store.GetCustomer(ctx, "acme", true)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Name != names[winner] || stored.Version != cur.Version+1 {
			t.Fatalf("round %d: stored %q v%d, want %q v%d", round, stored.Name, stored.Version, names[winner], cur.Version+1)
		}
	}
	recs, _, err := e.store.ListAudit(ctx, store.AuditFilter{}, store.ListOptions{})
	if err != nil || len(recs) != 1+5 {
		t.Fatalf("audit: %d records (%v), want one per successful change", len(recs), err)
	}
}

func TestUnknownRoutes(t *testing.T) {
	e := newEnv(t, envOptions{})
	status, hdr, body := e.do(t, http.MethodPost, "/admin/v1/customers/acme", testToken, "{}")
	if status != http.StatusNotFound || hdr.Get("Allow") != "GET, PUT, PATCH, DELETE" || !strings.Contains(string(body), "unknown_operation") {
		t.Fatalf("wrong method: %d %q %s", status, hdr.Get("Allow"), body)
	}
	status, _, body = e.do(t, http.MethodGet, "/admin/v2/customers", testToken, "")
	if status != http.StatusNotFound || !strings.Contains(string(body), "unknown_operation") {
		t.Fatalf("unknown path: %d %s", status, body)
	}
	// Without a token, not even the existence of a path is revealed.
	if status, _, _ = e.do(t, http.MethodGet, "/admin/v2/customers", "", ""); status != http.StatusUnauthorized {
		t.Fatalf("unknown path without a token: %d", status)
	}
}

// TestNewerSchemaRecord checks that a customer written by a newer release
// is neither shown nor overwritten: the API answers 503 naming the newer
// release, and the record stays as it was.
func TestNewerSchemaRecord(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	if _, err := e.client.CreateCustomer(ctx, adminclient.CreateCustomerRequest{ID: "future", Name: "F", AllowedModels: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	_, err := e.store.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(e.store.Tables.Config),
		Key:                       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "CUSTOMER#future"}, "sk": &types.AttributeValueMemberS{Value: "CUSTOMER"}},
		UpdateExpression:          aws.String("SET schema_version = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: strconv.Itoa(rules.CustomerSchemaVersion + 1)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	before := e.snapshot(t)
	for _, req := range []struct{ method, path, body string }{
		{http.MethodGet, "/admin/v1/customers/future", ""},
		{http.MethodPatch, "/admin/v1/customers/future", `{"name":"G","version":1}`},
		{http.MethodGet, "/admin/v1/customers", ""},
	} {
		status, _, body := e.do(t, req.method, req.path, testToken, req.body)
		if status != http.StatusServiceUnavailable || !strings.Contains(string(body), "newer Tollgate release") {
			t.Fatalf("%s %s: %d %s", req.method, req.path, status, body)
		}
	}
	if after := e.snapshot(t); !slices.Equal(before, after) {
		t.Fatal("a newer record was changed")
	}
}
