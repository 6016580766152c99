package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Instance is the heartbeat of one regional process. Every process writes
// its own item every few seconds, so that the processes of a region can
// count each other and split each customer's rate limit between them
// (regional/ratelimit). A process that stops writing (crash, partition)
// drops out of the count once ExpiresAt has passed.
//
// Layout: pk "INSTANCES#<region>", sk "<instance id>" in the config table,
// so that counting a region's live instances is one Query on one partition.
// ExpiresAt is also written as AttrExpiresAt (epoch seconds, rounded up) for
// DynamoDB TTL, which deletes dead instances' items eventually; readers never
// rely on it (TTL deletion can lag by days, and dynalite has none) and check
// ExpiresAt themselves.
type Instance struct {
	Region string `dynamodbav:"region"`
	ID     string `dynamodbav:"instance_id"`
	// StartedAt is when the process started; informational.
	StartedAt time.Time `dynamodbav:"started_at"`
	// BeatAt is when the heartbeat was written, on the writer's clock.
	BeatAt time.Time `dynamodbav:"beat_at"`
	// ExpiresAt is when the instance counts as gone unless it writes
	// again, on the writer's clock.
	ExpiresAt time.Time `dynamodbav:"expires_at"`
}

type instanceItem struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk"`
	Instance
	ExpiresAtEpoch int64 `dynamodbav:"expires_at_epoch"`
}

// MaxInstanceIDLen bounds instance ids; they are sort keys and log fields.
const MaxInstanceIDLen = 128

func instancesPK(region string) string { return "INSTANCES#" + region }

func validInstanceKey(region, id string) error {
	if region == "" || id == "" {
		return errors.New("instance heartbeat needs a region and an instance id")
	}
	if len(id) > MaxInstanceIDLen {
		return fmt.Errorf("instance id must be at most %d bytes, got %d", MaxInstanceIDLen, len(id))
	}
	return nil
}

// PutInstance writes (creates or refreshes) an instance's heartbeat: one
// unconditional PutItem. Only the instance itself writes its item, so last
// writer wins is the right resolution.
func (s *Store) PutInstance(ctx context.Context, in Instance) error {
	if err := validInstanceKey(in.Region, in.ID); err != nil {
		return err
	}
	epoch := in.ExpiresAt.Unix()
	if in.ExpiresAt.After(time.Unix(epoch, 0)) {
		epoch++ // round up: TTL must never delete a live instance's item
	}
	av, err := attributevalue.MarshalMap(instanceItem{
		PK: instancesPK(in.Region), SK: in.ID, Instance: in, ExpiresAtEpoch: epoch,
	})
	if err != nil {
		return err
	}
	if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Tables.Config), Item: av}); err != nil {
		return fmt.Errorf("put heartbeat of instance %s/%s: %w", in.Region, in.ID, err)
	}
	return nil
}

// ListInstances returns the instances of a region whose heartbeat has not
// expired at now: one strongly consistent Query (a heartbeat written a
// moment ago in this region is seen), paginated. Expired items that TTL has
// not deleted yet are skipped here.
func (s *Store) ListInstances(ctx context.Context, region string, now time.Time) ([]Instance, error) {
	if region == "" {
		return nil, errors.New("list instances: region is required")
	}
	expr, err := expression.NewBuilder().
		WithKeyCondition(expression.Key(attrPK).Equal(expression.Value(instancesPK(region)))).
		Build()
	if err != nil {
		return nil, err
	}
	p := dynamodb.NewQueryPaginator(s.DB, &dynamodb.QueryInput{
		TableName:                 aws.String(s.Tables.Config),
		KeyConditionExpression:    expr.KeyCondition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
		ConsistentRead:            aws.Bool(true),
	})
	var out []Instance
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list instances of %s: %w", region, err)
		}
		for _, av := range page.Items {
			var it instanceItem
			if err := attributevalue.UnmarshalMap(av, &it); err != nil {
				return nil, fmt.Errorf("decode heartbeat %v: %w", av[attrSK], err)
			}
			if it.ExpiresAt.After(now) {
				out = append(out, it.Instance)
			}
		}
	}
	return out, nil
}

// DeleteInstance removes an instance's heartbeat, so that the others stop
// counting it at their next recount instead of after its expiry. Deleting a
// missing item is not an error.
func (s *Store) DeleteInstance(ctx context.Context, region, id string) error {
	if err := validInstanceKey(region, id); err != nil {
		return err
	}
	_, err := s.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.Tables.Config),
		Key:       itemKey(instancesPK(region), id),
	})
	if err != nil {
		return fmt.Errorf("delete heartbeat of instance %s/%s: %w", region, id, err)
	}
	return nil
}
