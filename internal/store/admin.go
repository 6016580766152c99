package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate-dev/tollgate/internal/rules"
)

// The admin API's reads beyond single items: paginated listings of
// customers and of a customer's keys, keys about to expire, and the soft
// delete of a customer. Listings read gsi1, and index reads are eventually
// consistent: a customer or key written a moment ago (typically well under
// a second in AWS) may be missing from a listing, or show its previous
// state, while a GetCustomer/GetKey of it is already up to date.

// Listing names bound into cursors, so a cursor of one listing is refused by
// another.
const (
	listingCustomers    = "customers"
	listingKeys         = "keys"
	listingExpiringKeys = "expiring-keys"
	listingAudit        = "audit"
)

// CustomerFilter narrows ListCustomers. The zero value keeps every
// customer, deleted ones included.
type CustomerFilter struct {
	// Status keeps customers with this status; "" keeps all.
	Status string
	// Tier keeps customers of this tier; "" keeps all.
	Tier string
}

// ListCustomers returns one page of customers in id order and the cursor
// of the next page ("" after the last page).
//
// It queries the CUSTOMERS partition of gsi1, whose sort key is the customer
// id, and the cursor is the last id returned: a walk visits ids in strictly
// increasing order, so it neither skips nor repeats a customer however many
// are created meanwhile (new ones appear if their id sorts after the
// cursor). Filters are applied by DynamoDB after reading, so a filtered page
// costs the items read, not returned, and may come back short, or even
// empty, with a cursor when many customers in a row do not match: stop
// only when the cursor is "".
func (s *Store) ListCustomers(ctx context.Context, f CustomerFilter, o ListOptions) ([]Customer, string, error) {
	limit, err := o.limit()
	if err != nil {
		return nil, "", err
	}
	var start map[string]types.AttributeValue
	if o.Cursor != "" {
		c, err := decodeCursor(o.Cursor, listingCustomers)
		if err != nil {
			return nil, "", err
		}
		if rules.ValidateCustomerID(c.After) != nil {
			return nil, "", ErrBadCursor
		}
		start = gsiStart(customersGSI1PK, c.After, customerPK(c.After), customerSK)
	}
	b := expression.NewBuilder().WithKeyCondition(expression.Key(attrGSI1PK).Equal(expression.Value(customersGSI1PK)))
	var conds []expression.ConditionBuilder
	if f.Status != "" {
		conds = append(conds, expression.Name("status").Equal(expression.Value(f.Status)))
	}
	if f.Tier != "" {
		conds = append(conds, expression.Name("tier").Equal(expression.Value(f.Tier)))
	}
	if filter, ok := and(conds); ok {
		b = b.WithFilter(filter)
	}
	expr, err := b.Build()
	if err != nil {
		return nil, "", fmt.Errorf("list customers: %w", err)
	}
	in := dynamodb.QueryInput{
		TableName:                 aws.String(s.Tables.Config),
		IndexName:                 aws.String(IndexGSI1),
		KeyConditionExpression:    expr.KeyCondition(),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	}
	var out []Customer
	next, err := fetchPage(ctx, start, limit, len(conds) > 0, s.queryFetch(in), func(item map[string]types.AttributeValue) (bool, error) {
		var it customerItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return false, fmt.Errorf("decode customer %s: %w", stringAttr(item, attrPK), err)
		}
		if err := rules.CheckSchema("customer", it.SchemaVersion, rules.CustomerSchemaVersion); err != nil {
			return false, fmt.Errorf("customer %q: %w", it.ID, err)
		}
		out = append(out, it.Customer)
		return true, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list customers: %w", err)
	}
	return out, indexCursor(listingCustomers, next), nil
}

// and combines conditions; ok is false when there are none.
func and(conds []expression.ConditionBuilder) (expression.ConditionBuilder, bool) {
	switch len(conds) {
	case 0:
		return expression.ConditionBuilder{}, false
	case 1:
		return conds[0], true
	}
	return expression.And(conds[0], conds[1], conds[2:]...), true
}

