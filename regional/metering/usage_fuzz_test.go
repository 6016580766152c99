package metering

import (
	"encoding/base64"
	"net/http"
	"testing"
)

func FuzzFromConverseBody(f *testing.F) {
	f.Add([]byte(converseBody))
	f.Add([]byte(`{"usage":{"inputTokens":1,"outputTokens":2},"metrics":{"latencyMs":3}}`))
	f.Add([]byte(`{"a":"\\\"","usage":[1,{"x":"}"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if u, ok := FromConverseBody(body); ok && !u.valid() {
			t.Fatalf("invalid usage %+v accepted", u)
		}
		// Framed as a metadata event, the same payload gives the same answer.
		u1, ok1 := FromConverseBody(body)
		u2, ok2 := FromConverseStreamFrame(eventFrame(t, "metadata", string(body)))
		if u1 != u2 || ok1 != ok2 {
			t.Fatalf("body %+v %v, frame %+v %v", u1, ok1, u2, ok2)
		}
	})
}

func FuzzFromStreamFrame(f *testing.F) {
	f.Add(eventFrame(f, "metadata", `{"usage":{"inputTokens":1,"outputTokens":2}}`))
	f.Add(chunkFrame(f, `{"amazon-bedrock-invocationMetrics":{"inputTokenCount":1,"outputTokenCount":2}}`))
	f.Add([]byte{0, 0, 0, 16, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, frame []byte) {
		FromConverseStreamFrame(frame)
		FromInvokeStreamFrame(frame)
	})
}

// FuzzInvokeChunk checks that the base64 fast path never skips a chunk
// the full decode would have read usage from.
func FuzzInvokeChunk(f *testing.F) {
	f.Add([]byte(`{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":25,"outputTokenCount":102}}`))
	f.Add([]byte(`{"x":"amazon-bedrock-invocationMetrics"}`))
	f.Fuzz(func(t *testing.T, model []byte) {
		payload := []byte(`{"bytes":"` + base64.StdEncoding.EncodeToString(model) + `"}`)
		slow, slowOK := fromChunkPayload(payload)
		fast, fastOK := FromInvokeStreamFrame(chunkFrame(t, string(model)))
		if slow != fast || slowOK != fastOK {
			t.Fatalf("fast path %+v %v, full decode %+v %v", fast, fastOK, slow, slowOK)
		}
	})
}

func FuzzFromInvokeHeaders(f *testing.F) {
	f.Add("25", "102", "1520", "", "")
	f.Add("-1", "x", "", "3", "4")
	f.Fuzz(func(t *testing.T, in, out, lat, cr, cw string) {
		h := http.Header{}
		h.Set(HeaderInputTokens, in)
		h.Set(HeaderOutputTokens, out)
		h.Set(HeaderInvocationMs, lat)
		h.Set(HeaderCacheReadTokens, cr)
		h.Set(HeaderCacheWriteTokens, cw)
		if u, ok := FromInvokeHeaders(h); ok && !u.valid() {
			t.Fatalf("invalid usage %+v accepted", u)
		}
	})
}
