package admin

import (
	"errors"
	"net/http"
	"time"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/internal/store"
)

// Bounds on key lifetimes.
const (
	// maxKeyLifetime bounds expires_at and expires_in: a key meant to
	// live longer should not expire at all.
	maxKeyLifetime = 3650 * 24 * time.Hour
	// maxGracePeriod bounds a rotation's grace period.
	maxGracePeriod = 90 * 24 * time.Hour
	// maxExpiringWithin bounds the expiring-keys window.
	maxExpiringWithin = maxKeyLifetime
)

// keyView is a key as the API shows it: never its hash.
func keyView(k *store.Key) adminclient.Key {
	return adminclient.Key{
		ID: k.ID, CustomerID: k.CustomerID, Prefix: k.Prefix, Last4: k.Last4, Status: k.Status,
		Description: k.Description, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, ReplacedBy: k.ReplacedBy,
		Version: k.Version, CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt,
	}
}

// expiry reads expires_at or expires_in; nil means no expiry.
func (c *call) expiry(f *fieldErrors, at, in string) *time.Time {
	switch {
	case at != "" && in != "":
		f.add("expires_in", "give expires_at or expires_in, not both")
	case at != "":
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			f.add("expires_at", "must be an RFC 3339 time such as 2027-01-31T00:00:00Z, got %q", at)
			return nil
		}
		switch {
		case !t.After(c.now):
			f.add("expires_at", "must be in the future")
		case t.Sub(c.now) > maxKeyLifetime:
			f.add("expires_at", "must be within 3650 days; omit it for a key that does not expire")
		}
		t = t.UTC()
		return &t
	case in != "":
		d, err := adminclient.ParseDuration(in)
		switch {
		case err != nil:
			f.add("expires_in", "%v", err)
		case d <= 0:
			f.add("expires_in", "must be positive")
		case d > maxKeyLifetime:
			f.add("expires_in", "must be at most 3650d; omit it for a key that does not expire")
		default:
			t := c.now.Add(d)
			return &t
		}
	}
	return nil
}

// liveCustomer reads the customer a key belongs to, refusing a deleted one.
func (c *call) liveCustomer(id string) (*store.Customer, error) {
	cu, err := c.h.cfg.Store.GetCustomer(c.ctx, id, true)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound("customer", id)
	}
	if err != nil {
		return nil, err
	}
	if cu.Status == rules.CustomerDeleted {
		return nil, errConflict("customer %q is deleted; it cannot get keys", id)
	}
	return cu, nil
}

func (h *Handler) createKey(c *call) (int, any, error) {
	var f fieldErrors
	id := c.pathCustomerID(&f)
	var req adminclient.CreateKeyRequest
	if err := decodeBody(c.r, &req, h.cfg.MaxBodyBytes, true); err != nil {
		return 0, nil, err
	}
	f.text("description", req.Description, rules.MaxDescriptionLen, false)
	exp := c.expiry(&f, req.ExpiresAt, req.ExpiresIn)
	if err := f.err("the key"); err != nil {
		return 0, nil, err
	}
	if _, err := c.liveCustomer(id); err != nil {
		return 0, nil, err
	}
	secret, k, err := store.NewKey(id, req.Description, exp)
	if err != nil {
		return 0, nil, err
	}
	if err := h.cfg.Store.PutKey(c.ctx, k); err != nil {
		return 0, nil, err
	}
	c.audit(adminclient.ActionKeyCreate, store.AuditTargetKey, k.ID, id, 0, k.Version)
	c.header().Set("Location", "/admin/v1/keys/"+k.ID)
	return http.StatusCreated, adminclient.CreatedKey{Secret: secret, Key: keyView(k)}, nil
}

func (h *Handler) listCustomerKeys(c *call) (int, any, error) {
	var f fieldErrors
	id := c.pathCustomerID(&f)
	q, err := c.query("limit", "cursor")
	if err != nil {
		return 0, nil, err
	}
	o := pageOptions(q, &f)
	if err := f.err("the request"); err != nil {
		return 0, nil, err
	}
	// A missing customer is a 404, not an empty list: a typo in the id
	// should not look like a customer without keys.
	if _, err := h.cfg.Store.GetCustomer(c.ctx, id, true); errors.Is(err, store.ErrNotFound) {
		return 0, nil, errNotFound("customer", id)
	} else if err != nil {
		return 0, nil, err
	}
	ks, next, err := h.cfg.Store.ListKeys(c.ctx, id, o)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, keyPage(ks, next), nil
}

func keyPage(ks []store.Key, next string) adminclient.KeyPage {
	p := adminclient.KeyPage{Keys: make([]adminclient.Key, 0, len(ks)), NextCursor: next}
	for i := range ks {
		p.Keys = append(p.Keys, keyView(&ks[i]))
	}
	return p
}

// expiringKeys lists active keys expiring within a window: a Scan of the
// config table (see store.ExpiringKeys for its cost).
func (h *Handler) expiringKeys(c *call) (int, any, error) {
	q, err := c.query("expiring_within", "limit", "cursor")
	if err != nil {
		return 0, nil, err
	}
	var f fieldErrors
	o := pageOptions(q, &f)
	var within time.Duration
	switch s := q.Get("expiring_within"); {
	case s == "":
		f.add("expiring_within", `is required, e.g. expiring_within=7d (listing every key of every customer is not supported; use /admin/v1/customers/{id}/keys)`)
	default:
		d, err := adminclient.ParseDuration(s)
		switch {
		case err != nil:
			f.add("expiring_within", "%v", err)
		case d <= 0 || d > maxExpiringWithin:
			f.add("expiring_within", "must be positive and at most 3650d")
		}
		within = d
	}
	if err := f.err("the query"); err != nil {
		return 0, nil, err
	}
	ks, next, err := h.cfg.Store.ExpiringKeys(c.ctx, c.now, c.now.Add(within), o)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, keyPage(ks, next), nil
}