// ListKeys returns one page of a customer's keys, oldest first, and the
// cursor of the next page ("" after the last page). It queries the
// customer's key partition of gsi1 (sort key: creation time and key id), so
// like ListCustomers a walk neither skips nor repeats a key.
func (s *Store) ListKeys(ctx context.Context, customerID string, o ListOptions) ([]Key, string, error) {
	if err := rules.ValidateCustomerID(customerID); err != nil {
		return nil, "", err
	}
	limit, err := o.limit()
	if err != nil {
		return nil, "", err
	}
	gpk := customerKeysGSI1PK(customerID)
	var start map[string]types.AttributeValue
	if o.Cursor != "" {
		c, err := decodeCursor(o.Cursor, listingKeys)
		if err != nil {
			return nil, "", err
		}
		id, ok := keyPosition(c.After)
		if !ok {
			return nil, "", ErrBadCursor
		}
		start = gsiStart(gpk, c.After, keyPK(id), keySK)
	}
	in := dynamodb.QueryInput{
		TableName:              aws.String(s.Tables.Config),
		IndexName:              aws.String(IndexGSI1),
		KeyConditionExpression: aws.String("gsi1pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: gpk},
		},
	}
	var out []Key
	next, err := fetchPage(ctx, start, limit, false, s.queryFetch(in), func(item map[string]types.AttributeValue) (bool, error) {
		k, err := decodeKey(item)
		if err != nil {
			return false, err
		}
		out = append(out, *k)
		return true, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list keys of %q: %w", customerID, err)
	}
	return out, indexCursor(listingKeys, next), nil
}

// keyPosition checks a key's index sort key (<created RFC 3339>#<key id>)
// and returns the key id.
func keyPosition(gsi1sk string) (string, bool) {
	i := strings.LastIndexByte(gsi1sk, '#')
	if i < 0 || !rules.ValidKeyID(gsi1sk[i+1:]) {
		return "", false
	}
	if _, err := time.Parse(time.RFC3339Nano, gsi1sk[:i]); err != nil {
		return "", false
	}
	return gsi1sk[i+1:], true
}

func decodeKey(item map[string]types.AttributeValue) (*Key, error) {
	var it keyItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return nil, fmt.Errorf("decode key %s: %w", stringAttr(item, attrPK), err)
	}
	if err := rules.CheckSchema("key", it.SchemaVersion, rules.KeySchemaVersion); err != nil {
		return nil, fmt.Errorf("key %s: %w", it.ID, err)
	}
	return &it.Key, nil
}

// maxScanKeyLen bounds the table key a scan cursor may carry; DynamoDB's
// own limits are 2048 bytes for a partition key and 1024 for a sort key.
const maxScanKeyLen = 1024

