package metering

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"

	"github.com/tollgate-dev/tollgate/internal/evstream"
	"github.com/tollgate-dev/tollgate/internal/jsonscan"
)

// Usage is what Bedrock reported for one call (DESIGN.md invariant 3:
// exact tokens come from Bedrock's own response, never from an estimate).
type Usage struct {
	InputTokens      int64
	OutputTokens     int64
	CacheReadTokens  int64
	CacheWriteTokens int64
	// LatencyMs is Bedrock's own latency figure (Converse metrics.latencyMs,
	// the invocation-latency header, or invocationLatency in a stream), 0
	// when it did not report one.
	LatencyMs int64
}

// Response headers of InvokeModel carrying usage (bedrock-wire.md A2).
const (
	HeaderInputTokens      = "X-Amzn-Bedrock-Input-Token-Count"
	HeaderOutputTokens     = "X-Amzn-Bedrock-Output-Token-Count"
	HeaderInvocationMs     = "X-Amzn-Bedrock-Invocation-Latency"
	HeaderCacheReadTokens  = "X-Amzn-Bedrock-Cache-Read-Input-Token-Count"
	HeaderCacheWriteTokens = "X-Amzn-Bedrock-Cache-Write-Input-Token-Count"
)

// invocationMetricsKey is the member of an InvokeModelWithResponseStream
// chunk's model JSON that carries usage.
const invocationMetricsKey = "amazon-bedrock-invocationMetrics"

// tokenUsage is Bedrock's TokenUsage shape (Converse and ConverseStream).
type tokenUsage struct {
	InputTokens           *int64 `json:"inputTokens"`
	OutputTokens          *int64 `json:"outputTokens"`
	CacheReadInputTokens  int64  `json:"cacheReadInputTokens"`
	CacheWriteInputTokens int64  `json:"cacheWriteInputTokens"`
}

type converseMetrics struct {
	LatencyMs int64 `json:"latencyMs"`
}

// FromConverseBody extracts usage from a Converse response body: the
// top-level "usage" object and "metrics".latencyMs. ok is false when the
// body has no usage (an error body, a truncated body). Only the top level
// of the body is walked, and only the two small members are decoded, so a
// large model answer costs one scan; a tool input that happens to contain
// a "usage" key is not mistaken for Bedrock's.
func FromConverseBody(body []byte) (Usage, bool) {
	if !bytes.Contains(body, []byte(`"usage"`)) {
		return Usage{}, false
	}
	var u Usage
	var found, bad bool
	jsonscan.EachMember(body, func(k, v []byte) bool {
		switch string(k) {
		case "usage":
			found, bad = true, !decodeTokenUsage(v, &u)
		case "metrics":
			var m converseMetrics
			if json.Unmarshal(v, &m) == nil && m.LatencyMs >= 0 {
				u.LatencyMs = m.LatencyMs
			}
		}
		return true
	})
	if !found || bad {
		return Usage{}, false
	}
	return u, true
}

func decodeTokenUsage(v []byte, u *Usage) bool {
	var tu tokenUsage
	if json.Unmarshal(v, &tu) != nil || tu.InputTokens == nil || tu.OutputTokens == nil {
		return false
	}
	u.InputTokens, u.OutputTokens = *tu.InputTokens, *tu.OutputTokens
	u.CacheReadTokens, u.CacheWriteTokens = tu.CacheReadInputTokens, tu.CacheWriteInputTokens
	return u.valid()
}

func (u *Usage) valid() bool {
	return u.InputTokens >= 0 && u.OutputTokens >= 0 && u.CacheReadTokens >= 0 && u.CacheWriteTokens >= 0 && u.LatencyMs >= 0
}

// FromInvokeHeaders extracts usage from InvokeModel response headers. ok is
// false unless both the input and output token counts are present and
// valid; latency and the cache counts are optional.
func FromInvokeHeaders(h http.Header) (Usage, bool) {
	in, ok1 := headerInt(h, HeaderInputTokens)
	out, ok2 := headerInt(h, HeaderOutputTokens)
	if !ok1 || !ok2 {
		return Usage{}, false
	}
	u := Usage{InputTokens: in, OutputTokens: out}
	u.LatencyMs, _ = headerInt(h, HeaderInvocationMs)
	u.CacheReadTokens, _ = headerInt(h, HeaderCacheReadTokens)
	u.CacheWriteTokens, _ = headerInt(h, HeaderCacheWriteTokens)
	return u, true
}

