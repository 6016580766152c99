package bedrocksim

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// The token rule. It is deliberately simple so that a test can predict every
// number the simulator reports; docs/simulator.md states it in prose.
const (
	// PromptOverhead is added to the uncached input tokens of every request,
	// standing in for the role and formatting tokens a real tokenizer adds.
	PromptOverhead = 3
	// DefaultMaxTokens caps the answer of a Converse request without
	// inferenceConfig.maxTokens.
	DefaultMaxTokens = 4096
	// MaxDirectiveTokens bounds the sim:tokens=N directive.
	MaxDirectiveTokens = 100000
	// directivePrefix introduces the answer-length directive word.
	directivePrefix = "sim:tokens="
)

// Prompt is the request-side input of the token rule.
type Prompt struct {
	// Prefix is the text before the request's last cache point (Converse
	// cachePoint block; for Anthropic bodies, up to and including the last
	// block with cache_control). Unused when CachePoint is false.
	Prefix []string
	// Text is the remaining text: all of it when CachePoint is false.
	Text []string
	// CachePoint tells whether the request has a cache point, in which case
	// the cache usage fields are reported (possibly as zero).
	CachePoint bool
	// CacheHit tells whether the same prefix, for the same model ID, was
	// already cached on this region, i.e. an earlier request with this prefix
	// reached generation there.
	CacheHit bool
	// MaxTokens caps the answer; 0 means DefaultMaxTokens.
	MaxTokens int
}

// Usage is what the simulator reports for a request.
type Usage struct {
	InputTokens      int    // uncached prompt tokens
	OutputTokens     int    // generated tokens
	CacheReadTokens  int    // prompt tokens read from the cache
	CacheWriteTokens int    // prompt tokens written to the cache
	TotalTokens      int    // the sum of the four above
	CachePoint       bool   // whether cache fields are reported at all
	StopReason       string // "end_turn" or "max_tokens"
}

// CountWords counts whitespace-separated words (strings.Fields) over texts.
func CountWords(texts ...string) int {
	n := 0
	for _, t := range texts {
		n += len(strings.Fields(t))
	}
	return n
}

// ExpectedUsage applies the token rule:
//
//   - W is CountWords over Prefix and Text; P is CountWords(Prefix) when
//     CachePoint is set, else 0.
//   - InputTokens = W - P + PromptOverhead.
//   - With a cache point, CacheWriteTokens = P on a miss and
//     CacheReadTokens = P on a hit (the other one is 0).
//   - The natural answer length L is N when the text contains the word
//     "sim:tokens=N" (1 <= N <= MaxDirectiveTokens, last one wins), else
//     8 + W mod 8.
//   - OutputTokens = min(L, MaxTokens); StopReason is "max_tokens" when
//     L > MaxTokens, else "end_turn".
//   - TotalTokens = InputTokens + OutputTokens + CacheReadTokens +
//     CacheWriteTokens.
func ExpectedUsage(p Prompt) Usage {
	all := p.Text
	prefixWords := 0
	if p.CachePoint {
		prefixWords = CountWords(p.Prefix...)
		all = append(append([]string(nil), p.Prefix...), p.Text...)
	}
	w := CountWords(all...)
	u := Usage{InputTokens: w - prefixWords + PromptOverhead, CachePoint: p.CachePoint}
	if p.CachePoint {
		if p.CacheHit {
			u.CacheReadTokens = prefixWords
		} else {
			u.CacheWriteTokens = prefixWords
		}
	}
	natural, ok := directive(all)
	if !ok {
		natural = 8 + w%8
	}
	limit := p.MaxTokens
	if limit <= 0 {
		limit = DefaultMaxTokens
	}
	u.OutputTokens, u.StopReason = natural, "end_turn"
	if natural > limit {
		u.OutputTokens, u.StopReason = limit, "max_tokens"
	}
	u.TotalTokens = u.InputTokens + u.OutputTokens + u.CacheReadTokens + u.CacheWriteTokens
	return u
}

// directive finds the last valid sim:tokens=N word.
func directive(texts []string) (int, bool) {
	n, found := 0, false
	for _, t := range texts {
		for _, w := range strings.Fields(t) {
			v, ok := strings.CutPrefix(w, directivePrefix)
			if !ok {
				continue
			}
			if k, err := strconv.Atoi(v); err == nil && k >= 1 && k <= MaxDirectiveTokens {
				n, found = k, true
			}
		}
	}
	return n, found
}

// ExpectedText is the answer text of n output tokens: "tok1 tok2 … tokN".
func ExpectedText(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(tokenText(i))
	}
	return b.String()
}

// tokenText is the i-th (1-based) streamed delta. Deltas after the first
// carry their leading space, so concatenating them gives ExpectedText.
func tokenText(i int) string {
	if i == 1 {
		return "tok1"
	}
	return " tok" + strconv.Itoa(i)
}

// ExpectedLatency is the latency the simulator reports (Converse
// metrics.latencyMs, InvokeModel X-Amzn-Bedrock-Invocation-Latency,
// invocationMetrics.invocationLatency): the modelled generation time
// FirstByteDelay + outputTokens*TokenDelay, in whole milliseconds, at least 1.
// It is computed, not measured, so it is exact in tests.
func ExpectedLatency(f Fault, outputTokens int) int64 {
	return atLeastOneMs(f.FirstByteDelay + time.Duration(outputTokens)*f.TokenDelay)
}

// ExpectedFirstByteLatency is invocationMetrics.firstByteLatency: the
// FirstByteDelay in whole milliseconds, at least 1.
func ExpectedFirstByteLatency(f Fault) int64 {
	return atLeastOneMs(f.FirstByteDelay)
}

func atLeastOneMs(d time.Duration) int64 {
	return max(1, d.Milliseconds())
}

// promptBuilder collects a request's text in order and remembers where its
// last cache point is, together with an identity for the cached prefix.
type promptBuilder struct {
	texts    []string
	key      []string // texts plus section markers, hashed into the cache key
	cpTexts  int      // len(texts) at the last cache point, -1 if none
	cpKeyLen int
}

func newPromptBuilder() *promptBuilder { return &promptBuilder{cpTexts: -1} }

// section marks a structural boundary (system, a message and its role), so
// equal text under different roles does not share a cache entry.
func (b *promptBuilder) section(name string) { b.key = append(b.key, "\x01"+name) }

func (b *promptBuilder) text(s string) {
	b.texts = append(b.texts, s)
	b.key = append(b.key, s)
}

func (b *promptBuilder) cachePoint() {
	b.cpTexts, b.cpKeyLen = len(b.texts), len(b.key)
}

// prompt returns the Prompt (without CacheHit and MaxTokens) and, when there
// is a cache point, the cache key of the prefix for the given model.
func (b *promptBuilder) prompt(modelID string) (Prompt, string) {
	if b.cpTexts < 0 {
		return Prompt{Text: b.texts}, ""
	}
	h := sha256.New()
	h.Write([]byte(modelID))
	for _, k := range b.key[:b.cpKeyLen] {
		h.Write([]byte{0})
		h.Write([]byte(k))
	}
	return Prompt{Prefix: b.texts[:b.cpTexts], Text: b.texts[b.cpTexts:], CachePoint: true},
		hex.EncodeToString(h.Sum(nil))
}
