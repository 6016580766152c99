package store

import (
	"errors"
	"testing"
)

// FuzzDecodeCursor: a cursor comes from the client, so anything may
// arrive; it is either refused with ErrBadCursor or round-trips exactly.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(cursor{Listing: "customers", After: "acme"}.encode())
	f.Add(cursor{Listing: "keys", PK: "KEY#x", SK: "KEY"}.encode())
	f.Add("")
	f.Add("!!!")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s, "customers")
		if err != nil {
			if !errors.Is(err, ErrBadCursor) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		if c.Listing != "customers" {
			t.Fatalf("%q decoded for listing %q", s, c.Listing)
		}
		if again, err := decodeCursor(c.encode(), "customers"); err != nil || again != c {
			t.Fatalf("re-encoded cursor %+v does not round-trip: %+v %v", c, again, err)
		}
	})
}
