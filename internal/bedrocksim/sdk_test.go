package bedrocksim_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tollgate-dev/tollgate/internal/bedrocksim"
)

func userText(s string) types.Message {
	return types.Message{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: s}}}
}

func wantUsage(t *testing.T, got *types.TokenUsage, want bedrocksim.Usage) {
	t.Helper()
	if got == nil {
		t.Fatal("usage missing")
	}
	check := func(name string, g *int32, w int, present bool) {
		t.Helper()
		switch {
		case !present && g != nil:
			t.Errorf("%s = %d, want absent", name, *g)
		case present && g == nil:
			t.Errorf("%s absent, want %d", name, w)
		case present && int(*g) != w:
			t.Errorf("%s = %d, want %d", name, *g, w)
		}
	}
	check("inputTokens", got.InputTokens, want.InputTokens, true)
	check("outputTokens", got.OutputTokens, want.OutputTokens, true)
	check("totalTokens", got.TotalTokens, want.TotalTokens, true)
	check("cacheReadInputTokens", got.CacheReadInputTokens, want.CacheReadTokens, want.CachePoint)
	check("cacheWriteInputTokens", got.CacheWriteInputTokens, want.CacheWriteTokens, want.CachePoint)
}

func TestConverseUsageAndCache(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{})
	c := newClient(sim, usEast1)
	in := &bedrockruntime.ConverseInput{
		ModelId: aws.String(claude),
		System: []types.SystemContentBlock{
			&types.SystemContentBlockMemberText{Value: "You are a terse assistant."},
			&types.SystemContentBlockMemberCachePoint{Value: types.CachePointBlock{Type: types.CachePointTypeDefault}},
		},
		Messages:        []types.Message{userText("hello there, simulated world")},
		InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(100)},
	}
	prompt := bedrocksim.Prompt{
		Prefix: []string{"You are a terse assistant."}, Text: []string{"hello there, simulated world"},
		CachePoint: true, MaxTokens: 100,
	}
	var served bedrocksim.Usage
	for i, hit := range []bool{false, true} {
		out, err := c.Converse(testContext(t), in)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		prompt.CacheHit = hit
		want := bedrocksim.ExpectedUsage(prompt)
		if want.InputTokens != 4+bedrocksim.PromptOverhead || want.OutputTokens != 8+9%8 || want.CacheReadTokens+want.CacheWriteTokens != 5 {
			t.Fatalf("rule changed? %+v", want)
		}
		wantUsage(t, out.Usage, want)
		if out.StopReason != types.StopReasonEndTurn {
			t.Errorf("stopReason = %q", out.StopReason)
		}
		msg := out.Output.(*types.ConverseOutputMemberMessage).Value
		if msg.Role != types.ConversationRoleAssistant {
			t.Errorf("role = %q", msg.Role)
		}
		if got := msg.Content[0].(*types.ContentBlockMemberText).Value; got != bedrocksim.ExpectedText(want.OutputTokens) {
			t.Errorf("text = %q", got)
		}
		if out.Metrics == nil || aws.ToInt64(out.Metrics.LatencyMs) != 1 {
			t.Errorf("metrics = %+v, want latencyMs 1", out.Metrics)
		}
		served.InputTokens += want.InputTokens
		served.OutputTokens += want.OutputTokens
		served.CacheReadTokens += want.CacheReadTokens
		served.CacheWriteTokens += want.CacheWriteTokens
	}
	got := sim.Counters(usEast1)
	want := bedrocksim.Counters{Requests: 2, Served: 2, InputTokens: int64(served.InputTokens),
		OutputTokens: int64(served.OutputTokens), CacheReadTokens: 5, CacheWriteTokens: 5}
	if got != want {
		t.Errorf("counters = %+v, want %+v", got, want)
	}
	if other := sim.Counters(usWest2); other != (bedrocksim.Counters{}) {
		t.Errorf("us-west-2 counters = %+v, want zero", other)
	}
}

