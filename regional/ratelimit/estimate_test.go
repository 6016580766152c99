package ratelimit

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestEstimateTokens(t *testing.T) {
	image := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("\x89PNG binary", 1000)))
	input := func(body string) int64 { return int64((len(body) + 3) / 4) }
	for _, tc := range []struct {
		name, op, body string
		want           int64
	}{
		{"converse max tokens", "Converse",
			`{"messages":[{"role":"user","content":[{"text":"hello there"}]}],"inferenceConfig":{"temperature":0.5,"maxTokens":500}}`, 500},
		{"converse default", "ConverseStream",
			`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`, DefaultMaxOutputTokens},
		{"converse ignores maxTokens outside inferenceConfig", "Converse",
			`{"messages":[{"role":"user","content":[{"text":"\"maxTokens\": 99999"}]}],"toolConfig":{"tools":[{"toolSpec":{"inputSchema":{"json":{"maxTokens":{"type":"integer"}}}}}]}}`,
			DefaultMaxOutputTokens},
		{"converse ignores max_tokens", "Converse",
			`{"additionalModelRequestFields":{"max_tokens":7},"inferenceConfig":{"maxTokens":64}}`, 64},
		{"anthropic invoke", "InvokeModel",
			`{"anthropic_version":"bedrock-2023-05-31","messages":[{"role":"user","content":"x"}], "max_tokens" : 2048}`, 2048},
		{"llama", "InvokeModelWithResponseStream", `{"prompt":"x","max_gen_len":300}`, 300},
		{"titan", "InvokeModel", `{"inputText":"x","textGenerationConfig":{"maxTokenCount":4096,"temperature":0}}`, 4096},
		{"nova", "InvokeModel", `{"messages":[],"inferenceConfig":{"max_new_tokens":128}}`, 128},
		{"fractional", "InvokeModel", `{"max_tokens":100.0}`, 100},
		{"not a number", "InvokeModel", `{"max_tokens":"lots"}`, DefaultMaxOutputTokens},
		{"not json", "InvokeModel", `max_tokens=5`, DefaultMaxOutputTokens},
		{"empty", "Converse", ``, DefaultMaxOutputTokens},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := EstimateTokens(tc.op, []byte(tc.body)), input(tc.body)+tc.want; got != want {
				t.Fatalf("got %d, want %d", got, want)
			}
		})
	}

	t.Run("attachments count as blobs", func(t *testing.T) {
		text := `{"inferenceConfig":{"maxTokens":10},"messages":[{"role":"user","content":[{"text":"describe"},{"image":{"format":"png","source":{"bytes":"`
		body := text + image + `"}}},{"image":{"format":"png","source":{"bytes":"` + image + `"}}}]}]}`
		rest := len(body) - 2*(len(image)+2) // the blob strings with their quotes
		if got, want := EstimateTokens("Converse", []byte(body)), int64((rest+3)/4)+2*BlobTokens+10; got != want {
			t.Fatalf("got %d, want %d", got, want)
		}
		// A long string of prose is text, not a blob.
		prose := strings.Repeat("lorem ipsum ", 200)
		body = `{"max_tokens":1,"prompt":"` + prose + `"}`
		if got, want := EstimateTokens("InvokeModel", []byte(body)), input(body)+1; got != want {
			t.Fatalf("prose: got %d, want %d", got, want)
		}
	})
}

func FuzzEstimateTokens(f *testing.F) {
	f.Add("Converse", `{"inferenceConfig":{"maxTokens":5}}`)
	f.Add("InvokeModel", `{"max_tokens":9,"x":"\\\""}`)
	f.Add("InvokeModel", `{"a":[{"b":"`)
	f.Fuzz(func(t *testing.T, op, body string) {
		n := EstimateTokens(op, []byte(body))
		if n < 0 || n > int64(len(body))/BytesPerToken+1+int64(len(body))/minBlobLen*BlobTokens+maxOutputEstimate {
			t.Fatalf("estimate %d for %d bytes", n, len(body))
		}
	})
}

func BenchmarkEstimateTokens(b *testing.B) {
	image := base64.StdEncoding.EncodeToString(make([]byte, 3<<20))
	body := []byte(`{"messages":[{"role":"user","content":[{"text":"` + strings.Repeat("some words ", 5000) +
		`"},{"image":{"format":"png","source":{"bytes":"` + image + `"}}}]}],"inferenceConfig":{"maxTokens":1000}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		EstimateTokens("Converse", body)
	}
}
