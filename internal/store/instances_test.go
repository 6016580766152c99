package store_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate-dev/tollgate/internal/store"
)

func TestInstanceHeartbeats(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	t0 := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
	beat := func(region, id string, at time.Time) {
		t.Helper()
		err := s.PutInstance(ctx, store.Instance{Region: region, ID: id, StartedAt: t0, BeatAt: at, ExpiresAt: at.Add(10 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
	}
	ids := func(region string, now time.Time) []string {
		t.Helper()
		got, err := s.ListInstances(ctx, region, now)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, in := range got {
			if in.Region != region {
				t.Fatalf("instance %s listed under %s has region %s", in.ID, region, in.Region)
			}
			out = append(out, in.ID)
		}
		slices.Sort(out)
		return out
	}

	beat("us-east-1", "a", t0)
	beat("us-east-1", "b", t0.Add(500*time.Millisecond))
	beat("us-west-2", "c", t0)
	if got := ids("us-east-1", t0.Add(time.Second)); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("us-east-1: %v", got)
	}
	if got := ids("us-west-2", t0.Add(time.Second)); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("us-west-2: %v", got)
	}
	// a's heartbeat expires at exactly t0+10s: gone at that instant, b
	// (written half a second later) not yet.
	if got := ids("us-east-1", t0.Add(10*time.Second)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("after a's expiry: %v", got)
	}
	// A refreshed heartbeat brings it back.
	beat("us-east-1", "a", t0.Add(9*time.Second))
	if got := ids("us-east-1", t0.Add(12*time.Second)); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("after refresh: %v", got)
	}
	if err := s.DeleteInstance(ctx, "us-east-1", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteInstance(ctx, "us-east-1", "a"); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if got := ids("us-east-1", t0.Add(time.Second)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("after delete: %v", got)
	}
	if err := s.PutInstance(ctx, store.Instance{Region: "us-east-1"}); err == nil {
		t.Fatal("empty instance id accepted")
	}
}

// The TTL attribute is epoch seconds rounded up, so DynamoDB TTL never
// deletes an item before ExpiresAt.
func TestInstanceTTLAttribute(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	exp := time.Unix(1_750_000_000, 250_000_000)
	if err := s.PutInstance(ctx, store.Instance{Region: "eu-west-1", ID: "x", BeatAt: exp.Add(-time.Second), ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	res, err := s.DB.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(s.Tables.Config)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != 1 {
		t.Fatalf("%d items", len(res.Items))
	}
	n, ok := res.Items[0][store.AttrExpiresAt].(*types.AttributeValueMemberN)
	if !ok || n.Value != strconv.FormatInt(exp.Unix()+1, 10) {
		t.Fatalf("%s = %#v, want %d", store.AttrExpiresAt, res.Items[0][store.AttrExpiresAt], exp.Unix()+1)
	}
}
