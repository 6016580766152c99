package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate-dev/tollgate/internal/rules"
)

// Usage components (docs/data-model.md, "Usage components").
//
// Usage is stored as writer-owned components: one item per (customer,
// hour, writer region, writer id, served region, model), written only by
// the one metering writer that owns it, holding that writer's cumulative
// totals and the sequence number (the writer's WAL LSN) they include.
// Global Tables resolve concurrent writes to an item by last-writer-wins,
// so counters that several regions ADD to lose increments; items with one
// writer each, summed on read, cannot.

// ErrStaleSequence is returned by PutUsageComponent when the stored
// component already has the same or a higher sequence number: the write
// was refused, and the stored item is at least as new as the one offered.
var ErrStaleSequence = errors.New("usage component: stored sequence is the same or newer")

// UsageHourShards is the number of index partitions one hour of usage is
// spread over in gsi1. Every writer of every region writes the hour's
// components about once a second; a single index partition per hour would
// cap that at DynamoDB's per-partition write rate (1,000 WCU/s), and a
// throttled index throttles the table. Readers of an hour query all shards.
const UsageHourShards = 16

// maxModelKeyLen bounds the model part of a sort key. Bedrock model ids
// (ARNs included) may be up to 2,048 bytes and DynamoDB sort keys up to
// 1,024; longer ids are replaced by a hash in the key (the item keeps the
// full id).
const maxModelKeyLen = 256

// UsageCounts are additive usage counters. Every field is a sum, so
// counts from several components (regions, writers, hours, models) add up.
type UsageCounts struct {
	Requests int64 `dynamodbav:"requests" json:"requests"`
	// Errors counts requests that ended in an error; ErrorsByType splits
	// them by error type (Bedrock's or Tollgate's error type name).
	Errors           int64            `dynamodbav:"errors" json:"errors"`
	ErrorsByType     map[string]int64 `dynamodbav:"errors_by_type,omitempty" json:"errors_by_type,omitempty"`
	InputTokens      int64            `dynamodbav:"input_tokens" json:"input_tokens"`
	OutputTokens     int64            `dynamodbav:"output_tokens" json:"output_tokens"`
	CacheReadTokens  int64            `dynamodbav:"cache_read_tokens" json:"cache_read_tokens"`
	CacheWriteTokens int64            `dynamodbav:"cache_write_tokens" json:"cache_write_tokens"`
	// LatencyMsSum is the sum of the gateway-measured request latencies;
	// divided by Requests it is the mean.
	LatencyMsSum int64 `dynamodbav:"latency_ms_sum" json:"latency_ms_sum"`
	// UpstreamLatencyMsSum is the sum of the latencies Bedrock reported.
	UpstreamLatencyMsSum int64 `dynamodbav:"upstream_latency_ms_sum" json:"upstream_latency_ms_sum"`
}

// Add adds o to c.
func (c *UsageCounts) Add(o *UsageCounts) {
	c.Requests += o.Requests
	c.Errors += o.Errors
	c.InputTokens += o.InputTokens
	c.OutputTokens += o.OutputTokens
	c.CacheReadTokens += o.CacheReadTokens
	c.CacheWriteTokens += o.CacheWriteTokens
	c.LatencyMsSum += o.LatencyMsSum
	c.UpstreamLatencyMsSum += o.UpstreamLatencyMsSum
	for k, v := range o.ErrorsByType {
		if c.ErrorsByType == nil {
			c.ErrorsByType = make(map[string]int64, len(o.ErrorsByType))
		}
		c.ErrorsByType[k] += v
	}
}

// Clone returns a copy that shares no map with c.
func (c *UsageCounts) Clone() UsageCounts {
	out := *c
	out.ErrorsByType = nil
	if len(c.ErrorsByType) > 0 {
		out.ErrorsByType = make(map[string]int64, len(c.ErrorsByType))
		for k, v := range c.ErrorsByType {
			out.ErrorsByType[k] = v
		}
	}
	return out
}

// TotalTokens is input + output + cache-read + cache-write tokens.
func (c *UsageCounts) TotalTokens() int64 {
	return c.InputTokens + c.OutputTokens + c.CacheReadTokens + c.CacheWriteTokens
}

// UsageComponentKey identifies a usage component. Hour is the UTC start of
// the hour.
type UsageComponentKey struct {
	CustomerID string    `dynamodbav:"customer_id" json:"customer_id"`
	Hour       time.Time `dynamodbav:"hour" json:"hour"`
	// WriterRegion and WriterID name the metering writer that owns the
	// component: the region it runs in and its stable id.
	WriterRegion string `dynamodbav:"writer_region" json:"writer_region"`
	WriterID     string `dynamodbav:"writer_id" json:"writer_id"`
	// ServedRegion is the Bedrock region that served the calls; it differs
	// from WriterRegion after a failover.
	ServedRegion string `dynamodbav:"served_region" json:"served_region"`
	Model        string `dynamodbav:"model" json:"model"`
}

