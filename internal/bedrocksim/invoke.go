package bedrocksim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Response headers of InvokeModel that carry usage. Bedrock does not model
// them in the SDK; clients read them from the raw response.
const (
	HeaderInputTokenCount      = "X-Amzn-Bedrock-Input-Token-Count"
	HeaderOutputTokenCount     = "X-Amzn-Bedrock-Output-Token-Count"
	HeaderInvocationLatency    = "X-Amzn-Bedrock-Invocation-Latency"
	HeaderCacheReadTokenCount  = "X-Amzn-Bedrock-Cache-Read-Input-Token-Count"
	HeaderCacheWriteTokenCount = "X-Amzn-Bedrock-Cache-Write-Input-Token-Count"
	// HeaderStreamContentType is the content type of the chunk bytes of
	// InvokeModelWithResponseStream.
	HeaderStreamContentType = "X-Amzn-Bedrock-Content-Type"
)

// AnthropicVersion is the only anthropic_version Bedrock accepts.
const AnthropicVersion = "bedrock-2023-05-31"

// invocationMetrics is the "amazon-bedrock-invocationMetrics" object Bedrock
// adds to the last chunk of InvokeModelWithResponseStream.
type invocationMetrics struct {
	InputTokenCount           int   `json:"inputTokenCount"`
	OutputTokenCount          int   `json:"outputTokenCount"`
	InvocationLatency         int64 `json:"invocationLatency"`
	FirstByteLatency          int64 `json:"firstByteLatency"`
	CacheReadInputTokenCount  *int  `json:"cacheReadInputTokenCount,omitempty"`
	CacheWriteInputTokenCount *int  `json:"cacheWriteInputTokenCount,omitempty"`
}

// invokeFormat is one model family's InvokeModel body and answer format.
type invokeFormat interface {
	parse(body []byte) (*promptBuilder, int, *apiError)
	response(g *generation) any
	// streamOpen, streamDelta and streamClose return chunk payloads; the
	// last payload of streamClose carries the invocation metrics.
	streamOpen(g *generation) []any
	streamDelta(g *generation, i int) any
	streamClose(g *generation, m *invocationMetrics) []any
}

// pickFormat chooses the body format from the model's provider, and sniffs
// the body when the model ID does not tell (application inference profiles).
func pickFormat(m model, body []byte) (invokeFormat, *apiError) {
	switch {
	case m.Provider == "anthropic":
		return anthropicFormat{}, nil
	case m.Provider == "meta":
		return llamaFormat{}, nil
	case strings.HasPrefix(m.Base, "amazon.titan-text"):
		return titanFormat{}, nil
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(body, &keys) == nil {
		switch {
		case keys["anthropic_version"] != nil:
			return anthropicFormat{}, nil
		case keys["inputText"] != nil:
			return titanFormat{}, nil
		case keys["prompt"] != nil:
			return llamaFormat{}, nil
		}
	}
	return nil, validationError("Malformed input request: the simulator accepts Anthropic Messages, Titan Text and Llama bodies for InvokeModel, please reformat your input and try again.")
}

func malformed(detail string) *apiError {
	return validationError("Malformed input request: " + detail + ", please reformat your input and try again.")
}

// invoke answers InvokeModel and InvokeModelWithResponseStream.
func (g *generation) invoke(body []byte, stream bool) *apiError {
	format, e := pickFormat(g.model, body)
	if e != nil {
		return e
	}
	b, maxTokens, e := format.parse(body)
	if e != nil {
		return e
	}
	g.plan(b, maxTokens)
	u := g.usage
	if !stream {
		h := map[string]string{
			HeaderInputTokenCount:   strconv.Itoa(u.InputTokens),
			HeaderOutputTokenCount:  strconv.Itoa(u.OutputTokens),
			HeaderInvocationLatency: strconv.FormatInt(g.latencyMs(), 10),
		}
		if u.CachePoint {
			h[HeaderCacheReadTokenCount] = strconv.Itoa(u.CacheReadTokens)
			h[HeaderCacheWriteTokenCount] = strconv.Itoa(u.CacheWriteTokens)
		}
		g.writeJSON(format.response(g), h)
		return nil
	}
	metrics := &invocationMetrics{
		InputTokenCount:   u.InputTokens,
		OutputTokenCount:  u.OutputTokens,
		InvocationLatency: g.latencyMs(),
		FirstByteLatency:  ExpectedFirstByteLatency(g.fault),
	}
	if u.CachePoint {
		metrics.CacheReadInputTokenCount, metrics.CacheWriteInputTokenCount = &u.CacheReadTokens, &u.CacheWriteTokens
	}
	chunks := func(vs []any) []frame {
		out := make([]frame, len(vs))
		for i, v := range vs {
			out[i] = chunkFrame(v)
		}
		return out
	}
	g.stream(streamPlan{
		header:       map[string]string{HeaderStreamContentType: "application/json"},
		open:         chunks(format.streamOpen(g)),
		delta:        func(i int) frame { return chunkFrame(format.streamDelta(g, i)) },
		closing:      chunks(format.streamClose(g, metrics)),
		allowTimeout: true,
	})
	return nil
}

// chunkFrame wraps a model event as a "chunk" whose "bytes" member is the
// event's JSON; []byte marshals as base64, the member's wire encoding.
func chunkFrame(v any) frame {
	inner, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("bedrocksim: marshal chunk: %v", err)) // only static shapes reach here
	}
	return frame{"chunk", struct {
		Bytes []byte `json:"bytes"`
	}{inner}}
}