func TestConverseMaxTokens(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{})
	out, err := newClient(sim, usEast1).Converse(testContext(t), &bedrockruntime.ConverseInput{
		ModelId:         aws.String(claude),
		Messages:        []types.Message{userText("please write sim:tokens=50 words")},
		InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(7)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.StopReason != types.StopReasonMaxTokens {
		t.Errorf("stopReason = %q, want max_tokens", out.StopReason)
	}
	want := bedrocksim.ExpectedUsage(bedrocksim.Prompt{Text: []string{"please write sim:tokens=50 words"}, MaxTokens: 7})
	if want.OutputTokens != 7 || want.StopReason != "max_tokens" {
		t.Fatalf("rule: %+v", want)
	}
	wantUsage(t, out.Usage, want)
}

func TestConverseStream(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{})
	out, err := newClient(sim, usWest2).ConverseStream(testContext(t), &bedrockruntime.ConverseStreamInput{
		ModelId:  aws.String("us.anthropic.claude-3-5-sonnet-20241022-v2:0"),
		Messages: []types.Message{userText("stream sim:tokens=5 please")},
	})
	if err != nil {
		t.Fatal(err)
	}
	stream := out.GetStream()
	defer stream.Close()
	var (
		kinds []string
		text  strings.Builder
		meta  *types.ConverseStreamMetadataEvent
		stop  types.StopReason
	)
	for ev := range stream.Events() {
		switch v := ev.(type) {
		case *types.ConverseStreamOutputMemberMessageStart:
			kinds = append(kinds, "messageStart")
			if v.Value.Role != types.ConversationRoleAssistant {
				t.Errorf("role = %q", v.Value.Role)
			}
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			kinds = append(kinds, "delta")
			text.WriteString(v.Value.Delta.(*types.ContentBlockDeltaMemberText).Value)
		case *types.ConverseStreamOutputMemberContentBlockStop:
			kinds = append(kinds, "contentBlockStop")
		case *types.ConverseStreamOutputMemberMessageStop:
			kinds = append(kinds, "messageStop")
			stop = v.Value.StopReason
		case *types.ConverseStreamOutputMemberMetadata:
			kinds = append(kinds, "metadata")
			meta = &v.Value
		default:
			t.Errorf("unexpected event %T", ev)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	wantKinds := "messageStart delta delta delta delta delta contentBlockStop messageStop metadata"
	if got := strings.Join(kinds, " "); got != wantKinds {
		t.Errorf("events = %s\nwant     %s", got, wantKinds)
	}
	want := bedrocksim.ExpectedUsage(bedrocksim.Prompt{Text: []string{"stream sim:tokens=5 please"}})
	if text.String() != bedrocksim.ExpectedText(5) || stop != types.StopReasonEndTurn {
		t.Errorf("text %q stop %q", text.String(), stop)
	}
	if meta == nil {
		t.Fatal("no metadata event")
	}
	wantUsage(t, meta.Usage, want)
	if aws.ToInt64(meta.Metrics.LatencyMs) != 1 {
		t.Errorf("latencyMs = %d", aws.ToInt64(meta.Metrics.LatencyMs))
	}
	if c := sim.Counters(usWest2); c.Served != 1 || c.OutputTokens != 5 || c.InputTokens != int64(want.InputTokens) {
		t.Errorf("counters = %+v", c)
	}
}

func anthropicBody(t *testing.T, maxTokens int, system any, user string) []byte {
	t.Helper()
	m := map[string]any{
		"anthropic_version": bedrocksim.AnthropicVersion,
		"max_tokens":        maxTokens,
		"messages":          []any{map[string]any{"role": "user", "content": user}},
	}
	if system != nil {
		m["system"] = system
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInvokeModelAnthropic(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{})
	system := []any{map[string]any{"type": "text", "text": "cached system prompt here", "cache_control": map[string]string{"type": "ephemeral"}}}
	out, err := newClient(sim, usEast1).InvokeModel(testContext(t), &bedrockruntime.InvokeModelInput{
		ModelId:     aws.String(claude),
		ContentType: aws.String("application/json"),
		Body:        anthropicBody(t, 10, system, "what is the answer"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := bedrocksim.ExpectedUsage(bedrocksim.Prompt{
		Prefix: []string{"cached system prompt here"}, Text: []string{"what is the answer"},
		CachePoint: true, MaxTokens: 10,
	})
	var resp struct {
		ID, Type, Role, Model string
		Content               []struct{ Type, Text string }
		StopReason            string `json:"stop_reason"`
		Usage                 struct {
			InputTokens   int  `json:"input_tokens"`
			OutputTokens  int  `json:"output_tokens"`
			CacheCreation *int `json:"cache_creation_input_tokens"`
			CacheRead     *int `json:"cache_read_input_tokens"`
		}
	}
	if err := json.Unmarshal(out.Body, &resp); err != nil {
		t.Fatalf("body %s: %v", out.Body, err)
	}
	if resp.Type != "message" || resp.Role != "assistant" || resp.Model != "claude-3-5-sonnet-20240620" ||
		!strings.HasPrefix(resp.ID, "msg_bdrk_") {
		t.Errorf("envelope = %+v", resp)
	}
	if len(resp.Content) != 1 || resp.Content[0].Type != "text" || resp.Content[0].Text != bedrocksim.ExpectedText(want.OutputTokens) {
		t.Errorf("content = %+v", resp.Content)
	}
	if resp.StopReason != want.StopReason || resp.Usage.InputTokens != want.InputTokens ||
		resp.Usage.OutputTokens != want.OutputTokens || resp.Usage.CacheCreation == nil ||
		*resp.Usage.CacheCreation != 4 || resp.Usage.CacheRead == nil || *resp.Usage.CacheRead != 0 {
		t.Errorf("usage = %+v stop %q, want %+v", resp.Usage, resp.StopReason, want)
	}
	if aws.ToString(out.ContentType) != "application/json" {
		t.Errorf("content type = %q", aws.ToString(out.ContentType))
	}
	h := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response).Header
	for name, v := range map[string]int{
		bedrocksim.HeaderInputTokenCount:      want.InputTokens,
		bedrocksim.HeaderOutputTokenCount:     want.OutputTokens,
		bedrocksim.HeaderInvocationLatency:    1,
		bedrocksim.HeaderCacheWriteTokenCount: 4,
		bedrocksim.HeaderCacheReadTokenCount:  0,
	} {
		if got := h.Get(name); got != strconv.Itoa(v) {
			t.Errorf("%s = %q, want %d", name, got, v)
		}
	}
	if id, ok := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata); !ok || id == "" {
		t.Error("no request id")
	}
}

func TestInvokeModelWithResponseStream(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{})
	out, err := newClient(sim, usEast1).InvokeModelWithResponseStream(testContext(t), &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId:     aws.String(claude),
		ContentType: aws.String("application/json"),
		Body:        anthropicBody(t, 3, "be brief", "count to ten"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if ct := aws.ToString(out.ContentType); ct != "application/json" {
		t.Errorf("X-Amzn-Bedrock-Content-Type = %q", ct)
	}
	want := bedrocksim.ExpectedUsage(bedrocksim.Prompt{Text: []string{"be brief", "count to ten"}, MaxTokens: 3})
	stream := out.GetStream()
	defer stream.Close()
	var types_ []string
	var text strings.Builder
	var last map[string]json.RawMessage
	for ev := range stream.Events() {
		chunk, ok := ev.(*types.ResponseStreamMemberChunk)
		if !ok {
			t.Fatalf("unexpected event %T", ev)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(chunk.Value.Bytes, &m); err != nil {
			t.Fatalf("chunk %s: %v", chunk.Value.Bytes, err)
		}
		var typ string
		_ = json.Unmarshal(m["type"], &typ)
		types_ = append(types_, typ)
		if typ == "content_block_delta" {
			var d struct{ Delta struct{ Text string } }
			_ = json.Unmarshal(chunk.Value.Bytes, &d)
			text.WriteString(d.Delta.Text)
		}
		last = m
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	wantTypes := "message_start content_block_start content_block_delta content_block_delta content_block_delta content_block_stop message_delta message_stop"
	if got := strings.Join(types_, " "); got != wantTypes {
		t.Errorf("chunks = %s\nwant     %s", got, wantTypes)
	}
	if text.String() != bedrocksim.ExpectedText(3) {
		t.Errorf("text = %q", text.String())
	}
	var metrics struct {
		InputTokenCount, OutputTokenCount   int
		InvocationLatency, FirstByteLatency int64
	}
	if err := json.Unmarshal(last["amazon-bedrock-invocationMetrics"], &metrics); err != nil {
		t.Fatalf("metrics in last chunk: %v", err)
	}
	if metrics.InputTokenCount != want.InputTokens || metrics.OutputTokenCount != 3 ||
		metrics.InvocationLatency != 1 || metrics.FirstByteLatency != 1 || want.StopReason != "max_tokens" {
		t.Errorf("metrics = %+v, want %+v", metrics, want)
	}
}

func TestInvokeModelOtherFamilies(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{})
	c := newClient(sim, usEast1)
	for _, tc := range []struct{ model, body, field string }{
		{"amazon.titan-text-express-v1", `{"inputText":"one two three","textGenerationConfig":{"maxTokenCount":100}}`, "inputTextTokenCount"},
		{"meta.llama3-8b-instruct-v1:0", `{"prompt":"one two three","max_gen_len":100}`, "prompt_token_count"},
	} {
		out, err := c.InvokeModel(testContext(t), &bedrockruntime.InvokeModelInput{ModelId: aws.String(tc.model), Body: []byte(tc.body)})
		if err != nil {
			t.Fatalf("%s: %v", tc.model, err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(out.Body, &m); err != nil {
			t.Fatal(err)
		}
		if string(m[tc.field]) != strconv.Itoa(3+bedrocksim.PromptOverhead) {
			t.Errorf("%s: %s = %s in %s", tc.model, tc.field, m[tc.field], out.Body)
		}
	}
}

func TestModelIDs(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{})
	c := newClient(sim, usEast1)
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{claude, true},
		{"us.anthropic.claude-3-5-sonnet-20241022-v2:0", true},
		{"global.anthropic.claude-sonnet-4-20250514-v1:0", true},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0", true},
		{"arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0", true},
		{"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123", true},
		{"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-5-sonnet-20240620-v1:0", false},
		{"openai.gpt-5", false},
		{"claude-3", false},
	} {
		_, err := c.Converse(testContext(t), &bedrockruntime.ConverseInput{
			ModelId: aws.String(tc.id), Messages: []types.Message{userText("hi")},
		})
		var ve *types.ValidationException
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: %v", tc.id, err)
		case !tc.ok && !errors.As(err, &ve):
			t.Errorf("%s: err = %v, want ValidationException", tc.id, err)
		}
	}
}

func TestValidationErrors(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{})
	c := newClient(sim, usEast1)
	ctx := testContext(t)
	bodies := map[string]string{
		"not json":          `{"anthropic_version":`,
		"no max_tokens":     `{"anthropic_version":"bedrock-2023-05-31","messages":[{"role":"user","content":"hi"}]}`,
		"no version":        `{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
		"no messages":       `{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[]}`,
		"assistant first":   `{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,"messages":[{"role":"assistant","content":"hi"}]}`,
		"unknown body kind": `{"foo":1}`,
	}
	for name, body := range bodies {
		id := claude
		if name == "unknown body kind" {
			// The model ID does not tell the body format, and the body
			// matches none the simulator knows.
			id = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x"
		}
		_, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(id), Body: []byte(body)})
		var ve *types.ValidationException
		if !errors.As(err, &ve) {
			t.Errorf("%s: err = %v, want ValidationException", name, err)
		}
	}
	_, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(claude)})
	var ve *types.ValidationException
	if !errors.As(err, &ve) {
		t.Errorf("converse without messages: %v", err)
	}
	_, err = c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(claude), Messages: []types.Message{userText("x")},
		InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(0)}})
	if !errors.As(err, &ve) {
		t.Errorf("maxTokens 0: %v", err)
	}
	if got := sim.Counters(usEast1); got.Errors != int64(len(bodies))+2 || got.Served != 0 {
		t.Errorf("counters = %+v", got)
	}
}

func TestBodyLimit(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{MaxBodyBytes: 64})
	_, err := newClient(sim, usEast1).Converse(testContext(t), &bedrockruntime.ConverseInput{
		ModelId: aws.String(claude), Messages: []types.Message{userText(strings.Repeat("word ", 50))},
	})
	var ve *types.ValidationException
	if !errors.As(err, &ve) {
		t.Errorf("err = %v, want ValidationException", err)
	}
}

func TestTLS(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{TLS: true, Regions: []string{"eu-west-1"}})
	if !strings.HasPrefix(sim.URL("eu-west-1"), "https://") {
		t.Fatalf("URL = %s", sim.URL("eu-west-1"))
	}
	c := newClient(sim, "eu-west-1", func(o *bedrockruntime.Options) { o.HTTPClient = sim.HTTPClient() })
	out, err := c.ConverseStream(testContext(t), &bedrockruntime.ConverseStreamInput{
		ModelId: aws.String("eu.anthropic.claude-3-5-sonnet-20240620-v1:0"), Messages: []types.Message{userText("tls sim:tokens=2")},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range out.GetStream().Events() {
		n++
	}
	if err := out.GetStream().Err(); err != nil || n != 6 {
		t.Errorf("events %d err %v", n, err)
	}
	if len(sim.CertificatePEM()) == 0 || sim.CertPool() == nil {
		t.Error("no certificate exposed")
	}
	// A client that does not trust the certificate must fail.
	plain := newClient(sim, "eu-west-1", func(o *bedrockruntime.Options) { o.HTTPClient = &http.Client{} })
	if _, err := plain.Converse(testContext(t), &bedrockruntime.ConverseInput{
		ModelId: aws.String(claude), Messages: []types.Message{userText("x")},
	}); err == nil {
		t.Error("untrusted client succeeded")
	}
}

func TestInvokeStreamOtherFamilies(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{})
	c := newClient(sim, usEast1)
	for _, tc := range []struct{ model, body, textField, stopField, wantStop string }{
		{"amazon.titan-text-express-v1", `{"inputText":"a b sim:tokens=4","textGenerationConfig":{"maxTokenCount":3}}`, "outputText", "completionReason", `"LENGTH"`},
		{"us.meta.llama3-2-1b-instruct-v1:0", `{"prompt":"a b sim:tokens=3","max_gen_len":30}`, "generation", "stop_reason", `"stop"`},
	} {
		out, err := c.InvokeModelWithResponseStream(testContext(t), &bedrockruntime.InvokeModelWithResponseStreamInput{
			ModelId: aws.String(tc.model), Body: []byte(tc.body),
		})
		if err != nil {
			t.Fatalf("%s: %v", tc.model, err)
		}
		var text strings.Builder
		var last map[string]json.RawMessage
		for ev := range out.GetStream().Events() {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(ev.(*types.ResponseStreamMemberChunk).Value.Bytes, &m); err != nil {
				t.Fatal(err)
			}
			var s string
			_ = json.Unmarshal(m[tc.textField], &s)
			text.WriteString(s)
			last = m
		}
		if err := out.GetStream().Err(); err != nil {
			t.Fatal(err)
		}
		if text.String() != "tok1 tok2 tok3" || string(last[tc.stopField]) != tc.wantStop {
			t.Errorf("%s: text %q, last chunk %v", tc.model, text.String(), last)
		}
		var metrics struct{ InputTokenCount, OutputTokenCount int }
		if err := json.Unmarshal(last["amazon-bedrock-invocationMetrics"], &metrics); err != nil ||
			metrics.InputTokenCount != 3+bedrocksim.PromptOverhead || metrics.OutputTokenCount != 3 {
			t.Errorf("%s: metrics %+v %v", tc.model, metrics, err)
		}
	}
}
