package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/tollgate-dev/tollgate/internal/localddb"
	"github.com/tollgate-dev/tollgate/internal/rules"
)

// These tests are internal to the package so that they can seed thousands
// of items with BatchWriteItem in the store's own item layout.

func newAdminStore(t *testing.T) *Store {
	t.Helper()
	ddb := localddb.StartT(t)
	s := New(ddb.Client(), "admin-")
	if err := s.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// seedCustomers writes customers straight to the table, 25 per
// BatchWriteItem, several batches at a time.
func seedCustomers(t *testing.T, s *Store, cs []Customer) {
	t.Helper()
	now := time.Now().UTC()
	var g errgroup.Group
	g.SetLimit(8)
	for lo := 0; lo < len(cs); lo += 25 {
		batch := cs[lo:min(lo+25, len(cs))]
		g.Go(func() error {
			reqs := make([]types.WriteRequest, 0, len(batch))
			for _, c := range batch {
				c.Version, c.SchemaVersion, c.CreatedAt, c.UpdatedAt = 1, rules.CustomerSchemaVersion, now, now
				av, err := attributevalue.MarshalMap(customerItem{PK: customerPK(c.ID), SK: customerSK, GSI1PK: customersGSI1PK, GSI1SK: c.ID, Customer: c})
				if err != nil {
					return err
				}
				reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
			}
			for len(reqs) > 0 {
				out, err := s.DB.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{
					RequestItems: map[string][]types.WriteRequest{s.Tables.Config: reqs},
				})
				if err != nil {
					return err
				}
				reqs = out.UnprocessedItems[s.Tables.Config]
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("seed: %v", err)
	}
}

func customerID(i int) string { return fmt.Sprintf("c-%05d", i*10) }

// walkCustomers lists every page and returns the ids in order and the
// number of pages.
func walkCustomers(t *testing.T, s *Store, f CustomerFilter, limit int, between func(page int)) ([]string, int) {
	t.Helper()
	var ids []string
	cursor := ""
	for page := 0; ; page++ {
		cs, next, err := s.ListCustomers(context.Background(), f, ListOptions{Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if len(cs) > limit {
			t.Fatalf("page %d has %d customers, limit %d", page, len(cs), limit)
		}
		if next != "" && len(cs) < limit {
			t.Fatalf("page %d has %d customers and a cursor: pages must fill up to the limit", page, len(cs))
		}
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		if between != nil {
			between(page)
		}
		if next == "" {
			return ids, page + 1
		}
		cursor = next
	}
}

// TestListCustomersWalkDuringInserts walks 2,500 customers with large and
// small pages while other customers are being created, and checks that
// every customer that existed before the walk is returned exactly once, in
// id order.
func TestListCustomersWalkDuringInserts(t *testing.T) {
	s := newAdminStore(t)
	const n = 2500
	seed := make([]Customer, n)
	for i := range seed {
		seed[i] = Customer{ID: customerID(i), Name: "seeded", Status: rules.CustomerActive}
	}
	seedCustomers(t, s, seed)

	// A writer creates customers whose ids fall between and around the
	// seeded ones for as long as the walks run.
	stop := make(chan struct{})
	var inserted atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("c-%05d", (i*7919)%(n*10)+5) // between two seeded ids
			if i%3 == 0 {
				id = fmt.Sprintf("b-%05d", i) // before every seeded id
			}
			if err := s.PutCustomer(context.Background(), &Customer{ID: id, Name: "late", Status: rules.CustomerActive}); err != nil && !errors.Is(err, ErrExists) {
				t.Errorf("insert %s: %v", id, err)
				return
			}
			inserted.Add(1)
		}
	}()

	for _, limit := range []int{1000, 37} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			// Let some inserts land between pages, not only during them.
			ids, pages := walkCustomers(t, s, CustomerFilter{}, limit, func(int) { time.Sleep(time.Millisecond) })
			if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
				t.Fatal("ids are not strictly increasing: a customer was repeated or the order broke")
			}
			seen := map[string]int{}
			for _, id := range ids {
				seen[id]++
			}
			for i := range n {
				if c := seen[customerID(i)]; c != 1 {
					t.Fatalf("seeded customer %s returned %d times", customerID(i), c)
				}
			}
			if want := (len(ids) + limit - 1) / limit; pages != want && pages != want+1 {
				t.Fatalf("%d customers came in %d pages of %d", len(ids), pages, limit)
			}
		})
	}
	close(stop)
	wg.Wait()
	if inserted.Load() == 0 {
		t.Fatal("no customer was inserted during the walks")
	}
}