// Validate checks that every part can be put in a key: the customer id by
// the shared rule, the others non-empty, at most 2,048 bytes and free of
// the '#' separator. The metering writer calls it when an event is
// recorded, so that an event that could never be flushed is refused at
// once instead of blocking the flush later.
func (k *UsageComponentKey) Validate() error {
	if err := rules.ValidateCustomerID(k.CustomerID); err != nil {
		return fmt.Errorf("usage key: %w", err)
	}
	if k.Hour.IsZero() || !k.Hour.Equal(k.Hour.Truncate(time.Hour)) {
		return fmt.Errorf("usage key: hour %v is not the start of an hour", k.Hour)
	}
	for _, p := range [...]struct{ name, v string }{
		{"writer region", k.WriterRegion}, {"writer id", k.WriterID},
		{"served region", k.ServedRegion}, {"model", k.Model},
	} {
		if p.v == "" || len(p.v) > rules.MaxModelIDLen || strings.ContainsRune(p.v, '#') {
			return fmt.Errorf("usage key: %s %q must be 1 to %d bytes without '#'", p.name, p.v, rules.MaxModelIDLen)
		}
	}
	return nil
}

// UsageComponent is one writer's cumulative usage for one key.
type UsageComponent struct {
	UsageComponentKey
	UsageCounts
	// Seq is the highest writer sequence number (WAL LSN) the counts
	// include. A write is accepted only with a higher Seq than stored.
	Seq           uint64    `dynamodbav:"seq" json:"seq"`
	SchemaVersion int       `dynamodbav:"schema_version" json:"schema_version"`
	UpdatedAt     time.Time `dynamodbav:"updated_at" json:"updated_at"`
}

type usageItem struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	GSI1PK string `dynamodbav:"gsi1pk"`
	GSI1SK string `dynamodbav:"gsi1sk"`
	UsageComponent
}

const (
	monthLayout = "2006-01"
	hourLayout  = "2006-01-02T15"
)

func usagePK(customerID string, hour time.Time) string {
	return "USAGE#" + customerID + "#" + hour.UTC().Format(monthLayout)
}

// modelKey is the model as it appears in keys: itself, or a hash for ids
// too long for a sort key.
func modelKey(model string) string {
	if len(model) <= maxModelKeyLen {
		return model
	}
	sum := sha256.Sum256([]byte(model))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// writerPart is the sort-key suffix after the hour; it makes the key unique
// per writer, served region and model.
func (k *UsageComponentKey) writerPart() string {
	return k.WriterRegion + "#" + k.WriterID + "#" + k.ServedRegion + "#" + modelKey(k.Model)
}

func (k *UsageComponentKey) sk() string {
	return k.Hour.UTC().Format(hourLayout) + "#" + k.writerPart()
}

func usageHourGSI1PK(customerID string, hour time.Time) string {
	h := fnv.New32a()
	h.Write([]byte(customerID))
	return hourShardPK(hour, int(h.Sum32()%UsageHourShards))
}

func hourShardPK(hour time.Time, shard int) string {
	return "USAGE_HOUR#" + hour.UTC().Format(hourLayout) + "#" + strconv.Itoa(shard)
}

func (c *UsageComponent) item() usageItem {
	return usageItem{
		PK:             usagePK(c.CustomerID, c.Hour),
		SK:             c.sk(),
		GSI1PK:         usageHourGSI1PK(c.CustomerID, c.Hour),
		GSI1SK:         c.CustomerID + "#" + c.writerPart(),
		UsageComponent: *c,
	}
}

// PutUsageComponent stores c if the stored component is older: the write
// is conditional on attribute_not_exists(pk) OR seq < c.Seq, so sending the
// same flush twice is harmless and an older flush never overwrites a newer
// one. A refused write returns ErrStaleSequence. It sets SchemaVersion and
// UpdatedAt.
func (s *Store) PutUsageComponent(ctx context.Context, c *UsageComponent) error {
	if err := c.Validate(); err != nil {
		return err
	}
	c.Hour = c.Hour.UTC()
	c.SchemaVersion = rules.UsageSchemaVersion
	c.UpdatedAt = s.now()
	av, err := attributevalue.MarshalMap(c.item())
	if err != nil {
		return fmt.Errorf("encode usage component: %w", err)
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.Tables.Usage),
		Item:                av,
		ConditionExpression: aws.String("attribute_not_exists(pk) OR seq < :seq"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":seq": &types.AttributeValueMemberN{Value: strconv.FormatUint(c.Seq, 10)},
		},
	})
	if isConditionFailed(err) {
		return ErrStaleSequence
	}
	if err != nil {
		return fmt.Errorf("put usage component %s/%s: %w", usagePK(c.CustomerID, c.Hour), c.sk(), err)
	}
	return nil
}

