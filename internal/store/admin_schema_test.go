package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/regional/apierror"
	"github.com/tollgate-dev/tollgate/regional/auth"
)

// TestDataPlaneRefusesNewerKeySchema stores a key as a newer release
// would (schema version one above this release's) and checks that the data
// plane's key cache refuses it with a clear error, without a panic and
// without treating it as valid.
func TestDataPlaneRefusesNewerKeySchema(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.PutCustomer(ctx, &store.Customer{ID: "acme", Name: "Acme", Status: rules.CustomerActive, AllowedModels: []string{"*"}}); err != nil {
		t.Fatal(err)
	}
	secret, k, err := store.NewKey("acme", "from the future", nil)
	if err != nil {
		t.Fatal(err)
	}
	k.Version, k.SchemaVersion = 1, rules.KeySchemaVersion+1
	av, err := attributevalue.MarshalMap(k)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"pk": "KEY#" + k.ID, "sk": "KEY", "gsi1pk": "CUSTOMER#acme#KEYS", "gsi1sk": "2026-01-01T00:00:00Z#" + k.ID} {
		av[name] = &types.AttributeValueMemberS{Value: v}
	}
	if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Tables.Config), Item: av}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetKey(ctx, k.ID, false); !errors.Is(err, rules.ErrUnknownSchema) {
		t.Fatalf("GetKey: %v, want rules.ErrUnknownSchema", err)
	}
	p, _, err := auth.NewCache(s, auth.Config{}).Authenticate(ctx, secret, time.Now())
	var ae *apierror.Error
	if p != nil || !errors.As(err, &ae) || !strings.Contains(ae.Message, "newer Tollgate release") {
		t.Fatalf("Authenticate = %v, %v; want a refusal naming the newer release", p, err)
	}
}
