package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/tollgate-dev/tollgate/internal/rules"
)

// Key is an API key record. The secret itself is never stored: only its
// SHA-256 (Hash, hex), the display prefix (tg_<id>) and the last four
// characters.
type Key struct {
	ID          string     `dynamodbav:"id"`
	CustomerID  string     `dynamodbav:"customer_id"`
	Hash        string     `dynamodbav:"hash"`
	Prefix      string     `dynamodbav:"prefix"`
	Last4       string     `dynamodbav:"last4"`
	Status      string     `dynamodbav:"status"`
	Description string     `dynamodbav:"description,omitempty"`
	ExpiresAt   *time.Time `dynamodbav:"expires_at,omitempty"`
	RevokedAt   *time.Time `dynamodbav:"revoked_at,omitempty"`
	// ReplacedBy names the key that replaced this one in a rotation.
	ReplacedBy    string    `dynamodbav:"replaced_by,omitempty"`
	Version       int64     `dynamodbav:"version"`
	SchemaVersion int       `dynamodbav:"schema_version"`
	CreatedAt     time.Time `dynamodbav:"created_at"`
	UpdatedAt     time.Time `dynamodbav:"updated_at"`
}

// HashBytes decodes the stored hash.
func (k *Key) HashBytes() (rules.KeyHash, error) {
	var h rules.KeyHash
	b, err := hex.DecodeString(k.Hash)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("key %s: malformed stored hash", k.ID)
	}
	copy(h[:], b)
	return h, nil
}

type keyItem struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	GSI1PK string `dynamodbav:"gsi1pk"`
	GSI1SK string `dynamodbav:"gsi1sk"`
	Key
}

const keySK = "KEY"

func keyPK(id string) string { return "KEY#" + id }

// CustomerKeysGSI1PK is the index partition listing one customer's keys.
func customerKeysGSI1PK(customerID string) string { return "CUSTOMER#" + customerID + "#KEYS" }

// NewKey generates a key for a customer and returns the secret (to show
// once) with its record; the record is not stored yet.
func NewKey(customerID, description string, expiresAt *time.Time) (secret string, k *Key, err error) {
	secret, id, hash, err := rules.NewKey()
	if err != nil {
		return "", nil, err
	}
	prefix, last4 := rules.KeyDisplay(secret)
	return secret, &Key{
		ID: id, CustomerID: customerID, Hash: hex.EncodeToString(hash[:]),
		Prefix: prefix, Last4: last4, Status: rules.KeyActive,
		Description: description, ExpiresAt: expiresAt,
	}, nil
}

// PutKey creates (Version 0 or 1) or replaces a key record with optimistic
// concurrency, like PutCustomer.
func (s *Store) PutKey(ctx context.Context, k *Key) error {
	now := s.now()
	if k.Version <= 1 {
		k.Version = 1
		k.CreatedAt = now
	}
	k.UpdatedAt = now
	k.SchemaVersion = rules.KeySchemaVersion
	item := keyItem{
		PK: keyPK(k.ID), SK: keySK,
		GSI1PK: customerKeysGSI1PK(k.CustomerID), GSI1SK: k.CreatedAt.Format(time.RFC3339Nano) + "#" + k.ID,
		Key: *k,
	}
	if err := s.putVersioned(ctx, s.Tables.Config, item, k.Version); err != nil {
		return fmt.Errorf("put key %s: %w", k.ID, err)
	}
	return nil
}

// GetKey reads a key record by id: one GetItem.
func (s *Store) GetKey(ctx context.Context, id string, consistent bool) (*Key, error) {
	var it keyItem
	if err := s.getItem(ctx, s.Tables.Config, keyPK(id), keySK, consistent, &it); err != nil {
		return nil, fmt.Errorf("get key %s: %w", id, err)
	}
	if err := rules.CheckSchema("key", it.SchemaVersion, rules.KeySchemaVersion); err != nil {
		return nil, err
	}
	return &it.Key, nil
}

// RevokeKey marks a key revoked (idempotent for an already revoked key).
func (s *Store) RevokeKey(ctx context.Context, id string) (*Key, error) {
	k, err := s.GetKey(ctx, id, true)
	if err != nil {
		return nil, err
	}
	if k.Status == rules.KeyRevoked {
		return k, nil
	}
	now := s.now()
	k.Status = rules.KeyRevoked
	k.RevokedAt = &now
	k.Version++
	return k, s.PutKey(ctx, k)
}
