package ratelimit

import "bytes"

// Estimation constants; see EstimateTokens.
const (
	// DefaultMaxOutputTokens is the output estimate of a call that sets no
	// maximum.
	DefaultMaxOutputTokens = 1024
	// BytesPerToken is the input heuristic: about four bytes of JSON per
	// token for English text with its JSON framing.
	BytesPerToken = 4
	// BlobTokens is the estimate of one binary attachment (an image or a
	// document sent as base64): about what Anthropic models charge for an
	// image of 1.15 megapixels, the size they scale images down to.
	BlobTokens = 1600
	// minBlobLen is the shortest string taken for a base64 attachment.
	minBlobLen = 1024
	// maxOutputEstimate caps a stated maximum, so that a typo cannot make
	// the estimate absurd.
	maxOutputEstimate = 1 << 30
)

// EstimateTokens estimates a call's tokens before it runs, for admission
// only (Correct replaces it with Bedrock's exact count when the call ends).
// op is the operation name ("Converse", "ConverseStream", "InvokeModel",
// "InvokeModelWithResponseStream").
//
// The estimate is input + output:
//   - input: the body's bytes / BytesPerToken, except that each long base64
//     string (an image or document attachment, at least 1 KiB of base64
//     characters) counts BlobTokens instead of its size, because base64
//     bytes say nothing about tokens (a 5 MB image is ~1,600 tokens, not
//     1.25 million);
//   - output: the call's own maximum, else DefaultMaxOutputTokens. For
//     Converse it is inferenceConfig.maxTokens; for InvokeModel the body's
//     top-level max_tokens (Anthropic, Mistral, Cohere, AI21),
//     max_gen_len (Llama), maxTokens (AI21 Jurassic),
//     textGenerationConfig.maxTokenCount (Titan) or
//     inferenceConfig.max_new_tokens (Nova).
//
// It scans the body without decoding it: strings are skipped with
// bytes.IndexByte and only the few wanted numbers are parsed, so a 20 MB
// body costs a few milliseconds and no allocation. A body that is not a
// JSON object gets the byte heuristic and the default output.
func EstimateTokens(op string, body []byte) int64 {
	return estimateInput(body) + estimateOutput(op, body)
}

func estimateInput(b []byte) int64 {
	var text, blobs int64
	i := 0
	for i < len(b) {
		k := bytes.IndexByte(b[i:], '"')
		if k < 0 {
			text += int64(len(b) - i)
			break
		}
		q := i + k
		text += int64(k)
		end, ok := skipString(b, q)
		if !ok {
			text += int64(len(b) - q)
			break
		}
		if end-q-2 >= minBlobLen && isBase64(b[q+1:q+1+64]) {
			blobs++
		} else {
			text += int64(end - q)
		}
		i = end
	}
	return (text+BytesPerToken-1)/BytesPerToken + blobs*BlobTokens
}

// isBase64 reports whether every byte of b is in the base64 alphabets.
func isBase64(b []byte) bool {
	for _, c := range b {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9',
			c == '+', c == '/', c == '-', c == '_', c == '=':
		default:
			return false
		}
	}
	return true
}

func estimateOutput(op string, body []byte) int64 {
	n := int64(-1)
	converse := op == "Converse" || op == "ConverseStream"
	eachMember(body, func(key, v []byte) bool {
		switch {
		case converse && string(key) == "inferenceConfig":
			n = nestedNumber(v, "maxTokens")
		case converse:
		case string(key) == "max_tokens", string(key) == "max_gen_len", string(key) == "maxTokens":
			n = number(v)
		case string(key) == "textGenerationConfig":
			n = nestedNumber(v, "maxTokenCount")
		case string(key) == "inferenceConfig":
			n = nestedNumber(v, "max_new_tokens")
		}
		return n < 0
	})
	if n < 0 {
		return DefaultMaxOutputTokens
	}
	return n
}

// nestedNumber returns the number member key of the object v, or -1.
func nestedNumber(v []byte, key string) int64 {
	n := int64(-1)
	eachMember(v, func(k, val []byte) bool {
		if string(k) == key {
			n = number(val)
			return false
		}
		return true
	})
	return n
}

// number parses a non-negative JSON integer (a fraction is dropped), or
// returns -1.
func number(v []byte) int64 {
	var n int64
	i := 0
	for ; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		n = n*10 + int64(v[i]-'0')
		if n > maxOutputEstimate {
			return maxOutputEstimate
		}
	}
	if i == 0 || (i < len(v) && v[i] != '.' && v[i] != 'e' && v[i] != 'E') {
		return -1
	}
	return n
}

// The scanner below walks the members of one JSON object without decoding
// it. It is lenient: bytes it skips are not validated, and a malformed
// object at worst yields "not found", which means a default estimate.

// eachMember calls fn with each member of the object b (raw key without
// quotes, raw value) until fn returns false.
func eachMember(b []byte, fn func(key, value []byte) bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	i = skipWS(b, i+1)
	for i < len(b) && b[i] == '"' {
		kend, ok := skipString(b, i)
		if !ok {
			return
		}
		key := b[i+1 : kend-1]
		i = skipWS(b, kend)
		if i >= len(b) || b[i] != ':' {
			return
		}
		i = skipWS(b, i+1)
		vend, ok := skipValue(b, i)
		if !ok || !fn(key, b[i:vend]) {
			return
		}
		i = skipWS(b, vend)
		if i >= len(b) || b[i] != ',' {
			return
		}
		i = skipWS(b, i+1)
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipString returns the index just past the string that starts at b[i]
// (a '"').
func skipString(b []byte, i int) (int, bool) {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return 0, false
		}
		q := j + k
		// The quote ends the string unless an odd number of backslashes
		// precede it.
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

// skipValue returns the index just past the value that starts at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, ok := skipString(b, i)
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
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return j, j > i
			}
			j++
		}
		return j, j > i
	}
}
