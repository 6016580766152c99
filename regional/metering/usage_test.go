package metering

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/smithy-go/eventstream"
)

// encodeFrame builds a frame with the SDK's own encoder, as Bedrock sends
// it.
func encodeFrame(t testing.TB, msgType, typeHeader, typ string, payload []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := eventstream.NewEncoder().Encode(&buf, eventstream.Message{
		Headers: eventstream.Headers{
			{Name: ":message-type", Value: eventstream.StringValue(msgType)},
			{Name: typeHeader, Value: eventstream.StringValue(typ)},
			{Name: ":content-type", Value: eventstream.StringValue("application/json")},
		},
		Payload: payload,
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func eventFrame(t testing.TB, eventType, payload string) []byte {
	return encodeFrame(t, "event", ":event-type", eventType, []byte(payload))
}

func chunkFrame(t testing.TB, modelJSON string) []byte {
	return eventFrame(t, "chunk", `{"bytes":"`+base64.StdEncoding.EncodeToString([]byte(modelJSON))+`"}`)
}

const converseBody = `{"metrics":{"latencyMs":372},"output":{"message":{"content":[{"text":"Hello \"usage\": {\"inputTokens\":999}"}],"role":"assistant"}},"stopReason":"end_turn","usage":{"inputTokens":12,"outputTokens":7,"totalTokens":26,"cacheReadInputTokens":3,"cacheWriteInputTokens":4}}`

func TestFromConverseBody(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Usage
		ok   bool
	}{
		{"full", converseBody, Usage{12, 7, 3, 4, 372}, true},
		{"no cache, usage first", `{"usage":{"inputTokens":5,"outputTokens":6,"totalTokens":11},"stopReason":"max_tokens","output":{"message":{"role":"assistant","content":[]}},"metrics":{"latencyMs":9}}`, Usage{5, 6, 0, 0, 9}, true},
		{"whitespace", " {\n \"usage\" : {\"inputTokens\": 1, \"outputTokens\": 2}\n}\n", Usage{InputTokens: 1, OutputTokens: 2}, true},
		{"tool input with usage key is not usage", `{"output":{"message":{"content":[{"toolUse":{"input":{"usage":{"inputTokens":1,"outputTokens":1}},"name":"f","toolUseId":"t"}}]}},"stopReason":"tool_use"}`, Usage{}, false},
		{"tool input before real usage", `{"output":{"message":{"content":[{"toolUse":{"input":{"usage":{"inputTokens":1,"outputTokens":1}}}}]}},"usage":{"inputTokens":40,"outputTokens":30,"totalTokens":70}}`, Usage{InputTokens: 40, OutputTokens: 30}, true},
		{"error body", `{"message":"Too many requests, please wait before trying again."}`, Usage{}, false},
		{"truncated", converseBody[:len(converseBody)-20], Usage{}, false},
		{"missing output tokens", `{"usage":{"inputTokens":1}}`, Usage{}, false},
		{"negative", `{"usage":{"inputTokens":-1,"outputTokens":1}}`, Usage{}, false},
		{"not an object", `["usage"]`, Usage{}, false},
		{"empty", ``, Usage{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FromConverseBody([]byte(tt.body))
			if got != tt.want || ok != tt.ok {
				t.Fatalf("got %+v %v, want %+v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestFromInvokeHeaders(t *testing.T) {
	h := http.Header{}
	h.Set("X-Amzn-Bedrock-Input-Token-Count", "25")
	h.Set("x-amzn-bedrock-output-token-count", "102")
	h.Set("X-Amzn-Bedrock-Invocation-Latency", "1520")
	got, ok := FromInvokeHeaders(h)
	if !ok || got != (Usage{InputTokens: 25, OutputTokens: 102, LatencyMs: 1520}) {
		t.Fatalf("got %+v %v", got, ok)
	}
	h.Set(HeaderCacheReadTokens, "7")
	h.Set(HeaderCacheWriteTokens, "8")
	if got, _ := FromInvokeHeaders(h); got.CacheReadTokens != 7 || got.CacheWriteTokens != 8 {
		t.Fatalf("cache: %+v", got)
	}
	for _, bad := range []string{"", "x", "-1", "1e3", "99999999999999999999"} {
		h2 := h.Clone()
		h2.Set(HeaderOutputTokens, bad)
		if bad == "" {
			h2.Del(HeaderOutputTokens)
		}
		if _, ok := FromInvokeHeaders(h2); ok {
			t.Errorf("output %q accepted", bad)
		}
	}
}

func TestFromConverseStreamFrame(t *testing.T) {
	meta := `{"usage":{"inputTokens":30,"outputTokens":12,"totalTokens":42,"cacheReadInputTokens":100},"metrics":{"latencyMs":811}}`
	tests := []struct {
		name  string
		frame []byte
		want  Usage
		ok    bool
	}{
		{"metadata", eventFrame(t, "metadata", meta), Usage{30, 12, 100, 0, 811}, true},
		{"delta mentioning metadata", eventFrame(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"metadata usage"}}`), Usage{}, false},
		{"messageStop", eventFrame(t, "messageStop", `{"stopReason":"end_turn"}`), Usage{}, false},
		{"exception", encodeFrame(t, "exception", ":exception-type", "metadata", []byte(meta)), Usage{}, false},
		{"truncated frame", eventFrame(t, "metadata", meta)[:40], Usage{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FromConverseStreamFrame(tt.frame)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("got %+v %v, want %+v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestFromInvokeStreamFrame(t *testing.T) {
	last := `{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":25,"outputTokenCount":102,"invocationLatency":1520,"firstByteLatency":400}}`
	tests := []struct {
		name  string
		frame []byte
		want  Usage
		ok    bool
	}{
		{"anthropic message_stop", chunkFrame(t, last), Usage{InputTokens: 25, OutputTokens: 102, LatencyMs: 1520}, true},
		{"cache counts", chunkFrame(t, `{"amazon-bedrock-invocationMetrics":{"inputTokenCount":1,"outputTokenCount":2,"invocationLatency":3,"firstByteLatency":1,"cacheReadInputTokenCount":4,"cacheWriteInputTokenCount":5}}`), Usage{1, 2, 4, 5, 3}, true},
		{"padding before key", chunkFrame(t, `{"a":"x","amazon-bedrock-invocationMetrics":{"inputTokenCount":1,"outputTokenCount":2}}`), Usage{InputTokens: 1, OutputTokens: 2}, true},
		{"padding 2", chunkFrame(t, `{"ab":"x","amazon-bedrock-invocationMetrics":{"inputTokenCount":1,"outputTokenCount":2}}`), Usage{InputTokens: 1, OutputTokens: 2}, true},
		{"content delta", chunkFrame(t, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`), Usage{}, false},
		{"metrics in text only", chunkFrame(t, `{"delta":{"text":"amazon-bedrock-invocationMetrics"}}`), Usage{}, false},
		{"not a chunk", eventFrame(t, "metadata", `{"bytes":"`+base64.StdEncoding.EncodeToString([]byte(last))+`"}`), Usage{}, false},
		{"bad base64", eventFrame(t, "chunk", `{"bytes":"amazon-bedrock-invocationMetrics!!"}`), Usage{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FromInvokeStreamFrame(tt.frame)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("got %+v %v, want %+v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
	// A model JSON with escaped '/' in the base64 text still decodes.
	esc := strings.ReplaceAll(base64.StdEncoding.EncodeToString([]byte(last+"?>")), "/", `\/`)
	if !strings.Contains(esc, `\/`) {
		t.Fatal("test input has no '/' to escape")
	}
	if got, ok := FromInvokeStreamFrame(eventFrame(t, "chunk", `{"bytes":"`+esc+`"}`)); !ok || got.InputTokens != 25 {
		t.Fatalf("escaped base64: %+v %v", got, ok)
	}
}

// The base64 fast path must never hide a chunk that holds the metrics,
// whatever its alignment.
func TestMayHoldMetricsAlignments(t *testing.T) {
	for pad := range 8 {
		model := `{"` + strings.Repeat("p", pad) + `":1,"amazon-bedrock-invocationMetrics":{"inputTokenCount":1,"outputTokenCount":1}}`
		payload := []byte(`{"bytes":"` + base64.StdEncoding.EncodeToString([]byte(model)) + `"}`)
		if !mayHoldMetrics(payload) {
			t.Fatalf("pad %d: fast path says no metrics", pad)
		}
	}
	if mayHoldMetrics([]byte(`{"bytes":"` + base64.StdEncoding.EncodeToString([]byte(`{"delta":"amazon-bedrock"}`)) + `"}`)) {
		t.Fatal("fast path matched a chunk without the metrics key")
	}
}

func TestExtractionAllocs(t *testing.T) {
	delta := eventFrame(t, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"some text"}}`)
	chunk := chunkFrame(t, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"some text"}}`)
	h := http.Header{}
	h.Set(HeaderInputTokens, "1")
	h.Set(HeaderOutputTokens, "2")
	for name, fn := range map[string]func(){
		"converse stream delta": func() { FromConverseStreamFrame(delta) },
		"invoke stream chunk":   func() { FromInvokeStreamFrame(chunk) },
		"invoke headers":        func() { FromInvokeHeaders(h) },
	} {
		if a := testing.AllocsPerRun(100, fn); a != 0 {
			t.Errorf("%s: %v allocations per frame", name, a)
		}
	}
}
