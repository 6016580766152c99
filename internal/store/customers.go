package store

import (
	"context"
	"fmt"
	"time"

	"github.com/tollgate-dev/tollgate/internal/rules"
)

// Customer is a customer record: who may call, which models, within which
// limits.
type Customer struct {
	ID            string            `dynamodbav:"id"`
	Name          string            `dynamodbav:"name"`
	Contact       string            `dynamodbav:"contact,omitempty"`
	Status        string            `dynamodbav:"status"`
	Tier          string            `dynamodbav:"tier,omitempty"`
	AllowedModels []string          `dynamodbav:"allowed_models,omitempty"`
	Limits        rules.Limits      `dynamodbav:"limits"`
	Tags          map[string]string `dynamodbav:"tags,omitempty"`
	Version       int64             `dynamodbav:"version"`
	SchemaVersion int               `dynamodbav:"schema_version"`
	CreatedAt     time.Time         `dynamodbav:"created_at"`
	UpdatedAt     time.Time         `dynamodbav:"updated_at"`
}

type customerItem struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	GSI1PK string `dynamodbav:"gsi1pk"`
	GSI1SK string `dynamodbav:"gsi1sk"`
	Customer
}

const (
	customerSK      = "CUSTOMER"
	customersGSI1PK = "CUSTOMERS"
)

func customerPK(id string) string { return "CUSTOMER#" + id }

// PutCustomer creates (Version 0 or 1) or replaces a customer. On replace,
// c.Version must be the version read plus one; a concurrent change makes it
// fail with ErrVersionConflict. Timestamps and the schema version are set
// here.
func (s *Store) PutCustomer(ctx context.Context, c *Customer) error {
	if err := rules.ValidateCustomerID(c.ID); err != nil {
		return err
	}
	now := s.now()
	if c.Version <= 1 {
		c.Version = 1
		c.CreatedAt = now
	}
	c.UpdatedAt = now
	c.SchemaVersion = rules.CustomerSchemaVersion
	item := customerItem{PK: customerPK(c.ID), SK: customerSK, GSI1PK: customersGSI1PK, GSI1SK: c.ID, Customer: *c}
	if err := s.putVersioned(ctx, s.Tables.Config, item, c.Version); err != nil {
		return fmt.Errorf("put customer %q: %w", c.ID, err)
	}
	return nil
}

// GetCustomer reads a customer. It refuses a record of an unknown newer
// schema version with rules.ErrUnknownSchema.
func (s *Store) GetCustomer(ctx context.Context, id string, consistent bool) (*Customer, error) {
	var it customerItem
	if err := s.getItem(ctx, s.Tables.Config, customerPK(id), customerSK, consistent, &it); err != nil {
		return nil, fmt.Errorf("get customer %q: %w", id, err)
	}
	if err := rules.CheckSchema("customer", it.SchemaVersion, rules.CustomerSchemaVersion); err != nil {
		return nil, err
	}
	return &it.Customer, nil
}
