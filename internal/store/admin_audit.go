package store

import (
	"context"
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

// Audit target types.
const (
	AuditTargetCustomer = "customer"
	AuditTargetKey      = "key"
)

// AuditRecord is one change made through the admin API.
//
// Layout: pk "AUDIT#<id>", sk "AUDIT", and in gsi1 the partition "AUDIT"
// sorted by id, where id is "<time, fixed-width RFC 3339 UTC>#<request
// id>#<seq, 6 digits>", so the index lists records by time, newest first when read
// backwards. Every audit write goes to that one index partition: a hot
// partition in principle, and about a thousand writes a second of headroom
// in DynamoDB, orders of magnitude above an admin API's rate.
type AuditRecord struct {
	// ID is assigned by PutAudit.
	ID   string    `dynamodbav:"id"`
	Time time.Time `dynamodbav:"time"`
	// Actor names the admin token that made the change.
	Actor  string `dynamodbav:"actor"`
	Action string `dynamodbav:"action"`
	// TargetType is AuditTargetCustomer or AuditTargetKey.
	TargetType string `dynamodbav:"target_type"`
	TargetID   string `dynamodbav:"target_id"`
	// CustomerID is the customer the change concerns (a key's owner).
	CustomerID string `dynamodbav:"customer_id,omitempty"`
	// OldVersion is 0 for a creation.
	OldVersion int64  `dynamodbav:"old_version"`
	NewVersion int64  `dynamodbav:"new_version"`
	RequestID  string `dynamodbav:"request_id"`
	// Seq numbers the records of one request (a customer deletion writes
	// one per revoked key).
	Seq           int    `dynamodbav:"seq"`
	Region        string `dynamodbav:"region,omitempty"`
	SchemaVersion int    `dynamodbav:"schema_version"`
}

type auditItem struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	GSI1PK string `dynamodbav:"gsi1pk"`
	GSI1SK string `dynamodbav:"gsi1sk"`
	AuditRecord
}

const (
	auditSK     = "AUDIT"
	auditGSI1PK = "AUDIT"
	// auditTimeLayout is fixed width (nine fractional digits, always
	// present), so ids sort by time as strings.
	auditTimeLayout = "2006-01-02T15:04:05.000000000Z"
	maxRequestIDLen = 64
	// auditSeqDigits is the fixed width of the seq part of an id, so
	// that the records of one request sort in order.
	auditSeqDigits = 6
	maxAuditSeq    = 1_000_000
)

func auditPK(id string) string { return "AUDIT#" + id }

// PutAudit stores r, never overwriting a record. It sets ID, SchemaVersion
// and, when zero, Time. RequestID must be 1 to 64 characters without '#'.
func (s *Store) PutAudit(ctx context.Context, r *AuditRecord) error {
	if r.RequestID == "" || len(r.RequestID) > maxRequestIDLen || strings.ContainsRune(r.RequestID, '#') {
		return fmt.Errorf("audit record: request id %q must be 1 to %d characters without '#'", r.RequestID, maxRequestIDLen)
	}
	if r.Seq < 0 || r.Seq >= maxAuditSeq {
		return fmt.Errorf("audit record: seq %d is not in [0, %d)", r.Seq, maxAuditSeq)
	}
	if r.Time.IsZero() {
		r.Time = s.now()
	}
	r.Time = r.Time.UTC()
	r.ID = r.Time.Format(auditTimeLayout) + "#" + r.RequestID + "#" + fmt.Sprintf("%0*d", auditSeqDigits, r.Seq)
	r.SchemaVersion = rules.AuditSchemaVersion
	av, err := attributevalue.MarshalMap(auditItem{PK: auditPK(r.ID), SK: auditSK, GSI1PK: auditGSI1PK, GSI1SK: r.ID, AuditRecord: *r})
	if err != nil {
		return fmt.Errorf("encode audit record: %w", err)
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.Tables.Config),
		Item:                av,
		ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	if isConditionFailed(err) {
		return fmt.Errorf("audit record %s: %w", r.ID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("put audit record %s: %w", r.ID, err)
	}
	return nil
}

// validAuditID checks an audit id's shape, so a cursor naming one is sound.
func validAuditID(id string) bool {
	parts := strings.Split(id, "#")
	if len(parts) != 3 || parts[1] == "" || len(parts[1]) > maxRequestIDLen {
		return false
	}
	if _, err := time.Parse(auditTimeLayout, parts[0]); err != nil || len(parts[0]) != len(auditTimeLayout) {
		return false
	}
	if len(parts[2]) != auditSeqDigits {
		return false
	}
	for _, c := range parts[2] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// AuditFilter narrows ListAudit. The zero value keeps every record.
type AuditFilter struct {
	// TargetType and TargetID keep the records of one target. For a
	// customer, records of its keys are kept too.
	TargetType, TargetID string
}

// ListAudit returns one page of audit records, newest first, and the
// cursor of the next page ("" after the last page). The cursor is the last
// record's id, so a walk never repeats a record, and records written while
// it goes on sort before it and cannot shift it. One exception: a record
// stamped with an older time (clock skew between instances, or replication
// from another region lagging behind the walk) may land behind the cursor
// and be seen only by the next walk. A
// target filter is applied by DynamoDB after reading, so its cost grows
// with the records read, not those returned.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter, o ListOptions) ([]AuditRecord, string, error) {
	limit, err := o.limit()
	if err != nil {
		return nil, "", err
	}
	var start map[string]types.AttributeValue
	if o.Cursor != "" {
		c, err := decodeCursor(o.Cursor, listingAudit)
		if err != nil {
			return nil, "", err
		}
		if !validAuditID(c.After) {
			return nil, "", ErrBadCursor
		}
		start = gsiStart(auditGSI1PK, c.After, auditPK(c.After), auditSK)
	}
	b := expression.NewBuilder().WithKeyCondition(expression.Key(attrGSI1PK).Equal(expression.Value(auditGSI1PK)))
	filtered := f.TargetType != "" || f.TargetID != ""
	if filtered {
		cond := expression.Name("target_type").Equal(expression.Value(f.TargetType)).
			And(expression.Name("target_id").Equal(expression.Value(f.TargetID)))
		if f.TargetType == AuditTargetCustomer {
			cond = cond.Or(expression.Name("customer_id").Equal(expression.Value(f.TargetID)))
		}
		b = b.WithFilter(cond)
	}
	expr, err := b.Build()
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	in := dynamodb.QueryInput{
		TableName:                 aws.String(s.Tables.Config),
		IndexName:                 aws.String(IndexGSI1),
		KeyConditionExpression:    expr.KeyCondition(),
		FilterExpression:          expr.Filter(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ScanIndexForward:          aws.Bool(false),
	}
	var out []AuditRecord
	next, err := fetchPage(ctx, start, limit, filtered, s.queryFetch(in), func(item map[string]types.AttributeValue) (bool, error) {
		var it auditItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return false, fmt.Errorf("decode audit record %s: %w", stringAttr(item, attrPK), err)
		}
		if err := rules.CheckSchema("audit", it.SchemaVersion, rules.AuditSchemaVersion); err != nil {
			return false, fmt.Errorf("audit record %s: %w", it.ID, err)
		}
		out = append(out, it.AuditRecord)
		return true, nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	return out, indexCursor(listingAudit, next), nil
}
