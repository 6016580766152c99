package admin

import (
	"crypto/rand"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/internal/store"
)

// customerView is a customer as the API shows it.
func customerView(c *store.Customer) adminclient.Customer {
	models := c.AllowedModels
	if models == nil {
		models = []string{} // shown as [], never null
	}
	return adminclient.Customer{
		ID: c.ID, Name: c.Name, Contact: c.Contact, Status: c.Status, Tier: c.Tier,
		AllowedModels: models, Limits: c.Limits, Tags: c.Tags,
		Version: c.Version, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
}

// newCustomerID generates an id: "cus-" and 12 random lower-case letters
// and digits (60 bits, from crypto/rand's base32 text).
func newCustomerID() string { return "cus-" + strings.ToLower(rand.Text()[:12]) }

func (h *Handler) createCustomer(c *call) (int, any, error) {
	var req adminclient.CreateCustomerRequest
	if err := decodeBody(c.r, &req, h.cfg.MaxBodyBytes, false); err != nil {
		return 0, nil, err
	}
	var f fieldErrors
	if req.ID != "" {
		f.customerID("id", req.ID)
	}
	limits := f.customerFields(req.Name, req.Contact, req.Status, req.Tier, req.AllowedModels, req.Limits, req.Tags)
	if err := f.err("the customer"); err != nil {
		return 0, nil, err
	}
	cu := &store.Customer{
		ID: req.ID, Name: req.Name, Contact: req.Contact, Status: req.Status, Tier: req.Tier,
		AllowedModels: req.AllowedModels, Limits: limits, Tags: req.Tags,
	}
	if cu.ID == "" {
		cu.ID = newCustomerID()
	}
	if cu.Status == "" {
		cu.Status = rules.CustomerActive
	}
	if err := h.cfg.Store.PutCustomer(c.ctx, cu); err != nil {
		if errors.Is(err, store.ErrExists) {
			return 0, nil, errConflict("customer %q already exists (deleted customers keep their id)", cu.ID)
		}
		return 0, nil, err
	}
	c.audit(adminclient.ActionCustomerCreate, store.AuditTargetCustomer, cu.ID, cu.ID, 0, cu.Version)
	c.header().Set("Location", "/admin/v1/customers/"+cu.ID)
	return http.StatusCreated, customerView(cu), nil
}

func (h *Handler) getCustomer(c *call) (int, any, error) {
	var f fieldErrors
	id := c.pathCustomerID(&f)
	if err := f.err("the request"); err != nil {
		return 0, nil, err
	}
	cu, err := h.cfg.Store.GetCustomer(c.ctx, id, true)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, errNotFound("customer", id)
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, customerView(cu), nil
}

func (h *Handler) listCustomers(c *call) (int, any, error) {
	q, err := c.query("limit", "cursor", "status", "tier")
	if err != nil {
		return 0, nil, err
	}
	var f fieldErrors
	o := pageOptions(q, &f)
	filter := store.CustomerFilter{Status: q.Get("status"), Tier: q.Get("tier")}
	if filter.Status != "" && !rules.ValidCustomerStatus(filter.Status) {
		f.add("status", "must be %q, %q or %q", rules.CustomerActive, rules.CustomerSuspended, rules.CustomerDeleted)
	}
	f.tier(filter.Tier)
	if err := f.err("the query"); err != nil {
		return 0, nil, err
	}
	cs, next, err := h.cfg.Store.ListCustomers(c.ctx, filter, o)
	if err != nil {
		return 0, nil, err
	}
	page := adminclient.CustomerPage{Customers: make([]adminclient.Customer, 0, len(cs)), NextCursor: next}
	for i := range cs {
		page.Customers = append(page.Customers, customerView(&cs[i]))
	}
	return http.StatusOK, page, nil
}

// putCustomer replaces a customer's mutable fields. An absent status keeps
// the current one: status changes have their own operations, and a PUT
// built from an older read must not undo a suspension by accident.
func (h *Handler) putCustomer(c *call) (int, any, error) {
	var f fieldErrors
	id := c.pathCustomerID(&f)
	var req adminclient.UpdateCustomerRequest
	if err := decodeBody(c.r, &req, h.cfg.MaxBodyBytes, false); err != nil {
		return 0, nil, err
	}
	limits := f.customerFields(req.Name, req.Contact, req.Status, req.Tier, req.AllowedModels, req.Limits, req.Tags)
	f.version(req.Version)
	if err := f.err("the customer"); err != nil {
		return 0, nil, err
	}
	cu, err := c.changeCustomer(id, req.Version, adminclient.ActionCustomerUpdate, func(cu *store.Customer) error {
		cu.Name, cu.Contact, cu.Tier = req.Name, req.Contact, req.Tier
		cu.AllowedModels, cu.Limits, cu.Tags = req.AllowedModels, limits, req.Tags
		if req.Status != "" {
			cu.Status = req.Status
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, customerView(cu), nil
}

func (h *Handler) patchCustomer(c *call) (int, any, error) {
	var f fieldErrors
	id := c.pathCustomerID(&f)
	var req adminclient.PatchCustomerRequest
	if err := decodeBody(c.r, &req, h.cfg.MaxBodyBytes, false); err != nil {
		return 0, nil, err
	}
	if req.Name != nil {
		f.text("name", *req.Name, rules.MaxNameLen, true)
	}
	if req.Contact != nil {
		f.text("contact", *req.Contact, rules.MaxContactLen, false)
	}
	if req.Status != nil {
		f.settableStatus(*req.Status)
	}
	if req.Tier != nil {
		f.tier(*req.Tier)
	}
	if req.AllowedModels != nil {
		f.models(*req.AllowedModels, true)
	}
	if req.Tags != nil {
		f.tags(*req.Tags)
	}
	f.version(req.Version)
	if err := f.err("the change"); err != nil {
		return 0, nil, err
	}
	cu, err := c.changeCustomer(id, req.Version, adminclient.ActionCustomerUpdate, func(cu *store.Customer) error {
		set(&cu.Name, req.Name)
		set(&cu.Contact, req.Contact)
		set(&cu.Tier, req.Tier)
		if req.Status != nil && *req.Status != "" {
			cu.Status = *req.Status
		}
		set(&cu.AllowedModels, req.AllowedModels)
		set(&cu.Tags, req.Tags)
		if l := req.Limits; l != nil {
			set(&cu.Limits.RequestsPerMinute, l.RequestsPerMinute)
			set(&cu.Limits.TokensPerMinute, l.TokensPerMinute)
			set(&cu.Limits.MonthlyTokenBudget, l.MonthlyTokenBudget)
			set(&cu.Limits.MonthlyCostBudgetUSD, l.MonthlyCostBudgetUSD)
		}
		// Limits are checked merged: a patch of one limit is checked
		// with the others as stored.
		var lf fieldErrors
		lf.limits(cu.Limits)
		return lf.err("the change")
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, customerView(cu), nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func (h *Handler) suspendCustomer(c *call) (int, any, error) {
	return h.setStatus(c, rules.CustomerSuspended, adminclient.ActionCustomerSuspend)
}

func (h *Handler) reactivateCustomer(c *call) (int, any, error) {
	return h.setStatus(c, rules.CustomerActive, adminclient.ActionCustomerReactivate)
}

// setStatus suspends or reactivates; setting the current status changes
// nothing and writes nothing.
func (h *Handler) setStatus(c *call, status, action string) (int, any, error) {
	var f fieldErrors
	id := c.pathCustomerID(&f)
	var req adminclient.VersionRequest
	if err := decodeBody(c.r, &req, h.cfg.MaxBodyBytes, true); err != nil {
		return 0, nil, err
	}
	if req.Version < 0 {
		f.add("version", "must be positive, or absent to apply to the current version")
	}
	if err := f.err("the request"); err != nil {
		return 0, nil, err
	}
	cu, err := c.changeCustomer(id, req.Version, action, func(cu *store.Customer) error {
		cu.Status = status
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, customerView(cu), nil
}

// deleteCustomer soft-deletes a customer and revokes its keys. Deleting a
// deleted customer succeeds and finishes revoking any key an interrupted
// deletion left active.
func (h *Handler) deleteCustomer(c *call) (int, any, error) {
	var f fieldErrors
	id := c.pathCustomerID(&f)
	q, err := c.query("version")
	if err != nil {
		return 0, nil, err
	}
	var version int64
	if s := q.Get("version"); s != "" {
		if version, err = strconv.ParseInt(s, 10, 64); err != nil || version < 1 {
			f.add("version", "must be a positive integer, or absent to delete whatever version is current")
		}
	}
	if err := f.err("the request"); err != nil {
		return 0, nil, err
	}
	d, err := h.cfg.Store.DeleteCustomer(c.ctx, id, version)
	switch {
	case errors.Is(err, store.ErrNotFound) && d == nil:
		return 0, nil, errNotFound("customer", id)
	case errors.Is(err, store.ErrVersionConflict) && d == nil && version != 0:
		return 0, nil, errConflict("customer %q has changed since version %d: read it again and retry", id, version)
	case errors.Is(err, store.ErrVersionConflict) && d == nil:
		return 0, nil, errConflict("customer %q changed while it was being deleted: retry", id)
	}
	// Audit what was done even when the key sweep failed half-way.
	if d != nil {
		if d.Changed {
			c.audit(adminclient.ActionCustomerDelete, store.AuditTargetCustomer, id, id, d.Customer.Version-1, d.Customer.Version)
		}
		for _, k := range d.Revoked {
			c.audit(adminclient.ActionKeyRevoke, store.AuditTargetKey, k.ID, id, k.Version-1, k.Version)
		}
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, customerView(d.Customer), nil
}

// changeCustomer reads a customer, checks the version the client's change
// is based on (0: whatever is current), applies change to a copy, and
// writes the result conditionally on the version read. Deleted customers
// do not change. A change that leaves the record as it was writes nothing
// and is not audited, so retries and repeated applies are free.
func (c *call) changeCustomer(id string, version int64, action string, change func(*store.Customer) error) (*store.Customer, error) {
	cur, err := c.h.cfg.Store.GetCustomer(c.ctx, id, true)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound("customer", id)
	}
	if err != nil {
		return nil, err
	}
	if version != 0 && version != cur.Version {
		return nil, staleVersion("customer", id, version, cur.Version)
	}
	if cur.Status == rules.CustomerDeleted {
		return nil, errConflict("customer %q is deleted and cannot change; create a new customer instead", id)
	}
	next := *cur
	if err := change(&next); err != nil {
		return nil, err
	}
	if sameCustomer(cur, &next) {
		return cur, nil
	}
	next.Version = cur.Version + 1
	if err := c.h.cfg.Store.PutCustomer(c.ctx, &next); err != nil {
		if errors.Is(err, store.ErrVersionConflict) {
			return nil, errConflict("customer %q changed while this request was applied (it was at version %d): read it again, reapply your change and retry", id, cur.Version)
		}
		return nil, err
	}
	c.audit(action, store.AuditTargetCustomer, id, id, cur.Version, next.Version)
	return &next, nil
}

// sameCustomer compares the mutable fields. Empty and absent lists and
// maps are the same: DynamoDB stores neither.
func sameCustomer(a, b *store.Customer) bool {
	return a.Name == b.Name && a.Contact == b.Contact && a.Status == b.Status && a.Tier == b.Tier &&
		slices.Equal(a.AllowedModels, b.AllowedModels) && a.Limits == b.Limits && maps.Equal(a.Tags, b.Tags)
}
