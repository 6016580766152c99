package rules

import (
	"errors"
	"strings"
	"testing"
)

func TestNewKeyParses(t *testing.T) {
	for i := 0; i < 100; i++ {
		key, id, hash, err := NewKey()
		if err != nil {
			t.Fatal(err)
		}
		if len(key) != KeyLen || !strings.HasPrefix(key, "tg_") {
			t.Fatalf("key %q has the wrong shape", key)
		}
		got, err := ParseKey(key)
		if err != nil || got != id {
			t.Fatalf("ParseKey(%q) = %q, %v; want %q", key, got, err, id)
		}
		if !HashKey(key).Equal(hash) {
			t.Fatal("hash of the key differs from the one NewKey returned")
		}
		if !ValidKeyID(id) {
			t.Fatalf("id %q not valid", id)
		}
	}
}

func TestParseKeyRejects(t *testing.T) {
	key, _, _, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	flip := []byte(key)
	if flip[20] == 'a' {
		flip[20] = 'b'
	} else {
		flip[20] = 'a'
	}
	cases := map[string]string{
		"empty":        "",
		"short":        key[:len(key)-1],
		"long":         key + "a",
		"prefix":       "tx_" + key[3:],
		"upper":        strings.ToUpper(key),
		"typo":         string(flip),
		"no separator": key[:19] + "a" + key[20:],
		"bearer":       "Bearer " + key,
	}
	for name, k := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseKey(k); !errors.Is(err, ErrKeyFormat) {
				t.Fatalf("ParseKey(%q) err = %v, want ErrKeyFormat", k, err)
			}
		})
	}
}

func TestParseKeyDoesNotAllocate(t *testing.T) {
	key, _, _, _ := NewKey()
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseKey(key) }); n != 0 {
		t.Fatalf("ParseKey allocates %v times per call", n)
	}
}

func TestKeyDisplay(t *testing.T) {
	key, id, _, _ := NewKey()
	p, l := KeyDisplay(key)
	if p != "tg_"+id || l != key[len(key)-4:] {
		t.Fatalf("KeyDisplay = %q, %q", p, l)
	}
}

func TestValidateModelID(t *testing.T) {
	good := []string{
		"anthropic.claude-3-5-sonnet-20240620-v1:0",
		"us.anthropic.claude-3-5-sonnet-20241022-v2:0",
		"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0",
		"amazon.titan-text-express-v1",
	}
	for _, id := range good {
		if err := ValidateModelID(id); err != nil {
			t.Errorf("ValidateModelID(%q) = %v", id, err)
		}
	}
	bad := []string{"", "a b", "../etc/passwd", "anthropic..x", "x/y", "a\x00b", ".hidden", strings.Repeat("a", MaxModelIDLen+1), "model%2F", "ü"}
	for _, id := range bad {
		if err := ValidateModelID(id); err == nil {
			t.Errorf("ValidateModelID(%q) accepted", id)
		}
	}
}

func TestModelAllowed(t *testing.T) {
	cases := []struct {
		patterns []string
		model    string
		want     bool
	}{
		{[]string{"*"}, "anything.x", true},
		{nil, "anthropic.claude", false},
		{[]string{"anthropic.*"}, "anthropic.claude-3-haiku-20240307-v1:0", true},
		{[]string{"anthropic.*"}, "us.anthropic.claude-3-haiku-20240307-v1:0", true},
		{[]string{"anthropic.*"}, "arn:aws:bedrock:us-east-1:1:inference-profile/eu.anthropic.claude-x", true},
		{[]string{"anthropic.*"}, "meta.llama3", false},
		{[]string{"us.anthropic.*"}, "anthropic.claude", false},
		{[]string{"*haiku*"}, "anthropic.claude-3-haiku-20240307-v1:0", true},
		{[]string{"amazon.titan-text-express-v1"}, "amazon.titan-text-express-v1", true},
		{[]string{"amazon.titan-text-express-v1"}, "amazon.titan-text-express-v1x", false},
	}
	for _, c := range cases {
		if got := ModelAllowed(c.patterns, c.model); got != c.want {
			t.Errorf("ModelAllowed(%q, %q) = %v, want %v", c.patterns, c.model, got, c.want)
		}
	}
}

func TestGlobNoBlowup(t *testing.T) {
	p := strings.Repeat("*a", 30) + "b"
	s := strings.Repeat("a", 2000)
	if Glob(p, s) {
		t.Fatal("matched")
	}
}

func TestValidateCustomerID(t *testing.T) {
	for _, id := range []string{"acme", "a1", "acme-corp-42"} {
		if err := ValidateCustomerID(id); err != nil {
			t.Errorf("%q: %v", id, err)
		}
	}
	for _, id := range []string{"", "a", "-acme", "Acme", "acme_corp", "acme corp", strings.Repeat("a", 64)} {
		if err := ValidateCustomerID(id); err == nil {
			t.Errorf("%q accepted", id)
		}
	}
}

func TestValidateLimits(t *testing.T) {
	if errs := ValidateLimits("limits", Limits{RequestsPerMinute: 600, TokensPerMinute: 100000}); len(errs) != 0 {
		t.Fatal(errs)
	}
	errs := ValidateLimits("limits", Limits{RequestsPerMinute: -1, TokensPerMinute: MaxTokensPerMinute + 1, MonthlyCostBudgetUSD: -3})
	if len(errs) != 3 || errs[0].Field != "limits.requests_per_minute" {
		t.Fatalf("got %v", errs)
	}
}

func TestCheckSchema(t *testing.T) {
	if err := CheckSchema("customer", 1, CustomerSchemaVersion); err != nil {
		t.Fatal(err)
	}
	if err := CheckSchema("customer", CustomerSchemaVersion+1, CustomerSchemaVersion); !errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParseKey(f *testing.F) {
	key, _, _, _ := NewKey()
	f.Add(key)
	f.Add("tg_")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseKey(s)
		if err == nil && (!ValidKeyID(id) || len(s) != KeyLen) {
			t.Fatalf("accepted %q with id %q", s, id)
		}
	})
}

func FuzzModelID(f *testing.F) {
	for _, s := range []string{"anthropic.claude-3:0", "arn:aws:bedrock:us-east-1:1:inference-profile/us.x:0", "../x", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateModelID(s) != nil {
			return
		}
		if strings.Contains(s, "..") || strings.ContainsAny(s, " \x00%?#\\") {
			t.Fatalf("accepted hostile id %q", s)
		}
		if strings.Contains(s, "/") && !strings.HasPrefix(s, "arn:") {
			t.Fatalf("accepted '/' outside an ARN: %q", s)
		}
		_ = BaseModelID(s)
	})
}
