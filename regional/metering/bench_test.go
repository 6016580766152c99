package metering

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/store"
)

// BenchmarkRecord measures the per-request cost of recording usage: the
// durable log append (group commit, real fsync on the test's temp
// directory) and the in-memory aggregation, from many goroutines at once
// as in the proxy. ns/op is throughput per request across all goroutines,
// not one request's latency (that is about one fsync).
func BenchmarkRecord(b *testing.B) {
	for _, bc := range []struct {
		name string
		sync time.Duration
	}{{"sync=asap", -1}, {"sync=5ms", 5 * time.Millisecond}} {
		b.Run(bc.name, func(b *testing.B) {
			m, err := Open(context.Background(), Config{
				Dir: b.TempDir(), Region: "us-east-1", Store: store.New(nil, "bench-"),
				FlushInterval: -1, SyncInterval: bc.sync, MaxBacklogBytes: 1 << 40,
			})
			if err != nil {
				b.Fatal(err)
			}
			defer m.abandon()
			ev := Event{
				RequestID: "0f8fad5b-d9cb-469f-a165-70867728950e", CustomerID: "acme", KeyID: "k_2x8Rk1",
				Model: "us.anthropic.claude-3-7-sonnet-20250219-v1:0", Operation: "ConverseStream",
				Time: time.Now(), Usage: Usage{InputTokens: 1200, OutputTokens: 350, LatencyMs: 2100},
				Status: 200, Latency: 2200 * time.Millisecond,
			}
			b.SetParallelism(64) // many requests in flight per core, as in a proxy
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if err := m.Record(ctx, ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			st := m.Stats()
			b.ReportMetric(float64(st.Records)/float64(max(st.WALSyncs, 1)), "records/fsync")
		})
	}
}

func BenchmarkFromConverseBody(b *testing.B) {
	// A 64 KiB answer: the scan cost grows with the body.
	text := strings.Repeat("All work and no play makes Jack a dull boy. ", 1500)
	body := []byte(`{"metrics":{"latencyMs":372},"output":{"message":{"content":[{"text":"` + text + `"}],"role":"assistant"}},"stopReason":"end_turn","usage":{"inputTokens":12,"outputTokens":7,"totalTokens":19}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := FromConverseBody(body); !ok {
			b.Fatal("no usage")
		}
	}
}

func BenchmarkFromInvokeHeaders(b *testing.B) {
	h := http.Header{}
	h.Set(HeaderInputTokens, "1200")
	h.Set(HeaderOutputTokens, "350")
	h.Set(HeaderInvocationMs, "2100")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := FromInvokeHeaders(h); !ok {
			b.Fatal("no usage")
		}
	}
}

func BenchmarkFromConverseStreamFrame(b *testing.B) {
	delta := eventFrame(b, "contentBlockDelta", `{"contentBlockIndex":0,"delta":{"text":"Hello, this is a streamed token or two."}}`)
	meta := eventFrame(b, "metadata", `{"usage":{"inputTokens":30,"outputTokens":12,"totalTokens":42},"metrics":{"latencyMs":811}}`)
	b.Run("delta", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := FromConverseStreamFrame(delta); ok {
				b.Fatal("usage in a delta")
			}
		}
	})
	b.Run("metadata", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := FromConverseStreamFrame(meta); !ok {
				b.Fatal("no usage")
			}
		}
	})
}

func BenchmarkFromInvokeStreamFrame(b *testing.B) {
	chunk := chunkFrame(b, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello, this is a streamed token or two."}}`)
	last := chunkFrame(b, `{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":25,"outputTokenCount":102,"invocationLatency":1520,"firstByteLatency":400}}`)
	b.Run("chunk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := FromInvokeStreamFrame(chunk); ok {
				b.Fatal("usage in a delta")
			}
		}
	})
	b.Run("last", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := FromInvokeStreamFrame(last); !ok {
				b.Fatal("no usage")
			}
		}
	})
}
