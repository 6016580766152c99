package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Page sizes of the admin listings.
const (
	// DefaultPageSize is the page size when ListOptions.Limit is 0.
	DefaultPageSize = 100
	// MaxPageSize is the largest page a listing returns.
	MaxPageSize = 1000
)

// ErrBadCursor is returned for a pagination cursor that this listing did not
// produce: garbled, forged, or taken from another listing.
var ErrBadCursor = errors.New("invalid pagination cursor: pass back the next_cursor of the previous page unchanged")

// ListOptions select one page of a listing. The zero value asks for the
// first page of DefaultPageSize items.
type ListOptions struct {
	// Limit is the most items returned, 1 to MaxPageSize; 0 means
	// DefaultPageSize.
	Limit int
	// Cursor continues the listing after the previous page; "" starts at
	// the beginning.
	Cursor string
}

func (o ListOptions) limit() (int, error) {
	switch {
	case o.Limit == 0:
		return DefaultPageSize, nil
	case o.Limit < 0 || o.Limit > MaxPageSize:
		return 0, fmt.Errorf("page limit must be 1 to %d, got %d", MaxPageSize, o.Limit)
	}
	return o.Limit, nil
}

// cursor is the decoded form of a pagination cursor: a position in one
// listing, not DynamoDB's LastEvaluatedKey verbatim. The store rebuilds the
// ExclusiveStartKey from the position, so every attribute sent to DynamoDB
// is one this code derived and validated; a forged cursor can at worst name
// another starting position, which a client could request legitimately
// anyway, so the cursor needs no signature.
type cursor struct {
	// Listing names the listing the cursor belongs to.
	Listing string `json:"l"`
	// After is the index sort key (gsi1sk) the next page starts after, for
	// index queries.
	After string `json:"a,omitempty"`
	// PK and SK are the table key the next page starts after, for scans.
	PK string `json:"pk,omitempty"`
	SK string `json:"sk,omitempty"`
}

// maxCursorLen bounds what is decoded at all.
const maxCursorLen = 4096

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor parses s and checks it belongs to listing.
func decodeCursor(s, listing string) (cursor, error) {
	var c cursor
	if len(s) > maxCursorLen {
		return c, ErrBadCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, ErrBadCursor
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil || d.More() || c.Listing != listing {
		return c, ErrBadCursor
	}
	return c, nil
}

// fetchFunc reads one DynamoDB page (a Query or a Scan) from start, which is
// nil for the first one, evaluating at most limit items.
type fetchFunc func(ctx context.Context, start map[string]types.AttributeValue, limit int32) (items []map[string]types.AttributeValue, lastKey map[string]types.AttributeValue, err error)

// acceptFunc decodes one item and adds it to the page, or reports that a
// filter applied in code leaves it out.
type acceptFunc func(item map[string]types.AttributeValue) (added bool, err error)

// maxFetchesPerPage bounds the DynamoDB calls behind one listing page, so
// that a selective filter over a large partition answers in bounded time
// with a short page and a cursor instead of reading it all in one request.
const maxFetchesPerPage = 25

// fetchPage fills a page of up to limit items, calling fetch until the page
// is full or the results end. It returns the position after which the next
// page starts (a table or index key of the last item examined), or nil when
// there is nothing more.
//
// Every item the page returns is before the position and every item not yet
// examined is after it, so consecutive pages neither skip nor repeat an item
// that exists throughout the walk. When the page fills in the middle of a
// DynamoDB page, the position is the key of the last item returned (not
// DynamoDB's LastEvaluatedKey), so the rest of that DynamoDB page is read
// again by the next call rather than lost.
func fetchPage(ctx context.Context, start map[string]types.AttributeValue, limit int, filtered bool, fetch fetchFunc, accept acceptFunc) (map[string]types.AttributeValue, error) {
	n := 0
	for calls := 0; ; calls++ {
		if calls == maxFetchesPerPage {
			return start, nil
		}
		// Without a filter, ask for one item more than needed so that a
		// page ending exactly at the end of the results gets no cursor.
		// With one, DynamoDB counts the items it evaluates, not those it
		// returns, so read further ahead.
		want := limit - n + 1
		if filtered {
			want = min(max(want, 200), MaxPageSize)
		}
		items, lastKey, err := fetch(ctx, start, int32(want))
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if n == limit {
				return start, nil
			}
			added, err := accept(it)
			if err != nil {
				return nil, err
			}
			// Every examined item moves the position, filtered out or
			// not: the next page starts after it either way.
			start = it
			if added {
				n++
			}
		}
		if len(lastKey) == 0 {
			return nil, nil
		}
		if n == limit {
			return lastKey, nil
		}
		start = lastKey
	}
}

// queryFetch runs in as a Query page by page.
func (s *Store) queryFetch(in dynamodb.QueryInput) fetchFunc {
	return func(ctx context.Context, start map[string]types.AttributeValue, limit int32) ([]map[string]types.AttributeValue, map[string]types.AttributeValue, error) {
		q := in
		q.ExclusiveStartKey = start
		q.Limit = aws.Int32(limit)
		out, err := s.DB.Query(ctx, &q)
		if err != nil {
			return nil, nil, err
		}
		return out.Items, out.LastEvaluatedKey, nil
	}
}

// scanFetch runs in as a Scan page by page.
func (s *Store) scanFetch(in dynamodb.ScanInput) fetchFunc {
	return func(ctx context.Context, start map[string]types.AttributeValue, limit int32) ([]map[string]types.AttributeValue, map[string]types.AttributeValue, error) {
		q := in
		q.ExclusiveStartKey = start
		q.Limit = aws.Int32(limit)
		out, err := s.DB.Scan(ctx, &q)
		if err != nil {
			return nil, nil, err
		}
		return out.Items, out.LastEvaluatedKey, nil
	}
}

// gsiStart is an ExclusiveStartKey for a gsi1 query: the index key and the
// table key of the item to start after.
func gsiStart(gsi1pk, gsi1sk, pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrGSI1PK: &types.AttributeValueMemberS{Value: gsi1pk},
		attrGSI1SK: &types.AttributeValueMemberS{Value: gsi1sk},
		attrPK:     &types.AttributeValueMemberS{Value: pk},
		attrSK:     &types.AttributeValueMemberS{Value: sk},
	}
}

// stringAttr returns a string attribute of an item, "" when absent.
func stringAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// indexCursor encodes the position of an index query, or "" at the end.
func indexCursor(listing string, pos map[string]types.AttributeValue) string {
	if pos == nil {
		return ""
	}
	return cursor{Listing: listing, After: stringAttr(pos, attrGSI1SK)}.encode()
}
