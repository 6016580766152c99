// Package jsonscan walks the members of a JSON object without decoding it.
//
// The data plane needs one or two small members ("usage", "maxTokens") of
// bodies that can be megabytes of prompt or model output; encoding/json
// would validate and walk all of it with reflection. The scanner only finds
// where each value starts and ends (skipping strings with IndexByte), and
// the caller decodes the few bytes it wants, strictly. It is lenient about
// the bytes it skips: a malformed body at worst yields "not found", never a
// wrong number, because the wanted member itself is always strictly decoded.
package jsonscan

import "bytes"

// EachMember calls fn with every member of the JSON object in b (raw key
// bytes without quotes, still escaped; raw value bytes) until fn returns
// false. It reports false when b is not an object it can walk.
func EachMember(b []byte, fn func(key, value []byte) bool) bool {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return true
	}
	for i < len(b) {
		if b[i] != '"' {
			return false
		}
		kend, ok := SkipString(b, i)
		if !ok {
			return false
		}
		key := b[i+1 : kend-1]
		i = skipWS(b, kend)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		vend, ok := skipValue(b, i)
		if !ok {
			return false
		}
		if !fn(key, b[i:vend]) {
			return true
		}
		i = skipWS(b, vend)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return true
		default:
			return false
		}
	}
	return false
}

// Member returns the raw value of the top-level member key.
func Member(b []byte, key string) (value []byte, ok bool) {
	EachMember(b, func(k, v []byte) bool {
		if string(k) == key {
			value, ok = v, true
			return false
		}
		return true
	})
	return value, ok
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// SkipString returns the index just past the string starting at b[i]
// (which is '"').
func SkipString(b []byte, i int) (int, bool) {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, false
		}
		q := j + k
		// The quote closes the string unless an odd number of
		// backslashes precede it.
		n := 0
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, true
		}
		j = q + 1
	}
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return SkipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, ok := SkipString(b, i)
				if !ok {
					return 0, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return 0, false
	default:
		// A number, true, false or null: up to the next delimiter.
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				if j == i {
					return 0, false
				}
				return j, true
			}
			j++
		}
		return j, j > i
	}
}