// headerInt reads a non-negative integer header. name is in canonical
// form, as are the keys of a header map filled by net/http or Header.Set,
// so the map is indexed directly (Get would re-canonicalise the name on
// every call).
func headerInt(h http.Header, name string) (int64, bool) {
	vs := h[name]
	if len(vs) == 0 || vs[0] == "" {
		return 0, false
	}
	v := vs[0]
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// FromConverseStreamFrame extracts usage from one raw ConverseStream frame
// (as returned by evstream.ReadFrame): the `metadata` event, payload
// {"usage":{…},"metrics":{"latencyMs":N}}. Every other frame returns false
// after a header lookup, without looking at the payload.
func FromConverseStreamFrame(frame []byte) (Usage, bool) {
	m, err := evstream.Parse(frame)
	if err != nil || !m.HeaderIs(evstream.HeaderMessageType, evstream.MessageTypeEvent) ||
		!m.HeaderIs(evstream.HeaderEventType, "metadata") {
		return Usage{}, false
	}
	return FromConverseBody(m.Payload)
}

// invokeMetrics is the amazon-bedrock-invocationMetrics object.
type invokeMetrics struct {
	InputTokenCount           *int64 `json:"inputTokenCount"`
	OutputTokenCount          *int64 `json:"outputTokenCount"`
	InvocationLatency         int64  `json:"invocationLatency"`
	FirstByteLatency          int64  `json:"firstByteLatency"`
	CacheReadInputTokenCount  int64  `json:"cacheReadInputTokenCount"`
	CacheWriteInputTokenCount int64  `json:"cacheWriteInputTokenCount"`
}

// metricsB64 are the base64 forms of invocationMetricsKey at the three
// possible alignments, trimmed to the characters that depend on the key
// alone. A chunk's model JSON travels base64-encoded; looking for these
// tells whether a chunk can hold the metrics without decoding it.
var metricsB64 = func() [3][]byte {
	var out [3][]byte
	for k := range 3 {
		src := append(bytes.Repeat([]byte{0}, k), invocationMetricsKey...)
		enc := base64.RawStdEncoding.EncodeToString(src)
		first := (8*k + 5) / 6                          // first char with no padding bits
		last := 8 * (k + len(invocationMetricsKey)) / 6 // chars made only of key bits
		out[k] = []byte(enc[first:last])
	}
	return out
}()

func mayHoldMetrics(payload []byte) bool {
	// JSON may escape '/' as "\/" (or anything as \uXXXX), which would hide
	// the base64 pattern: such a payload takes the slow path.
	if bytes.IndexByte(payload, '\\') >= 0 {
		return true
	}
	for _, p := range metricsB64 {
		if bytes.Contains(payload, p) {
			return true
		}
	}
	return false
}

var decodeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// FromInvokeStreamFrame extracts usage from one raw
// InvokeModelWithResponseStream frame: a `chunk` event whose payload is
// {"bytes":"<base64 model JSON>"} and whose model JSON (usually the last
// chunk's) has "amazon-bedrock-invocationMetrics". Chunks that cannot hold
// the metrics are recognised on the base64 text, without decoding.
func FromInvokeStreamFrame(frame []byte) (Usage, bool) {
	m, err := evstream.Parse(frame)
	if err != nil || !m.HeaderIs(evstream.HeaderMessageType, evstream.MessageTypeEvent) ||
		!m.HeaderIs(evstream.HeaderEventType, "chunk") || !mayHoldMetrics(m.Payload) {
		return Usage{}, false
	}
	return fromChunkPayload(m.Payload)
}

func fromChunkPayload(payload []byte) (Usage, bool) {
	raw, ok := jsonscan.Member(payload, "bytes")
	if !ok || len(raw) < 2 || raw[0] != '"' {
		return Usage{}, false
	}
	var b64 []byte
	if bytes.IndexByte(raw, '\\') >= 0 {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return Usage{}, false
		}
		b64 = []byte(s)
	} else {
		b64 = raw[1 : len(raw)-1]
	}
	bp := decodeBufs.Get().(*[]byte)
	defer decodeBufs.Put(bp)
	n := base64.StdEncoding.DecodedLen(len(b64))
	if cap(*bp) < n {
		*bp = make([]byte, n)
	}
	buf := (*bp)[:n]
	n, err := base64.StdEncoding.Decode(buf, b64)
	if err != nil {
		return Usage{}, false
	}
	return fromModelChunk(buf[:n])
}

// fromModelChunk reads the invocation metrics from a decoded chunk.
func fromModelChunk(model []byte) (Usage, bool) {
	if !bytes.Contains(model, []byte(invocationMetricsKey)) {
		return Usage{}, false
	}
	v, ok := jsonscan.Member(model, invocationMetricsKey)
	if !ok {
		return Usage{}, false
	}
	var im invokeMetrics
	if json.Unmarshal(v, &im) != nil || im.InputTokenCount == nil || im.OutputTokenCount == nil {
		return Usage{}, false
	}
	u := Usage{
		InputTokens: *im.InputTokenCount, OutputTokens: *im.OutputTokenCount,
		CacheReadTokens: im.CacheReadInputTokenCount, CacheWriteTokens: im.CacheWriteInputTokenCount,
		LatencyMs: im.InvocationLatency,
	}
	if !u.valid() {
		return Usage{}, false
	}
	return u, true
}
