// Package adminclient is a typed Go client of Tollgate's admin API
// (/admin/v1, see docs/admin-api.md). The tollgate CLI and the Terraform
// provider use it; its wire types are also the ones the server decodes and
// encodes.
package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls one admin API endpoint with one admin token. It is safe for
// concurrent use.
type Client struct {
	base      *url.URL
	token     string
	http      *http.Client
	userAgent string
}

// Options tune a Client. The zero value is ready to use.
type Options struct {
	// HTTPClient sends the requests; nil means a client with a 60-second
	// timeout per request.
	HTTPClient *http.Client
	// UserAgent is sent as User-Agent; empty means "tollgate-adminclient".
	UserAgent string
}

// New returns a client of the admin API at endpoint (scheme and host, e.g.
// "http://127.0.0.1:9443") authenticating with token.
func New(endpoint, token string, o Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(endpoint, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("admin endpoint %q: want http(s)://host[:port]", endpoint)
	}
	if token == "" {
		return nil, errors.New("admin token is empty")
	}
	c := &Client{base: u, token: token, http: o.HTTPClient, userAgent: o.UserAgent}
	if c.http == nil {
		c.http = &http.Client{Timeout: 60 * time.Second}
	}
	if c.userAgent == "" {
		c.userAgent = "tollgate-adminclient"
	}
	return c, nil
}

// Error is an error answer of the admin API.
type Error struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Type is the stable machine-readable error type ("not_found",
	// "conflict", "invalid_request", …); empty when the answer was not
	// Tollgate's JSON (a proxy in between, for instance).
	Type      string
	Message   string
	RequestID string
	// Fields names the invalid fields of a refused request.
	Fields []FieldError
}

// FieldError names one invalid field by its JSON path.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Type != "" {
		b.WriteString(e.Type)
	} else {
		fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "\n  %s: %s", f.Field, f.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, "\n(request id %s)", e.RequestID)
	}
	return b.String()
}

// IsType reports whether err is an admin API error of type t.
func IsType(err error, t string) bool {
	var e *Error
	return errors.As(err, &e) && e.Type == t
}

// IsNotFound reports whether err says the customer or key does not exist.
func IsNotFound(err error) bool { return IsType(err, "not_found") }

// IsConflict reports whether err is a version conflict or a duplicate.
func IsConflict(err error) bool { return IsType(err, "conflict") }