// --- Anthropic Messages ---

type anthropicFormat struct{}

type anthropicBlock struct {
	Type         string          `json:"type"`
	Text         *string         `json:"text"`
	CacheControl json.RawMessage `json:"cache_control"`
}

// anthropicContent adds a string or an array of blocks to b. A block with
// cache_control ends the cache prefix after itself, as in Anthropic's API.
func anthropicContent(b *promptBuilder, where string, raw json.RawMessage, required bool) *apiError {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		if required {
			return malformed("#/" + where + ": required key [content] not found")
		}
		return nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return malformed("#/" + where + ": expected type: String")
		}
		b.text(s)
		return nil
	}
	var blocks []anthropicBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return malformed("#/" + where + ": expected type: JSONArray or String")
	}
	for i, blk := range blocks {
		if blk.Type == "" {
			return malformed(fmt.Sprintf("#/%s/%d: required key [type] not found", where, i))
		}
		if blk.Type == "text" {
			if blk.Text == nil {
				return malformed(fmt.Sprintf("#/%s/%d: required key [text] not found", where, i))
			}
			b.text(*blk.Text)
		}
		if cc := bytes.TrimSpace(blk.CacheControl); len(cc) > 0 && string(cc) != "null" {
			b.cachePoint()
		}
	}
	return nil
}

func (anthropicFormat) parse(body []byte) (*promptBuilder, int, *apiError) {
	var req struct {
		AnthropicVersion *string         `json:"anthropic_version"`
		MaxTokens        *int            `json:"max_tokens"`
		System           json.RawMessage `json:"system"`
		Messages         []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if e := readJSON(body, &req); e != nil {
		return nil, 0, e
	}
	switch {
	case req.AnthropicVersion == nil:
		return nil, 0, malformed("#: required key [anthropic_version] not found")
	case *req.AnthropicVersion != AnthropicVersion:
		return nil, 0, malformed("#/anthropic_version: " + strconv.Quote(*req.AnthropicVersion) + " is not a valid enum value")
	case req.MaxTokens == nil:
		return nil, 0, malformed("#: required key [max_tokens] not found")
	case *req.MaxTokens < 1:
		return nil, 0, malformed("#/max_tokens: must be at least 1")
	case len(req.Messages) == 0:
		return nil, 0, malformed("#/messages: expected minimum item count: 1, found: 0")
	}
	b := newPromptBuilder()
	b.section("system")
	if e := anthropicContent(b, "system", req.System, false); e != nil {
		return nil, 0, e
	}
	for i, msg := range req.Messages {
		if msg.Role != "user" && msg.Role != "assistant" {
			return nil, 0, malformed(fmt.Sprintf("#/messages/%d/role: %q is not a valid enum value", i, msg.Role))
		}
		if i == 0 && msg.Role != "user" {
			return nil, 0, validationError("messages: first message must use the \"user\" role")
		}
		b.section(msg.Role)
		if e := anthropicContent(b, fmt.Sprintf("messages/%d/content", i), msg.Content, true); e != nil {
			return nil, 0, e
		}
	}
	return b, *req.MaxTokens, nil
}

type anthropicUsage struct {
	InputTokens              int  `json:"input_tokens"`
	OutputTokens             int  `json:"output_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens,omitempty"`
}

func anthropicUsageOf(u Usage, outputTokens int) anthropicUsage {
	au := anthropicUsage{InputTokens: u.InputTokens, OutputTokens: outputTokens}
	if u.CachePoint {
		au.CacheCreationInputTokens, au.CacheReadInputTokens = &u.CacheWriteTokens, &u.CacheReadTokens
	}
	return au
}

type anthropicText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anthropicMessage struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Role         string          `json:"role"`
	Model        string          `json:"model"`
	Content      []anthropicText `json:"content"`
	StopReason   *string         `json:"stop_reason"`
	StopSequence *string         `json:"stop_sequence"`
	Usage        anthropicUsage  `json:"usage"`
}

