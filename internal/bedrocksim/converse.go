package bedrocksim

import (
	"encoding/json"
	"fmt"
)

// converseRequest is the part of the Converse / ConverseStream body the
// simulator reads. Content blocks stay raw: they are unions, one key each.
type converseRequest struct {
	Messages []struct {
		Role    string                       `json:"role"`
		Content []map[string]json.RawMessage `json:"content"`
	} `json:"messages"`
	System          []map[string]json.RawMessage `json:"system"`
	InferenceConfig *struct {
		MaxTokens *int `json:"maxTokens"`
	} `json:"inferenceConfig"`
}

// parseConverse validates a Converse body and collects its text and cache
// points. Only "text" blocks carry words; "cachePoint" blocks mark the cache
// prefix; other block types (image, toolUse, …) are accepted and ignored.
func parseConverse(body []byte) (*promptBuilder, int, *apiError) {
	var req converseRequest
	if e := readJSON(body, &req); e != nil {
		return nil, 0, e
	}
	if len(req.Messages) == 0 {
		return nil, 0, validationError("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
	}
	b := newPromptBuilder()
	addBlocks := func(where string, blocks []map[string]json.RawMessage) *apiError {
		for i, blk := range blocks {
			if len(blk) != 1 {
				return validationError(fmt.Sprintf("%s.%d: a content block must have exactly one member", where, i))
			}
			for k, v := range blk {
				switch k {
				case "text":
					var s string
					if err := json.Unmarshal(v, &s); err != nil {
						return validationError(fmt.Sprintf("%s.%d.text: must be a string", where, i))
					}
					b.text(s)
				case "cachePoint":
					var cp struct {
						Type string `json:"type"`
					}
					if err := json.Unmarshal(v, &cp); err != nil || cp.Type != "default" {
						return validationError(fmt.Sprintf("%s.%d.cachePoint.type: must be \"default\"", where, i))
					}
					b.cachePoint()
				}
			}
		}
		return nil
	}
	b.section("system")
	if e := addBlocks("system", req.System); e != nil {
		return nil, 0, e
	}
	for i, msg := range req.Messages {
		if msg.Role != "user" && msg.Role != "assistant" {
			return nil, 0, validationError(fmt.Sprintf("messages.%d.role: must be user or assistant", i))
		}
		if i == 0 && msg.Role != "user" {
			return nil, 0, validationError("A conversation must start with a user message. Try again with a conversation that starts with a user message.")
		}
		if len(msg.Content) == 0 {
			return nil, 0, validationError(fmt.Sprintf("messages.%d.content: must not be empty", i))
		}
		b.section(msg.Role)
		if e := addBlocks(fmt.Sprintf("messages.%d.content", i), msg.Content); e != nil {
			return nil, 0, e
		}
	}
	maxTokens := DefaultMaxTokens
	if req.InferenceConfig != nil && req.InferenceConfig.MaxTokens != nil {
		maxTokens = *req.InferenceConfig.MaxTokens
		if maxTokens < 1 {
			return nil, 0, validationError("inferenceConfig.maxTokens: must be at least 1")
		}
	}
	return b, maxTokens, nil
}

// Wire shapes of Converse answers.
type converseUsage struct {
	InputTokens           int  `json:"inputTokens"`
	OutputTokens          int  `json:"outputTokens"`
	TotalTokens           int  `json:"totalTokens"`
	CacheReadInputTokens  *int `json:"cacheReadInputTokens,omitempty"`
	CacheWriteInputTokens *int `json:"cacheWriteInputTokens,omitempty"`
}

type converseMetrics struct {
	LatencyMs int64 `json:"latencyMs"`
}

func toConverseUsage(u Usage) converseUsage {
	cu := converseUsage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, TotalTokens: u.TotalTokens}
	if u.CachePoint {
		cu.CacheReadInputTokens, cu.CacheWriteInputTokens = &u.CacheReadTokens, &u.CacheWriteTokens
	}
	return cu
}

type textBlock struct {
	Text string `json:"text"`
}

// converse answers Converse and ConverseStream.
func (g *generation) converse(body []byte, stream bool) *apiError {
	b, maxTokens, e := parseConverse(body)
	if e != nil {
		return e
	}
	g.plan(b, maxTokens)
	usage := toConverseUsage(g.usage)
	metrics := converseMetrics{LatencyMs: g.latencyMs()}
	if !stream {
		type message struct {
			Role    string      `json:"role"`
			Content []textBlock `json:"content"`
		}
		g.writeJSON(struct {
			Output struct {
				Message message `json:"message"`
			} `json:"output"`
			StopReason string          `json:"stopReason"`
			Usage      converseUsage   `json:"usage"`
			Metrics    converseMetrics `json:"metrics"`
		}{
			Output: struct {
				Message message `json:"message"`
			}{message{"assistant", []textBlock{{ExpectedText(g.usage.OutputTokens)}}}},
			StopReason: g.usage.StopReason,
			Usage:      usage,
			Metrics:    metrics,
		}, nil)
		return nil
	}
	type delta struct {
		ContentBlockIndex int       `json:"contentBlockIndex"`
		Delta             textBlock `json:"delta"`
	}
	g.stream(streamPlan{
		open: []frame{{"messageStart", map[string]string{"role": "assistant"}}},
		delta: func(i int) frame {
			return frame{"contentBlockDelta", delta{0, textBlock{tokenText(i)}}}
		},
		closing: []frame{
			{"contentBlockStop", map[string]int{"contentBlockIndex": 0}},
			{"messageStop", map[string]string{"stopReason": g.usage.StopReason}},
			{"metadata", struct {
				Usage   converseUsage   `json:"usage"`
				Metrics converseMetrics `json:"metrics"`
			}{usage, metrics}},
		},
	})
	return nil
}