// TestListCustomersFilters checks that filtered pages still fill up and
// return exactly the matching customers.
func TestListCustomersFilters(t *testing.T) {
	s := newAdminStore(t)
	var seed []Customer
	want := map[string]bool{}
	for i := range 600 {
		c := Customer{ID: customerID(i), Name: "x", Status: rules.CustomerActive, Tier: "standard"}
		if i%7 == 0 {
			c.Status = rules.CustomerSuspended
		}
		if i%2 == 0 {
			c.Tier = "gold"
		}
		if c.Status == rules.CustomerSuspended && c.Tier == "gold" {
			want[c.ID] = true
		}
		seed = append(seed, c)
	}
	seedCustomers(t, s, seed)
	for _, limit := range []int{5, 1000} {
		ids, _ := walkCustomers(t, s, CustomerFilter{Status: rules.CustomerSuspended, Tier: "gold"}, limit, nil)
		if len(ids) != len(want) || !slices.IsSorted(ids) {
			t.Fatalf("limit %d: got %d customers, want %d", limit, len(ids), len(want))
		}
		for _, id := range ids {
			if !want[id] {
				t.Fatalf("limit %d: %s does not match the filter", limit, id)
			}
		}
	}
	ids, _ := walkCustomers(t, s, CustomerFilter{Tier: "platinum"}, 10, nil)
	if len(ids) != 0 {
		t.Fatalf("no customer is platinum, got %v", ids)
	}
}

func TestCursorValidation(t *testing.T) {
	s := newAdminStore(t)
	ctx := context.Background()
	seedCustomers(t, s, []Customer{{ID: "aa", Name: "a", Status: rules.CustomerActive}, {ID: "bb", Name: "b", Status: rules.CustomerActive}, {ID: "cc", Name: "c", Status: rules.CustomerActive}})
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	bad := map[string]string{
		"not base64":      "!!!",
		"not JSON":        enc("hello"),
		"other listing":   cursor{Listing: listingKeys, After: "aa"}.encode(),
		"bad id":          cursor{Listing: listingCustomers, After: "A#B"}.encode(),
		"empty position":  cursor{Listing: listingCustomers}.encode(),
		"unknown field":   enc(`{"l":"customers","a":"aa","x":1}`),
		"trailing data":   enc(`{"l":"customers","a":"aa"}{}`),
		"too long":        string(make([]byte, maxCursorLen+1)),
		"padded base64":   base64.URLEncoding.EncodeToString([]byte(`{"l":"customers","a":"aa"}`)),
		"standard base64": base64.StdEncoding.EncodeToString([]byte(`{"l":"customers","a":"a?>"}`)),
	}
	for name, c := range bad {
		t.Run(name, func(t *testing.T) {
			if _, _, err := s.ListCustomers(ctx, CustomerFilter{}, ListOptions{Cursor: c}); !errors.Is(err, ErrBadCursor) {
				t.Fatalf("err = %v, want ErrBadCursor", err)
			}
		})
	}
	// A well-formed position that names no customer is just a position.
	cs, next, err := s.ListCustomers(ctx, CustomerFilter{}, ListOptions{Cursor: cursor{Listing: listingCustomers, After: "ab"}.encode()})
	if err != nil || len(cs) != 2 || cs[0].ID != "bb" || next != "" {
		t.Fatalf("forged position: %v %v %q", cs, err, next)
	}
	for _, l := range []int{-1, MaxPageSize + 1} {
		if _, _, err := s.ListCustomers(ctx, CustomerFilter{}, ListOptions{Limit: l}); err == nil {
			t.Errorf("limit %d accepted", l)
		}
	}
	if _, _, err := s.ListKeys(ctx, "aa", ListOptions{Cursor: cursor{Listing: listingKeys, After: "yesterday#abc"}.encode()}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("key cursor with a bad position: %v", err)
	}
	if _, _, err := s.ExpiringKeys(ctx, time.Now(), time.Now(), ListOptions{Cursor: cursor{Listing: listingExpiringKeys, PK: "KEY#x"}.encode()}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("scan cursor without sk: %v", err)
	}
	if _, _, err := s.ListAudit(ctx, AuditFilter{}, ListOptions{Cursor: cursor{Listing: listingAudit, After: "2025-01-01T00:00:00Z#r#1"}.encode()}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("audit cursor with a bad id: %v", err)
	}
}