var versionSuffixRE = regexp.MustCompile(`-v[0-9]+(:[0-9]+)?$`)

// anthropicModelName is the "model" Anthropic answers carry on Bedrock:
// the model ID without provider prefix and version suffix.
func anthropicModelName(m model) string {
	if m.Base == "" {
		return "claude"
	}
	return versionSuffixRE.ReplaceAllString(strings.TrimPrefix(m.Base, "anthropic."), "")
}

// anthropicMessageID is deterministic per request.
func anthropicMessageID(g *generation) string {
	return "msg_bdrk_" + strings.ReplaceAll(g.rec.requestID, "-", "")
}

func (anthropicFormat) response(g *generation) any {
	stop := g.usage.StopReason
	return anthropicMessage{
		ID: anthropicMessageID(g), Type: "message", Role: "assistant", Model: anthropicModelName(g.model),
		Content:    []anthropicText{{"text", ExpectedText(g.usage.OutputTokens)}},
		StopReason: &stop,
		Usage:      anthropicUsageOf(g.usage, g.usage.OutputTokens),
	}
}

func (anthropicFormat) streamOpen(g *generation) []any {
	// message_start reports output_tokens 1, as Anthropic does; the final
	// count is in message_delta.
	return []any{
		map[string]any{"type": "message_start", "message": anthropicMessage{
			ID: anthropicMessageID(g), Type: "message", Role: "assistant", Model: anthropicModelName(g.model),
			Content: []anthropicText{}, Usage: anthropicUsageOf(g.usage, 1),
		}},
		map[string]any{"type": "content_block_start", "index": 0, "content_block": anthropicText{"text", ""}},
	}
}

func (anthropicFormat) streamDelta(_ *generation, i int) any {
	return map[string]any{"type": "content_block_delta", "index": 0,
		"delta": map[string]string{"type": "text_delta", "text": tokenText(i)}}
}

func (anthropicFormat) streamClose(g *generation, m *invocationMetrics) []any {
	return []any{
		map[string]any{"type": "content_block_stop", "index": 0},
		map[string]any{"type": "message_delta",
			"delta": map[string]any{"stop_reason": g.usage.StopReason, "stop_sequence": nil},
			"usage": map[string]int{"output_tokens": g.usage.OutputTokens}},
		map[string]any{"type": "message_stop", "amazon-bedrock-invocationMetrics": m},
	}
}

// --- Amazon Titan Text ---

type titanFormat struct{}

// titanDefaultMaxTokens is Titan Text's default maxTokenCount.
const titanDefaultMaxTokens = 512

func (titanFormat) parse(body []byte) (*promptBuilder, int, *apiError) {
	var req struct {
		InputText            *string `json:"inputText"`
		TextGenerationConfig *struct {
			MaxTokenCount *int `json:"maxTokenCount"`
		} `json:"textGenerationConfig"`
	}
	if e := readJSON(body, &req); e != nil {
		return nil, 0, e
	}
	if req.InputText == nil {
		return nil, 0, malformed("#: required key [inputText] not found")
	}
	maxTokens := titanDefaultMaxTokens
	if c := req.TextGenerationConfig; c != nil && c.MaxTokenCount != nil {
		if maxTokens = *c.MaxTokenCount; maxTokens < 1 {
			return nil, 0, malformed("#/textGenerationConfig/maxTokenCount: must be at least 1")
		}
	}
	b := newPromptBuilder()
	b.text(*req.InputText)
	return b, maxTokens, nil
}

