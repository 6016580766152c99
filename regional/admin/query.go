package admin

import (
	"net/url"
	"strconv"

	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/regional/apierror"
)

// query returns the request's query parameters after checking that each
// is one of allowed and appears at most once: an unknown parameter is
// refused like an unknown JSON field, so that a typo ("stauts=active")
// does not silently list everything.
func (c *call) query(allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(c.r.URL.RawQuery)
	if err != nil {
		return nil, apierror.New(apierror.InvalidRequest, "malformed query string")
	}
	var f fieldErrors
	for k, vs := range q {
		known := false
		for _, a := range allowed {
			known = known || k == a
		}
		switch {
		case !known:
			f.add(k, "unknown query parameter")
		case len(vs) > 1:
			f.add(k, "given %d times; give it once", len(vs))
		}
	}
	if err := f.err("the query"); err != nil {
		return nil, err
	}
	return q, nil
}

// pageOptions reads the limit and cursor parameters.
func pageOptions(q url.Values, f *fieldErrors) store.ListOptions {
	var o store.ListOptions
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > store.MaxPageSize {
			f.add("limit", "must be an integer from 1 to %d (default %d), got %q", store.MaxPageSize, store.DefaultPageSize, s)
		}
		o.Limit = n
	}
	o.Cursor = q.Get("cursor")
	return o
}

// pathCustomerID returns the {id} path parameter after checking it.
func (c *call) pathCustomerID(f *fieldErrors) string {
	id := c.r.PathValue("id")
	f.customerID("id", id)
	return id
}

// pathKeyID returns the {key_id} path parameter after checking it.
func (c *call) pathKeyID(f *fieldErrors) string {
	id := c.r.PathValue("key_id")
	if !rules.ValidKeyID(id) {
		f.add("key_id", "%q is not a key id (16 characters a-z, 2-7: the part after tg_ in the key's prefix)", id)
	}
	return id
}
