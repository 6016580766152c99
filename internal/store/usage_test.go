package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate-dev/tollgate/internal/store"
)

func comp(customer string, hour time.Time, writer, served, model string, seq uint64, in, out int64) *store.UsageComponent {
	return &store.UsageComponent{
		UsageComponentKey: store.UsageComponentKey{
			CustomerID: customer, Hour: hour, WriterRegion: "us-east-1", WriterID: writer,
			ServedRegion: served, Model: model,
		},
		UsageCounts: store.UsageCounts{Requests: 1, InputTokens: in, OutputTokens: out},
		Seq:         seq,
	}
}

func TestUsageComponentSequence(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	hour := time.Date(2025, 3, 4, 5, 0, 0, 0, time.UTC)
	c := comp("acme", hour, "w1", "us-east-1", "anthropic.claude-x", 10, 100, 50)
	c.ErrorsByType = map[string]int64{"ThrottlingException": 2}
	c.Errors = 2
	if err := s.PutUsageComponent(ctx, c); err != nil {
		t.Fatal(err)
	}
	// Same sequence again (a re-sent flush) and an older one are refused.
	if err := s.PutUsageComponent(ctx, c); !errors.Is(err, store.ErrStaleSequence) {
		t.Fatalf("re-send: %v", err)
	}
	old := comp("acme", hour, "w1", "us-east-1", "anthropic.claude-x", 9, 1, 1)
	if err := s.PutUsageComponent(ctx, old); !errors.Is(err, store.ErrStaleSequence) {
		t.Fatalf("older: %v", err)
	}
	newer := comp("acme", hour, "w1", "us-east-1", "anthropic.claude-x", 11, 120, 60)
	if err := s.PutUsageComponent(ctx, newer); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUsageComponent(ctx, newer.UsageComponentKey, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != 11 || got.InputTokens != 120 || got.OutputTokens != 60 || got.SchemaVersion != 1 || !got.Hour.Equal(hour) || got.Model != "anthropic.claude-x" {
		t.Fatalf("got %+v", got)
	}
	missing := newer.UsageComponentKey
	missing.Model = "other"
	if _, err := s.GetUsageComponent(ctx, missing, true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
}

func TestCustomerUsageRanges(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	jan31 := time.Date(2025, 1, 31, 23, 0, 0, 0, time.UTC)
	feb1 := jan31.Add(time.Hour)
	feb2 := feb1.Add(24 * time.Hour)
	longModel := "arn:aws:bedrock:us-east-1:123456789012:inference-profile/" + strings.Repeat("m", 600)
	for i, c := range []*store.UsageComponent{
		comp("acme", jan31, "w1", "us-east-1", "m1", 1, 1, 10),
		comp("acme", jan31, "w2", "eu-west-1", "m1", 1, 2, 20),
		comp("acme", feb1, "w1", "us-east-1", "m1", 2, 4, 40),
		comp("acme", feb1, "w1", "us-east-1", longModel, 3, 8, 80),
		comp("acme", feb2, "w1", "us-east-1", "m2", 4, 16, 160),
		comp("other", feb1, "w1", "us-east-1", "m1", 5, 32, 320),
	} {
		if err := s.PutUsageComponent(ctx, c); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	tests := []struct {
		name     string
		from, to time.Time
		input    int64
		n        int
	}{
		{"all", jan31, feb2.Add(time.Hour), 1 + 2 + 4 + 8 + 16, 5},
		{"across months", jan31.Add(30 * time.Minute), feb1.Add(time.Minute), 1 + 2 + 4 + 8, 4},
		{"one hour", feb1, feb1.Add(time.Hour), 4 + 8, 2},
		{"end excluded", jan31, feb1, 1 + 2, 2},
		{"empty", feb1.Add(time.Hour), feb2, 0, 0},
		{"reversed", feb2, feb1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			total, comps, err := s.CustomerUsage(ctx, "acme", tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if total.InputTokens != tt.input || total.OutputTokens != 10*tt.input || len(comps) != tt.n || total.Requests != int64(tt.n) {
				t.Fatalf("total %+v from %d components, want input %d from %d", total, len(comps), tt.input, tt.n)
			}
		})
	}
	_, comps, _ := s.CustomerUsage(ctx, "acme", feb1, feb1.Add(time.Hour))
	found := false
	for _, c := range comps {
		found = found || c.Model == longModel
	}
	if !found {
		t.Fatal("long model id not returned in full")
	}

	hour, err := s.HourUsage(ctx, feb1.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var in int64
	for _, c := range hour {
		in += c.InputTokens
	}
	if len(hour) != 3 || in != 4+8+32 {
		t.Fatalf("HourUsage: %d components, input %d", len(hour), in)
	}
}

func TestUsageKeyValidation(t *testing.T) {
	s := store.New(nil, "x-") // never reaches DynamoDB
	hour := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, c := range map[string]*store.UsageComponent{
		"bad customer":  comp("Acme!", hour, "w", "r", "m", 1, 0, 0),
		"hash in model": comp("acme", hour, "w", "r", "m#1", 1, 0, 0),
		"empty region":  comp("acme", hour, "w", "", "m", 1, 0, 0),
		"not an hour":   comp("acme", hour.Add(time.Minute), "w", "r", "m", 1, 0, 0),
	} {
		if err := s.PutUsageComponent(context.Background(), c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestUsageCountsAdd(t *testing.T) {
	a := store.UsageCounts{Requests: 1, Errors: 1, ErrorsByType: map[string]int64{"x": 1}, InputTokens: 2}
	b := a.Clone()
	b.ErrorsByType["y"] = 3
	a.Add(&b)
	if a.Requests != 2 || a.Errors != 2 || a.ErrorsByType["x"] != 2 || a.ErrorsByType["y"] != 3 || a.InputTokens != 4 || a.TotalTokens() != 4 {
		t.Fatalf("got %+v", a)
	}
	var z store.UsageCounts
	z.Add(&a)
	if z.ErrorsByType["y"] != 3 {
		t.Fatalf("add to zero: %+v", z)
	}
}

// The item layout is what the aggregator and docs/data-model.md rely on.
func TestUsageItemLayout(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	hour := time.Date(2025, 3, 4, 5, 0, 0, 0, time.UTC)
	if err := s.PutUsageComponent(ctx, comp("acme", hour, "w1", "us-west-2", "m1", 7, 1, 1)); err != nil {
		t.Fatal(err)
	}
	out, err := s.DB.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(s.Tables.Usage)})
	if err != nil || len(out.Items) != 1 {
		t.Fatalf("scan: %v %d", err, len(out.Items))
	}
	want := map[string]string{
		"pk":     "USAGE#acme#2025-03",
		"sk":     "2025-03-04T05#us-east-1#w1#us-west-2#m1",
		"gsi1sk": "acme#us-east-1#w1#us-west-2#m1",
	}
	for k, v := range want {
		if got := attrS(out.Items[0][k]); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if got := attrS(out.Items[0]["gsi1pk"]); !strings.HasPrefix(got, "USAGE_HOUR#2025-03-04T05#") {
		t.Errorf("gsi1pk = %q", got)
	}
}

func attrS(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}
