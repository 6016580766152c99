package test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// tally sums the usage of every response a client received completely.
type tally struct {
	requests, input, output, cacheRead, cacheWrite atomic.Int64
	failures                                       atomic.Int64
}

func (t *tally) add(in, out, cr, cw int64) {
	t.requests.Add(1)
	t.input.Add(in)
	t.output.Add(out)
	t.cacheRead.Add(cr)
	t.cacheWrite.Add(cw)
}

// mixedCall makes one call of a random operation and, when the response
// arrived completely, adds its Bedrock-reported usage to t.
func mixedCall(ctx context.Context, c *bedrockruntime.Client, rng *rand.Rand, t *tally) {
	words := 1 + rng.IntN(30)
	text := "w"
	for i := 1; i < words; i++ {
		text += " w" + strconv.Itoa(i)
	}
	msgs := converseInput(model, text, 0).Messages
	anthropic, _ := json.Marshal(map[string]any{
		"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
		"messages": []any{map[string]any{"role": "user", "content": text}},
	})
	i64 := func(p *int32) int64 {
		if p == nil {
			return 0
		}
		return int64(*p)
	}
	switch rng.IntN(4) {
	case 0:
		out, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(model), Messages: msgs})
		if err != nil {
			t.failures.Add(1)
			return
		}
		u := out.Usage
		t.add(i64(u.InputTokens), i64(u.OutputTokens), i64(u.CacheReadInputTokens), i64(u.CacheWriteInputTokens))
	case 1:
		out, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{ModelId: aws.String(model), Messages: msgs})
		if err != nil {
			t.failures.Add(1)
			return
		}
		st := out.GetStream()
		var u *types.TokenUsage
		for ev := range st.Events() {
			if m, ok := ev.(*types.ConverseStreamOutputMemberMetadata); ok {
				u = m.Value.Usage
			}
		}
		st.Close()
		if st.Err() != nil || u == nil {
			t.failures.Add(1)
			return
		}
		t.add(i64(u.InputTokens), i64(u.OutputTokens), i64(u.CacheReadInputTokens), i64(u.CacheWriteInputTokens))
	case 2:
		out, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(model), Body: anthropic, ContentType: aws.String("application/json")})
		if err != nil {
			t.failures.Add(1)
			return
		}
		h := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response).Header
		in, _ := strconv.ParseInt(h.Get("X-Amzn-Bedrock-Input-Token-Count"), 10, 64)
		o, _ := strconv.ParseInt(h.Get("X-Amzn-Bedrock-Output-Token-Count"), 10, 64)
		t.add(in, o, 0, 0)
	case 3:
		out, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(model), Body: anthropic, ContentType: aws.String("application/json")})
		if err != nil {
			t.failures.Add(1)
			return
		}
		st := out.GetStream()
		var last []byte
		for ev := range st.Events() {
			if ch, ok := ev.(*types.ResponseStreamMemberChunk); ok {
				last = ch.Value.Bytes
			}
		}
		st.Close()
		var m struct {
			M *struct {
				In  int64 `json:"inputTokenCount"`
				Out int64 `json:"outputTokenCount"`
			} `json:"amazon-bedrock-invocationMetrics"`
		}
		if st.Err() != nil || json.Unmarshal(last, &m) != nil || m.M == nil {
			t.failures.Add(1)
			return
		}
		t.add(m.M.In, m.M.Out, 0, 0)
	}
}

// load runs workers goroutines of mixedCall until stop is closed. Each
// worker has its own client: bedrockruntime v1.63.13 shares one event-stream
// decoder buffer per client (smithy-go internal/eventstream Codec), so
// concurrent streams on one client race and can corrupt each other's events.
func load(ctx context.Context, newClient func() *bedrockruntime.Client, workers int, t *tally, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		c := newClient()
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, seed*7+1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				mixedCall(ctx, c, rng, t)
			}
		}(uint64(w + 1))
	}
	return &wg
}
