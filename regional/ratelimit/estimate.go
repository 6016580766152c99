package ratelimit

import (
	"bytes"

	"github.com/tollgate-dev/tollgate/internal/jsonscan"
)

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
		end, ok := jsonscan.SkipString(b, q)
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
	jsonscan.EachMember(body, func(key, v []byte) bool {
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
	jsonscan.EachMember(v, func(k, val []byte) bool {
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