func putKey(t *testing.T, s *Store, customer string, exp *time.Time) *Key {
	t.Helper()
	_, k, err := NewKey(customer, "test", exp)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestListKeysPages(t *testing.T) {
	s := newAdminStore(t)
	ctx := context.Background()
	var want []string
	for range 5 {
		want = append(want, putKey(t, s, "acme", nil).ID)
	}
	putKey(t, s, "other", nil)
	var got []string
	cursor, pages := "", 0
	for {
		ks, next, err := s.ListKeys(ctx, "acme", ListOptions{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, k := range ks {
			got = append(got, k.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) || pages != 3 {
		t.Fatalf("got %v in %d pages, want %v in 3", got, pages, want)
	}
	if _, _, err := s.ListCustomers(ctx, CustomerFilter{}, ListOptions{Cursor: cursor}); !errors.Is(err, ErrBadCursor) {
		t.Fatalf("key cursor accepted by the customer listing: %v", err)
	}
}

func TestExpiringKeys(t *testing.T) {
	s := newAdminStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	soon := putKey(t, s, "acme", at(time.Hour))
	later := putKey(t, s, "acme", at(6*24*time.Hour))
	putKey(t, s, "acme", at(10*24*time.Hour)) // outside the window
	putKey(t, s, "acme", at(-time.Hour))      // already expired
	putKey(t, s, "acme", nil)                 // never expires
	revoked := putKey(t, s, "acme", at(time.Hour))
	if _, err := s.RevokeKey(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	seedCustomers(t, s, []Customer{{ID: "acme", Name: "a", Status: rules.CustomerActive}})

	var got []string
	cursor := ""
	for {
		ks, next, err := s.ExpiringKeys(ctx, now, now.Add(7*24*time.Hour), ListOptions{Limit: 1, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			got = append(got, k.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	want := []string{soon.ID, later.ID}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("expiring keys %v, want %v", got, want)
	}
}

func TestAuditRecords(t *testing.T) {
	s := newAdminStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	recs := []AuditRecord{
		{Action: "customer.create", TargetType: AuditTargetCustomer, TargetID: "acme", CustomerID: "acme", NewVersion: 1},
		{Action: "key.create", TargetType: AuditTargetKey, TargetID: "aaaaaaaaaaaaaaaa", CustomerID: "acme", NewVersion: 1},
		{Action: "customer.create", TargetType: AuditTargetCustomer, TargetID: "beta", CustomerID: "beta", NewVersion: 1},
		{Action: "customer.update", TargetType: AuditTargetCustomer, TargetID: "acme", CustomerID: "acme", OldVersion: 1, NewVersion: 2},
	}
	for i := range recs {
		recs[i].Actor, recs[i].RequestID = "ops", fmt.Sprintf("req%d", i)
		recs[i].Time = t0.Add(time.Duration(i) * 500 * time.Millisecond) // a whole second has a shorter RFC 3339Nano form
		if err := s.PutAudit(ctx, &recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutAudit(ctx, &recs[0]); !errors.Is(err, ErrExists) {
		t.Fatalf("rewriting an audit record: %v", err)
	}
	if err := s.PutAudit(ctx, &AuditRecord{RequestID: "a#b"}); err == nil {
		t.Fatal("request id with '#' accepted")
	}
	walk := func(f AuditFilter, limit int) []string {
		var actions []string
		cursor := ""
		for {
			rs, next, err := s.ListAudit(ctx, f, ListOptions{Limit: limit, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				actions = append(actions, r.RequestID)
			}
			if next == "" {
				return actions
			}
			cursor = next
		}
	}
	if got := walk(AuditFilter{}, 3); !slices.Equal(got, []string{"req3", "req2", "req1", "req0"}) {
		t.Fatalf("newest first: %v", got)
	}
	if got := walk(AuditFilter{TargetType: AuditTargetCustomer, TargetID: "acme"}, 1); !slices.Equal(got, []string{"req3", "req1", "req0"}) {
		t.Fatalf("customer filter (with its keys): %v", got)
	}
	if got := walk(AuditFilter{TargetType: AuditTargetKey, TargetID: "aaaaaaaaaaaaaaaa"}, 10); !slices.Equal(got, []string{"req1"}) {
		t.Fatalf("key filter: %v", got)
	}
}

func TestDeleteCustomer(t *testing.T) {
	s := newAdminStore(t)
	ctx := context.Background()
	if err := s.PutCustomer(ctx, &Customer{ID: "acme", Name: "Acme", Status: rules.CustomerActive}); err != nil {
		t.Fatal(err)
	}
	k1, k2 := putKey(t, s, "acme", nil), putKey(t, s, "acme", nil)
	k3 := putKey(t, s, "acme", nil)
	if _, err := s.RevokeKey(ctx, k3.ID); err != nil {
		t.Fatal(err)
	}
	other := putKey(t, s, "other", nil)

	if _, err := s.DeleteCustomer(ctx, "acme", 7); !errors.Is(err, ErrVersionConflict) {
		t.Fatalf("stale version: %v", err)
	}
	if c, _ := s.GetCustomer(ctx, "acme", true); c.Status != rules.CustomerActive || c.Version != 1 {
		t.Fatalf("a refused delete changed the customer: %+v", c)
	}
	d, err := s.DeleteCustomer(ctx, "acme", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Changed || d.Customer.Status != rules.CustomerDeleted || d.Customer.Version != 2 || len(d.Revoked) != 2 {
		t.Fatalf("delete: %+v", d)
	}
	for _, id := range []string{k1.ID, k2.ID} {
		if k, _ := s.GetKey(ctx, id, true); k.Status != rules.KeyRevoked {
			t.Fatalf("key %s still %s", id, k.Status)
		}
	}
	if k, _ := s.GetKey(ctx, other.ID, true); k.Status != rules.KeyActive {
		t.Fatal("another customer's key was revoked")
	}
	d, err = s.DeleteCustomer(ctx, "acme", 0)
	if err != nil || d.Changed || len(d.Revoked) != 0 || d.Customer.Version != 2 {
		t.Fatalf("second delete: %+v %v", d, err)
	}
	if _, err := s.DeleteCustomer(ctx, "nobody", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing customer: %v", err)
	}
}

// TestNewerSchemaRefused writes a customer and a key as a newer release
// would, and checks that this release refuses them with
// rules.ErrUnknownSchema instead of misreading them.
func TestNewerSchemaRefused(t *testing.T) {
	s := newAdminStore(t)
	ctx := context.Background()
	c := Customer{ID: "future", Name: "f", Status: rules.CustomerActive, Version: 1, SchemaVersion: rules.CustomerSchemaVersion + 1}
	_, k, _ := NewKey("future", "f", nil)
	k.Version, k.SchemaVersion = 1, rules.KeySchemaVersion+1
	for _, item := range []any{
		customerItem{PK: customerPK(c.ID), SK: customerSK, GSI1PK: customersGSI1PK, GSI1SK: c.ID, Customer: c},
		keyItem{PK: keyPK(k.ID), SK: keySK, GSI1PK: customerKeysGSI1PK("future"), GSI1SK: "2026-01-01T00:00:00Z#" + k.ID, Key: *k},
	} {
		av, err := attributevalue.MarshalMap(item)
		if err != nil {
			t.Fatal(err)
		}
		// A newer release may add attributes this one does not know.
		av["novelty"] = &types.AttributeValueMemberS{Value: "x"}
		if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Tables.Config), Item: av}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GetCustomer(ctx, "future", true); !errors.Is(err, rules.ErrUnknownSchema) {
		t.Errorf("GetCustomer: %v", err)
	}
	if _, err := s.GetKey(ctx, k.ID, false); !errors.Is(err, rules.ErrUnknownSchema) {
		t.Errorf("GetKey: %v", err)
	}
	if _, _, err := s.ListCustomers(ctx, CustomerFilter{}, ListOptions{}); !errors.Is(err, rules.ErrUnknownSchema) {
		t.Errorf("ListCustomers: %v", err)
	}
	if _, _, err := s.ListKeys(ctx, "future", ListOptions{}); !errors.Is(err, rules.ErrUnknownSchema) {
		t.Errorf("ListKeys: %v", err)
	}
	// An update by this release is refused before it writes, so it never
	// downgrades the record.
	if _, err := s.DeleteCustomer(ctx, "future", 0); !errors.Is(err, rules.ErrUnknownSchema) {
		t.Errorf("DeleteCustomer: %v", err)
	}
}
