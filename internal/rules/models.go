package rules

import (
	"fmt"
	"strings"
)

// MaxModelIDLen is Bedrock's limit on a modelId path parameter.
const MaxModelIDLen = 2048

// ValidateModelID checks a model id as it arrives in a request path, after
// unescaping. Bedrock accepts foundation-model ids
// ("anthropic.claude-3-5-sonnet-20240620-v1:0"), inference-profile ids
// ("us.anthropic…"), and ARNs, whose resource part holds a '/'. Anything else
// (spaces, control bytes, "..", a '/' outside an ARN) is refused here so it
// never reaches a log line, a metric label or an upstream URL.
func ValidateModelID(id string) error {
	if id == "" {
		return fmt.Errorf("model id is empty")
	}
	if len(id) > MaxModelIDLen {
		return fmt.Errorf("model id is %d bytes, the limit is %d", len(id), MaxModelIDLen)
	}
	isARN := strings.HasPrefix(id, "arn:")
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == ':':
		case c == '.':
			if i+1 < len(id) && id[i+1] == '.' {
				return fmt.Errorf("model id must not contain %q", "..")
			}
		case c == '/' && isARN:
		default:
			return fmt.Errorf("model id contains a character Bedrock does not allow at offset %d", i)
		}
	}
	if id[0] == '.' || id[0] == '-' || id[0] == '/' {
		return fmt.Errorf("model id must start with a letter or digit")
	}
	return nil
}

// geoPrefixes are the inference-profile prefixes Bedrock puts before a
// foundation-model id.
var geoPrefixes = []string{"us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca."}

// BaseModelID strips an inference-profile prefix or an ARN's resource type
// so that "us.anthropic.claude-x" and
// "arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.claude-x" both
// give "anthropic.claude-x".
func BaseModelID(id string) string {
	if strings.HasPrefix(id, "arn:") {
		if i := strings.LastIndexByte(id, '/'); i >= 0 {
			id = id[i+1:]
		}
	}
	for _, p := range geoPrefixes {
		if strings.HasPrefix(id, p) {
			return id[len(p):]
		}
	}
	return id
}

// ValidateModelPattern checks an allowed-model pattern: a model id in which
// '*' matches any run of characters ("anthropic.*", "*").
func ValidateModelPattern(p string) error {
	if p == "*" {
		return nil
	}
	if err := ValidateModelID(strings.ReplaceAll(p, "*", "x")); err != nil {
		return fmt.Errorf("model pattern %q: %w", p, err)
	}
	return nil
}

// ModelAllowed reports whether model matches one of the patterns, either as
// sent or as its base id (so "anthropic.*" also allows the "us." profile).
// An empty pattern list allows nothing.
func ModelAllowed(patterns []string, model string) bool {
	base := BaseModelID(model)
	for _, p := range patterns {
		if Glob(p, model) || (base != model && Glob(p, base)) {
			return true
		}
	}
	return false
}

// Glob matches s against a pattern where '*' matches any run of characters
// (including none) and every other byte matches itself.
func Glob(pattern, s string) bool {
	// Iterative matcher with single backtrack point: linear in practice,
	// never exponential.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// EscapeModelID escapes a model id as the AWS SDKs do for a URI label:
// every byte but A-Z a-z 0-9 - . _ ~ is percent-encoded, ':' and '/' too.
func EscapeModelID(id string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(id) + 16)
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