func (h *Handler) getKey(c *call) (int, any, error) {
	var f fieldErrors
	id := c.pathKeyID(&f)
	if err := f.err("the request"); err != nil {
		return 0, nil, err
	}
	k, err := h.cfg.Store.GetKey(c.ctx, id, true)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, errNotFound("key", id)
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, keyView(k), nil
}

// revokeKey revokes a key; revoking a revoked key succeeds and changes
// nothing. Regions keep honouring a cached key for up to their key cache
// TTL (--key-cache-ttl) after the revocation.
func (h *Handler) revokeKey(c *call) (int, any, error) {
	var f fieldErrors
	id := c.pathKeyID(&f)
	var empty struct{}
	if err := decodeBody(c.r, &empty, h.cfg.MaxBodyBytes, true); err != nil {
		return 0, nil, err
	}
	if err := f.err("the request"); err != nil {
		return 0, nil, err
	}
	k, changed, err := h.cfg.Store.EnsureKeyRevoked(c.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, errNotFound("key", id)
	}
	if err != nil {
		return 0, nil, err
	}
	if changed {
		c.audit(adminclient.ActionKeyRevoke, store.AuditTargetKey, k.ID, k.CustomerID, k.Version-1, k.Version)
	}
	return http.StatusOK, keyView(k), nil
}

// rotateKey creates a replacement key and makes the old one expire after
// the grace period (never later than it already would).
//
// The new key is written first and the old one updated second, on the
// version read: if the second write loses a race (a concurrent rotation or
// revocation), the new key is revoked again and the answer is a conflict,
// so a rotation either hands out a working key or changes nothing usable.
// A crash between the two writes leaves an unused active key whose secret
// nobody received, which is harmless and visible in the key listing.
func (h *Handler) rotateKey(c *call) (int, any, error) {
	var f fieldErrors
	id := c.pathKeyID(&f)
	var req adminclient.RotateKeyRequest
	if err := decodeBody(c.r, &req, h.cfg.MaxBodyBytes, true); err != nil {
		return 0, nil, err
	}
	grace := adminclient.DefaultGracePeriod
	if req.GracePeriod != "" {
		d, err := adminclient.ParseDuration(req.GracePeriod)
		switch {
		case err != nil:
			f.add("grace_period", "%v", err)
		case d > maxGracePeriod:
			f.add("grace_period", "must be at most 90d")
		}
		grace = d
	}
	f.text("description", req.Description, rules.MaxDescriptionLen, false)
	if err := f.err("the rotation"); err != nil {
		return 0, nil, err
	}
	old, err := h.cfg.Store.GetKey(c.ctx, id, true)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, errNotFound("key", id)
	}
	if err != nil {
		return 0, nil, err
	}
	switch {
	case old.Status == rules.KeyRevoked:
		return 0, nil, errConflict("key %s is revoked; create a new key instead of rotating it", id)
	case old.ReplacedBy != "":
		return 0, nil, errConflict("key %s was already rotated and is replaced by %s; rotate that one instead", id, old.ReplacedBy)
	}
	if _, err := c.liveCustomer(old.CustomerID); err != nil {
		return 0, nil, err
	}

	// The new key lives as long as the old one was meant to.
	var exp *time.Time
	if old.ExpiresAt != nil {
		if life := old.ExpiresAt.Sub(old.CreatedAt); life > 0 {
			t := c.now.Add(life)
			exp = &t
		}
	}
	desc := req.Description
	if desc == "" {
		desc = old.Description
	}
	secret, nk, err := store.NewKey(old.CustomerID, desc, exp)
	if err != nil {
		return 0, nil, err
	}
	if err := h.cfg.Store.PutKey(c.ctx, nk); err != nil {
		return 0, nil, err
	}

	before := old.Version
	end := c.now.Add(grace)
	if old.ExpiresAt == nil || end.Before(*old.ExpiresAt) {
		old.ExpiresAt = &end
	}
	old.ReplacedBy = nk.ID
	old.Version++
	if err := h.cfg.Store.PutKey(c.ctx, old); err != nil {
		// The new key was written, so it is audited, and so is its
		// revocation.
		c.audit(adminclient.ActionKeyCreate, store.AuditTargetKey, nk.ID, nk.CustomerID, 0, nk.Version)
		if rk, _, rerr := h.cfg.Store.EnsureKeyRevoked(c.ctx, nk.ID); rerr != nil {
			h.cfg.Logger.Error().Err(rerr).Str("request_id", c.info.id).Str("key_id", nk.ID).
				Msg("rotation failed and its new key could not be revoked; revoke it by hand")
		} else {
			c.audit(adminclient.ActionKeyRevoke, store.AuditTargetKey, rk.ID, rk.CustomerID, rk.Version-1, rk.Version)
		}
		if errors.Is(err, store.ErrVersionConflict) {
			return 0, nil, errConflict("key %s changed while it was being rotated: read it again and retry", id)
		}
		return 0, nil, err
	}
	c.audit(adminclient.ActionKeyCreate, store.AuditTargetKey, nk.ID, nk.CustomerID, 0, nk.Version)
	c.audit(adminclient.ActionKeyRotate, store.AuditTargetKey, old.ID, old.CustomerID, before, old.Version)
	return http.StatusOK, adminclient.RotatedKey{Secret: secret, Key: keyView(nk), Previous: keyView(old)}, nil
}