// maxResponseBytes bounds what is read of one answer; the largest page is
// far below it.
const maxResponseBytes = 64 << 20

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	// path is already escaped (ids go through seg), so the URL is built
	// as a string rather than through url.URL's Path, which would escape
	// it again.
	target := c.base.String() + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return decodeError(resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func decodeError(resp *http.Response, data []byte) error {
	var body struct {
		Message   string       `json:"message"`
		Type      string       `json:"type"`
		RequestID string       `json:"request_id"`
		Fields    []FieldError `json:"fields"`
	}
	e := &Error{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Tollgate-Request-Id")}
	if json.Unmarshal(data, &body) == nil && body.Type != "" {
		e.Type, e.Message, e.Fields = body.Type, body.Message, body.Fields
		if body.RequestID != "" {
			e.RequestID = body.RequestID
		}
		return e
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e.Message = msg
	return e
}

func seg(s string) string { return url.PathEscape(s) }

// CreateCustomer creates a customer.
func (c *Client) CreateCustomer(ctx context.Context, r CreateCustomerRequest) (*Customer, error) {
	var out Customer
	return &out, c.do(ctx, http.MethodPost, "/admin/v1/customers", nil, r, &out)
}

// GetCustomer reads a customer.
func (c *Client) GetCustomer(ctx context.Context, id string) (*Customer, error) {
	var out Customer
	return &out, c.do(ctx, http.MethodGet, "/admin/v1/customers/"+seg(id), nil, nil, &out)
}

// UpdateCustomer replaces a customer's mutable fields (PUT).
func (c *Client) UpdateCustomer(ctx context.Context, id string, r UpdateCustomerRequest) (*Customer, error) {
	var out Customer
	return &out, c.do(ctx, http.MethodPut, "/admin/v1/customers/"+seg(id), nil, r, &out)
}

// PatchCustomer changes the fields present in r (PATCH).
func (c *Client) PatchCustomer(ctx context.Context, id string, r PatchCustomerRequest) (*Customer, error) {
	var out Customer
	return &out, c.do(ctx, http.MethodPatch, "/admin/v1/customers/"+seg(id), nil, r, &out)
}

// SuspendCustomer suspends a customer; version 0 applies to whatever
// version is current.
func (c *Client) SuspendCustomer(ctx context.Context, id string, version int64) (*Customer, error) {
	var out Customer
	return &out, c.do(ctx, http.MethodPost, "/admin/v1/customers/"+seg(id)+"/suspend", nil, VersionRequest{Version: version}, &out)
}

// ReactivateCustomer makes a suspended customer active again; version 0
// applies to whatever version is current.
func (c *Client) ReactivateCustomer(ctx context.Context, id string, version int64) (*Customer, error) {
	var out Customer
	return &out, c.do(ctx, http.MethodPost, "/admin/v1/customers/"+seg(id)+"/reactivate", nil, VersionRequest{Version: version}, &out)
}

// DeleteCustomer soft-deletes a customer and revokes its keys; version 0
// applies to whatever version is current.
func (c *Client) DeleteCustomer(ctx context.Context, id string, version int64) (*Customer, error) {
	var q url.Values
	if version != 0 {
		q = url.Values{"version": {strconv.FormatInt(version, 10)}}
	}
	var out Customer
	return &out, c.do(ctx, http.MethodDelete, "/admin/v1/customers/"+seg(id), q, nil, &out)
}

// ListCustomersOptions select a page of customers. The zero value is the
// first page of 100 customers of any status and tier.
type ListCustomersOptions struct {
	Status, Tier string
	// Limit is the page size, 1 to 1000; 0 means the server's default (100).
	Limit  int
	Cursor string
}

// ListCustomers reads one page of customers, in id order.
func (c *Client) ListCustomers(ctx context.Context, o ListCustomersOptions) (*CustomerPage, error) {
	q := pageQuery(o.Limit, o.Cursor)
	setIf(q, "status", o.Status)
	setIf(q, "tier", o.Tier)
	var out CustomerPage
	return &out, c.do(ctx, http.MethodGet, "/admin/v1/customers", q, nil, &out)
}

// Customers walks every page of customers matching o (o.Cursor is where
// the walk starts). The walk stops at the first error, which it yields.
func (c *Client) Customers(ctx context.Context, o ListCustomersOptions) iter.Seq2[Customer, error] {
	return func(yield func(Customer, error) bool) {
		for {
			p, err := c.ListCustomers(ctx, o)
			if err != nil {
				yield(Customer{}, err)
				return
			}
			for _, cu := range p.Customers {
				if !yield(cu, nil) {
					return
				}
			}
			if p.NextCursor == "" {
				return
			}
			o.Cursor = p.NextCursor
		}
	}
}

// ListOptions select a page of a listing. The zero value is the first page
// of the server's default size (100).
type ListOptions struct {
	Limit  int
	Cursor string
}

// CreateKey creates a key for a customer. The answer holds the secret, which
// cannot be read again.
func (c *Client) CreateKey(ctx context.Context, customerID string, r CreateKeyRequest) (*CreatedKey, error) {
	var out CreatedKey
	return &out, c.do(ctx, http.MethodPost, "/admin/v1/customers/"+seg(customerID)+"/keys", nil, r, &out)
}

// ListKeys reads one page of a customer's keys, oldest first.
func (c *Client) ListKeys(ctx context.Context, customerID string, o ListOptions) (*KeyPage, error) {
	var out KeyPage
	return &out, c.do(ctx, http.MethodGet, "/admin/v1/customers/"+seg(customerID)+"/keys", pageQuery(o.Limit, o.Cursor), nil, &out)
}

// GetKey reads a key record.
func (c *Client) GetKey(ctx context.Context, id string) (*Key, error) {
	var out Key
	return &out, c.do(ctx, http.MethodGet, "/admin/v1/keys/"+seg(id), nil, nil, &out)
}

// RevokeKey revokes a key; revoking a revoked key changes nothing.
func (c *Client) RevokeKey(ctx context.Context, id string) (*Key, error) {
	var out Key
	return &out, c.do(ctx, http.MethodPost, "/admin/v1/keys/"+seg(id)+"/revoke", nil, nil, &out)
}

// RotateKey creates a replacement for a key and ends the old one after the
// grace period.
func (c *Client) RotateKey(ctx context.Context, id string, r RotateKeyRequest) (*RotatedKey, error) {
	var out RotatedKey
	return &out, c.do(ctx, http.MethodPost, "/admin/v1/keys/"+seg(id)+"/rotate", nil, r, &out)
}

// ExpiringKeys reads one page of active keys expiring within the given
// duration ("7d", "48h").
func (c *Client) ExpiringKeys(ctx context.Context, within string, o ListOptions) (*KeyPage, error) {
	q := pageQuery(o.Limit, o.Cursor)
	q.Set("expiring_within", within)
	var out KeyPage
	return &out, c.do(ctx, http.MethodGet, "/admin/v1/keys", q, nil, &out)
}

// ListAuditOptions select a page of audit records. Target is
// "customer:<id>" (the customer's and its keys' records) or "key:<id>";
// empty means all.
type ListAuditOptions struct {
	Target string
	Limit  int
	Cursor string
}

// ListAudit reads one page of audit records, newest first.
func (c *Client) ListAudit(ctx context.Context, o ListAuditOptions) (*AuditPage, error) {
	q := pageQuery(o.Limit, o.Cursor)
	setIf(q, "target", o.Target)
	var out AuditPage
	return &out, c.do(ctx, http.MethodGet, "/admin/v1/audit", q, nil, &out)
}

func pageQuery(limit int, cursor string) url.Values {
	q := url.Values{}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	setIf(q, "cursor", cursor)
	return q
}

func setIf(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}
