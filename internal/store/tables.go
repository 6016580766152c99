// Package store is Tollgate's DynamoDB data model: the table definitions,
// idempotent bootstrap, and typed access to customers, keys and usage.
// docs/data-model.md describes the items; this package is the only code that
// knows their key layout.
//
// The design uses only single-item operations (GetItem, PutItem and
// UpdateItem with conditions, Query, BatchWriteItem): no transactions, which
// dynalite lacks and which Global Tables replicate item by item anyway, and
// no UpdateTimeToLive, which Terraform configures in AWS; expiry is always
// also checked in code.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names shared by both tables.
const (
	attrPK     = "pk"
	attrSK     = "sk"
	attrGSI1PK = "gsi1pk"
	attrGSI1SK = "gsi1sk"
	// IndexGSI1 is the one global secondary index of each table.
	IndexGSI1 = "gsi1"
	// AttrExpiresAt holds an epoch-seconds expiry, the attribute Terraform
	// enables DynamoDB TTL on.
	AttrExpiresAt = "expires_at_epoch"
)

// Tables names Tollgate's tables.
type Tables struct {
	// Config holds customers, keys, audit records and instance heartbeats.
	Config string
	// Usage holds writer-owned usage components.
	Usage string
}

// DefaultPrefix is the table-name prefix when none is configured.
const DefaultPrefix = "tollgate-"

// TableNames returns the table names for a prefix.
func TableNames(prefix string) Tables {
	return Tables{Config: prefix + "config", Usage: prefix + "usage"}
}

// Definitions returns the CreateTable inputs for every table. Terraform
// declares the same schema for AWS (terraform/modules/tables); a test keeps
// the two in step.
func (t Tables) Definitions() []*dynamodb.CreateTableInput {
	def := func(name string) *dynamodb.CreateTableInput {
		return &dynamodb.CreateTableInput{
			TableName:   aws.String(name),
			BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{
				{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(attrGSI1PK), AttributeType: types.ScalarAttributeTypeS},
				{AttributeName: aws.String(attrGSI1SK), AttributeType: types.ScalarAttributeTypeS},
			},
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
			},
			GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
				IndexName: aws.String(IndexGSI1),
				KeySchema: []types.KeySchemaElement{
					{AttributeName: aws.String(attrGSI1PK), KeyType: types.KeyTypeHash},
					{AttributeName: aws.String(attrGSI1SK), KeyType: types.KeyTypeRange},
				},
				Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
			}},
			// Global Tables replicate through streams.
			StreamSpecification: &types.StreamSpecification{
				StreamEnabled:  aws.Bool(true),
				StreamViewType: types.StreamViewTypeNewAndOldImages,
			},
		}
	}
	return []*dynamodb.CreateTableInput{def(t.Config), def(t.Usage)}
}

// Bootstrap creates every missing table and waits until all are ACTIVE. It
// is idempotent: existing tables are left as they are.
func Bootstrap(ctx context.Context, db *dynamodb.Client, t Tables) error {
	for _, in := range t.Definitions() {
		_, err := db.CreateTable(ctx, in)
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) {
			return fmt.Errorf("create table %s: %w", *in.TableName, err)
		}
	}
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = time.Second
	})
	for _, in := range t.Definitions() {
		if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName}, 2*time.Minute); err != nil {
			return fmt.Errorf("wait for table %s: %w", *in.TableName, err)
		}
	}
	return nil
}