// GetUsageComponent reads one component; ErrNotFound when absent. The
// metering writer reads with consistent=true when it reconciles its log
// with what it already flushed.
func (s *Store) GetUsageComponent(ctx context.Context, k UsageComponentKey, consistent bool) (*UsageComponent, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	var it usageItem
	if err := s.getItem(ctx, s.Tables.Usage, usagePK(k.CustomerID, k.Hour), k.sk(), consistent, &it); err != nil {
		return nil, fmt.Errorf("get usage component: %w", err)
	}
	if err := rules.CheckSchema("usage", it.SchemaVersion, rules.UsageSchemaVersion); err != nil {
		return nil, err
	}
	return &it.UsageComponent, nil
}

// CustomerUsage sums a customer's usage over the hours that start in
// [from, to) (both rounded down to the hour), across every region, writer
// and model, and returns the components it summed so the caller can break
// them down (by model, served region, hour). It queries one partition per
// calendar month with a sort-key range on the hour: reads grow with the
// number of components in the period, not with requests. Reads are
// eventually consistent.
func (s *Store) CustomerUsage(ctx context.Context, customerID string, from, to time.Time) (UsageCounts, []UsageComponent, error) {
	var total UsageCounts
	if err := rules.ValidateCustomerID(customerID); err != nil {
		return total, nil, err
	}
	from, to = from.UTC().Truncate(time.Hour), to.UTC()
	if !to.After(from) {
		return total, nil, nil
	}
	last := to.Add(-time.Nanosecond).Truncate(time.Hour)
	var comps []UsageComponent
	for month := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC); !month.After(last); month = month.AddDate(0, 1, 0) {
		lo, hi := maxTime(from, month), minTime(last, month.AddDate(0, 1, 0).Add(-time.Hour))
		// '$' sorts right after the '#' separator, so the range ends after
		// every component of the last hour.
		in := &dynamodb.QueryInput{
			TableName:              aws.String(s.Tables.Usage),
			KeyConditionExpression: aws.String("pk = :pk AND sk BETWEEN :lo AND :hi"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": &types.AttributeValueMemberS{Value: usagePK(customerID, month)},
				":lo": &types.AttributeValueMemberS{Value: lo.Format(hourLayout) + "#"},
				":hi": &types.AttributeValueMemberS{Value: hi.Format(hourLayout) + "$"},
			},
		}
		var err error
		if comps, err = s.queryUsage(ctx, in, comps); err != nil {
			return total, nil, fmt.Errorf("usage of %q: %w", customerID, err)
		}
	}
	for i := range comps {
		total.Add(&comps[i].UsageCounts)
	}
	return total, comps, nil
}

// HourUsage returns every component of one hour (rounded down), of every
// customer, region and writer, through gsi1: the aggregator's read. Index
// reads are eventually consistent, and a component that is being written
// may show its previous value; components only grow, so a later read
// converges.
func (s *Store) HourUsage(ctx context.Context, hour time.Time) ([]UsageComponent, error) {
	hour = hour.UTC().Truncate(time.Hour)
	var comps []UsageComponent
	for shard := range UsageHourShards {
		in := &dynamodb.QueryInput{
			TableName:              aws.String(s.Tables.Usage),
			IndexName:              aws.String(IndexGSI1),
			KeyConditionExpression: aws.String("gsi1pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": &types.AttributeValueMemberS{Value: hourShardPK(hour, shard)},
			},
		}
		var err error
		if comps, err = s.queryUsage(ctx, in, comps); err != nil {
			return nil, fmt.Errorf("usage of hour %s: %w", hour.Format(hourLayout), err)
		}
	}
	return comps, nil
}

func (s *Store) queryUsage(ctx context.Context, in *dynamodb.QueryInput, out []UsageComponent) ([]UsageComponent, error) {
	p := dynamodb.NewQueryPaginator(s.DB, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return out, err
		}
		for _, av := range page.Items {
			var it usageItem
			if err := attributevalue.UnmarshalMap(av, &it); err != nil {
				return out, fmt.Errorf("decode usage component: %w", err)
			}
			if err := rules.CheckSchema("usage", it.SchemaVersion, rules.UsageSchemaVersion); err != nil {
				return out, err
			}
			out = append(out, it.UsageComponent)
		}
	}
	return out, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