// ExpiringKeys returns one page of active keys whose expiry falls in
// (now, until], and the cursor of the next page ("" after the last page).
//
// Keys are not indexed by expiry (gsi1 already lists them per customer), so
// this is a Scan of the config table filtered to active key items that have
// an expiry; the exact time window is checked in code because expiry times
// are stored as RFC 3339 strings, which do not sort exactly. A full walk
// reads the whole config table (customers, keys and audit records), about
// one read unit per 8 KB with eventually consistent reads: fine for a daily
// report, too much for every request. Pages are in the table's hash order,
// and a walk neither skips nor repeats a key that exists throughout.
func (s *Store) ExpiringKeys(ctx context.Context, now, until time.Time, o ListOptions) ([]Key, string, error) {
	limit, err := o.limit()
	if err != nil {
		return nil, "", err
	}
	var start map[string]types.AttributeValue
	if o.Cursor != "" {
		c, err := decodeCursor(o.Cursor, listingExpiringKeys)
		if err != nil {
			return nil, "", err
		}
		if c.PK == "" || c.SK == "" || len(c.PK) > maxScanKeyLen || len(c.SK) > maxScanKeyLen {
			return nil, "", ErrBadCursor
		}
		start = itemKey(c.PK, c.SK)
	}
	filter := expression.Name(attrPK).BeginsWith("KEY#").
		And(expression.Name("status").Equal(expression.Value(rules.KeyActive))).
		And(expression.AttributeExists(expression.Name("expires_at")))
	expr, err := expression.NewBuilder().WithFilter(filter).Build()
	if err != nil {
		return nil, "", fmt.Errorf("expiring keys: %w", err)
	}
	in := dynamodb.ScanInput{
		TableName:                 aws.String(s.Tables.Config),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	}
	var out []Key
	next, err := fetchPage(ctx, start, limit, true, s.scanFetch(in), func(item map[string]types.AttributeValue) (bool, error) {
		k, err := decodeKey(item)
		if err != nil {
			return false, err
		}
		if k.ExpiresAt == nil || !k.ExpiresAt.After(now) || k.ExpiresAt.After(until) {
			return false, nil
		}
		out = append(out, *k)
		return true, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("expiring keys: %w", err)
	}
	if next == nil {
		return out, "", nil
	}
	return out, cursor{Listing: listingExpiringKeys, PK: stringAttr(next, attrPK), SK: stringAttr(next, attrSK)}.encode(), nil
}

// CustomerDeletion reports what DeleteCustomer changed.
type CustomerDeletion struct {
	// Customer is the record as stored after the call.
	Customer *Customer
	// Changed is false when the customer was already deleted (the call
	// then only revokes keys a previous, interrupted delete left active).
	Changed bool
	// Revoked are the keys this call revoked, as stored afterwards.
	Revoked []*Key
}

// DeleteCustomer soft-deletes a customer: its status becomes deleted
// (nothing is removed, usage stays readable), then every active key is
// revoked. version is the version the caller read, checked before writing;
// 0 means the version read here (the write is still conditional on it).
//
// The two steps are separate writes (there are no transactions). The first
// one already makes every key unusable, because the data plane refuses keys
// of a customer that is not active; a crash before the keys are all revoked
// leaves them revoked in effect, and calling DeleteCustomer again finishes
// the job. Keys are found through gsi1, so a key created in the same second
// may be missed by the sweep; it is unusable all the same.
func (s *Store) DeleteCustomer(ctx context.Context, id string, version int64) (*CustomerDeletion, error) {
	c, err := s.GetCustomer(ctx, id, true)
	if err != nil {
		return nil, err
	}
	if version != 0 && version != c.Version {
		return nil, fmt.Errorf("delete customer %q at version %d, stored %d: %w", id, version, c.Version, ErrVersionConflict)
	}
	d := &CustomerDeletion{Customer: c}
	if c.Status != rules.CustomerDeleted {
		c.Status = rules.CustomerDeleted
		c.Version++
		if err := s.PutCustomer(ctx, c); err != nil {
			return nil, err
		}
		d.Changed = true
	}
	cursor := ""
	for {
		keys, next, err := s.ListKeys(ctx, id, ListOptions{Limit: MaxPageSize, Cursor: cursor})
		if err != nil {
			return d, err
		}
		for i := range keys {
			if keys[i].Status != rules.KeyActive {
				continue
			}
			k, changed, err := s.EnsureKeyRevoked(ctx, keys[i].ID)
			if err != nil {
				return d, err
			}
			if changed {
				d.Revoked = append(d.Revoked, k)
			}
		}
		if next == "" {
			return d, nil
		}
		cursor = next
	}
}

// EnsureKeyRevoked revokes a key unless it is revoked already, re-reading
// it when a concurrent change (a rotation) wins the race. It returns the
// key as stored and whether this call revoked it.
func (s *Store) EnsureKeyRevoked(ctx context.Context, id string) (*Key, bool, error) {
	for attempt := 0; ; attempt++ {
		k, err := s.GetKey(ctx, id, true)
		if err != nil {
			return nil, false, err
		}
		if k.Status == rules.KeyRevoked {
			return k, false, nil
		}
		now := s.now()
		k.Status, k.RevokedAt = rules.KeyRevoked, &now
		k.Version++
		err = s.PutKey(ctx, k)
		if errors.Is(err, ErrVersionConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		return k, true, nil
	}
}
