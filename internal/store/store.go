package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Errors callers decide on with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrVersionConflict means the item changed since the version the
	// caller read: optimistic concurrency refused the write.
	ErrVersionConflict = errors.New("version conflict: the item was changed by someone else")
)

// Store is typed access to Tollgate's tables.
type Store struct {
	DB     *dynamodb.Client
	Tables Tables
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New returns a Store on the tables named by prefix.
func New(db *dynamodb.Client, prefix string) *Store {
	return &Store{DB: db, Tables: TableNames(prefix)}
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Bootstrap creates the tables if needed.
func (s *Store) Bootstrap(ctx context.Context) error { return Bootstrap(ctx, s.DB, s.Tables) }

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// getItem reads one item into out; consistent reads are used by the admin
// path, eventually consistent ones (half the cost) by the data plane.
func (s *Store) getItem(ctx context.Context, table, pk, sk string, consistent bool, out any) error {
	res, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            itemKey(pk, sk),
		ConsistentRead: aws.Bool(consistent),
	})
	if err != nil {
		return err
	}
	if len(res.Item) == 0 {
		return ErrNotFound
	}
	if err := attributevalue.UnmarshalMap(res.Item, out); err != nil {
		return fmt.Errorf("decode %s/%s: %w", pk, sk, err)
	}
	return nil
}

func itemKey(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: pk},
		attrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

// putVersioned writes item. With version 1 the item must not exist yet;
// otherwise the stored version must be version-1 (the one the caller read).
func (s *Store) putVersioned(ctx context.Context, table string, item any, version int64) error {
	av, err := attributevalue.MarshalMap(item)
	if err != nil {
		return err
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(table), Item: av}
	if version <= 1 {
		in.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		in.ConditionExpression = aws.String("version = :prev")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{
			":prev": &types.AttributeValueMemberN{Value: fmt.Sprint(version - 1)},
		}
	}
	_, err = s.DB.PutItem(ctx, in)
	if isConditionFailed(err) {
		if version <= 1 {
			return ErrExists
		}
		return ErrVersionConflict
	}
	return err
}