func titanReason(u Usage) string {
	if u.StopReason == "max_tokens" {
		return "LENGTH"
	}
	return "FINISH"
}

func (titanFormat) response(g *generation) any {
	type result struct {
		TokenCount       int    `json:"tokenCount"`
		OutputText       string `json:"outputText"`
		CompletionReason string `json:"completionReason"`
	}
	return struct {
		InputTextTokenCount int      `json:"inputTextTokenCount"`
		Results             []result `json:"results"`
	}{g.usage.InputTokens, []result{{g.usage.OutputTokens, ExpectedText(g.usage.OutputTokens), titanReason(g.usage)}}}
}

type titanChunk struct {
	OutputText                string             `json:"outputText"`
	Index                     int                `json:"index"`
	TotalOutputTextTokenCount int                `json:"totalOutputTextTokenCount"`
	CompletionReason          *string            `json:"completionReason"`
	InputTextTokenCount       *int               `json:"inputTextTokenCount,omitempty"`
	Metrics                   *invocationMetrics `json:"amazon-bedrock-invocationMetrics,omitempty"`
}

func (titanFormat) streamOpen(*generation) []any { return nil }

func (titanFormat) streamDelta(g *generation, i int) any {
	c := titanChunk{OutputText: tokenText(i), TotalOutputTextTokenCount: i}
	if i == 1 {
		c.InputTextTokenCount = &g.usage.InputTokens
	}
	return c
}

func (titanFormat) streamClose(g *generation, m *invocationMetrics) []any {
	reason := titanReason(g.usage)
	return []any{titanChunk{TotalOutputTextTokenCount: g.usage.OutputTokens, CompletionReason: &reason, Metrics: m}}
}

// --- Meta Llama ---

type llamaFormat struct{}

// llamaDefaultMaxTokens is Llama's default max_gen_len.
const llamaDefaultMaxTokens = 512

func (llamaFormat) parse(body []byte) (*promptBuilder, int, *apiError) {
	var req struct {
		Prompt    *string `json:"prompt"`
		MaxGenLen *int    `json:"max_gen_len"`
	}
	if e := readJSON(body, &req); e != nil {
		return nil, 0, e
	}
	if req.Prompt == nil {
		return nil, 0, malformed("#: required key [prompt] not found")
	}
	maxTokens := llamaDefaultMaxTokens
	if req.MaxGenLen != nil {
		if maxTokens = *req.MaxGenLen; maxTokens < 1 {
			return nil, 0, malformed("#/max_gen_len: must be at least 1")
		}
	}
	b := newPromptBuilder()
	b.text(*req.Prompt)
	return b, maxTokens, nil
}

func llamaReason(u Usage) string {
	if u.StopReason == "max_tokens" {
		return "length"
	}
	return "stop"
}

type llamaChunk struct {
	Generation           string             `json:"generation"`
	PromptTokenCount     *int               `json:"prompt_token_count"`
	GenerationTokenCount int                `json:"generation_token_count"`
	StopReason           *string            `json:"stop_reason"`
	Metrics              *invocationMetrics `json:"amazon-bedrock-invocationMetrics,omitempty"`
}

func (llamaFormat) response(g *generation) any {
	reason := llamaReason(g.usage)
	return llamaChunk{
		Generation: ExpectedText(g.usage.OutputTokens), PromptTokenCount: &g.usage.InputTokens,
		GenerationTokenCount: g.usage.OutputTokens, StopReason: &reason,
	}
}

func (llamaFormat) streamOpen(*generation) []any { return nil }

func (llamaFormat) streamDelta(g *generation, i int) any {
	c := llamaChunk{Generation: tokenText(i), GenerationTokenCount: i}
	if i == 1 {
		c.PromptTokenCount = &g.usage.InputTokens
	}
	return c
}

func (llamaFormat) streamClose(g *generation, m *invocationMetrics) []any {
	reason := llamaReason(g.usage)
	return []any{llamaChunk{GenerationTokenCount: g.usage.OutputTokens, StopReason: &reason, Metrics: m}}
}
