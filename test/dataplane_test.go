package test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tollgate-dev/tollgate/internal/bedrocksim"
	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/regional/apierror"
)

const model = "anthropic.claude-3-5-sonnet-20240620-v1:0"

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func converseInput(model, text string, maxTokens int32) *bedrockruntime.ConverseInput {
	in := &bedrockruntime.ConverseInput{
		ModelId: aws.String(model),
		Messages: []types.Message{{
			Role:    types.ConversationRoleUser,
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: text}},
		}},
	}
	if maxTokens > 0 {
		in.InferenceConfig = &types.InferenceConfiguration{MaxTokens: aws.Int32(maxTokens)}
	}
	return in
}

// TestAllOperationsThroughTollgate calls the four operations through both
// regions with the official SDK and a bearer key over TLS, and checks the
// answers and exact usage against the simulator's token rule.
func TestAllOperationsThroughTollgate(t *testing.T) {
	s := startStack(t)
	key, _ := newCustomer(t, s, "acme")
	ctx := context.Background()
	prompt := "one two three four five six seven"
	want := bedrocksim.ExpectedUsage(bedrocksim.Prompt{Text: []string{prompt}})

	t.Run("AWS_BEARER_TOKEN_BEDROCK", func(t *testing.T) {
		// What the demo tells SDK users to do: the key and the local CA
		// in the environment, the endpoint in the client options.
		t.Setenv("AWS_BEARER_TOKEN_BEDROCK", key)
		t.Setenv("AWS_CA_BUNDLE", s.TLS.CA)
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"))
		if err != nil {
			t.Fatal(err)
		}
		c := bedrockruntime.NewFromConfig(cfg, func(o *bedrockruntime.Options) {
			o.BaseEndpoint = aws.String(s.Region("us-east-1").URL)
		})
		if _, err := c.Converse(ctx, converseInput(model, prompt, 0)); err != nil {
			t.Fatal(err)
		}
	})

	for _, region := range []string{"us-east-1", "us-west-2"} {
		c := sdkClient(t, s, region, key)
		t.Run(region+"/Converse", func(t *testing.T) {
			out, err := c.Converse(ctx, converseInput(model, prompt, 0))
			if err != nil {
				t.Fatal(err)
			}
			if got := out.Usage; int(*got.InputTokens) != want.InputTokens || int(*got.OutputTokens) != want.OutputTokens {
				t.Fatalf("usage %d/%d, want %d/%d", *got.InputTokens, *got.OutputTokens, want.InputTokens, want.OutputTokens)
			}
			msg := out.Output.(*types.ConverseOutputMemberMessage).Value
			if text := msg.Content[0].(*types.ContentBlockMemberText).Value; text == "" {
				t.Fatal("empty answer")
			}
			raw := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response)
			if got := raw.Header.Get("X-Tollgate-Served-Region"); got != region {
				t.Fatalf("served by %q", got)
			}
		})
		t.Run(region+"/ConverseStream", func(t *testing.T) {
			out, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{
				ModelId:  aws.String("us." + model),
				Messages: converseInput(model, prompt, 0).Messages,
			})
			if err != nil {
				t.Fatal(err)
			}
			stream := out.GetStream()
			defer stream.Close()
			var text strings.Builder
			var usage *types.TokenUsage
			deltas := 0
			for ev := range stream.Events() {
				switch e := ev.(type) {
				case *types.ConverseStreamOutputMemberContentBlockDelta:
					deltas++
					text.WriteString(e.Value.Delta.(*types.ContentBlockDeltaMemberText).Value)
				case *types.ConverseStreamOutputMemberMetadata:
					usage = e.Value.Usage
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if usage == nil || int(*usage.InputTokens) != want.InputTokens || int(*usage.OutputTokens) != want.OutputTokens {
				t.Fatalf("stream usage %+v, want %+v", usage, want)
			}
			if deltas < 2 || text.Len() == 0 {
				t.Fatalf("%d deltas, text %q", deltas, text.String())
			}
		})
		anthropicBody := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"messages":[{"role":"user","content":[{"type":"text","text":"` + prompt + `"}]}]}`
		t.Run(region+"/InvokeModel", func(t *testing.T) {
			out, err := c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{
				ModelId: aws.String("arn:aws:bedrock:" + region + ":123456789012:inference-profile/us." + model),
				Body:    []byte(anthropicBody), ContentType: aws.String("application/json"),
			})
			if err != nil {
				t.Fatal(err)
			}
			raw := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response)
			in, _ := strconv.Atoi(raw.Header.Get("X-Amzn-Bedrock-Input-Token-Count"))
			outT, _ := strconv.Atoi(raw.Header.Get("X-Amzn-Bedrock-Output-Token-Count"))
			if in == 0 || outT == 0 {
				t.Fatalf("token headers missing: %v", raw.Header)
			}
			var body struct {
				Usage struct {
					InputTokens  int `json:"input_tokens"`
					OutputTokens int `json:"output_tokens"`
				} `json:"usage"`
			}
			if err := json.Unmarshal(out.Body, &body); err != nil {
				t.Fatal(err)
			}
			if body.Usage.OutputTokens != outT {
				t.Fatalf("body says %d output tokens, header %d", body.Usage.OutputTokens, outT)
			}
		})
		t.Run(region+"/InvokeModelWithResponseStream", func(t *testing.T) {
			out, err := c.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{
				ModelId: aws.String(model), Body: []byte(anthropicBody), ContentType: aws.String("application/json"),
			})
			if err != nil {
				t.Fatal(err)
			}
			stream := out.GetStream()
			defer stream.Close()
			var last []byte
			chunks := 0
			for ev := range stream.Events() {
				if c, ok := ev.(*types.ResponseStreamMemberChunk); ok {
					chunks++
					last = c.Value.Bytes
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			var m struct {
				Metrics struct{ InputTokenCount, OutputTokenCount int } `json:"amazon-bedrock-invocationMetrics"`
			}
			if err := json.Unmarshal(last, &m); err != nil || m.Metrics.OutputTokenCount == 0 {
				t.Fatalf("last chunk %s: %v", last, err)
			}
			if chunks < 3 {
				t.Fatalf("%d chunks", chunks)
			}
		})
	}
}

func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestErrors checks every error Tollgate returns on the data plane: status,
// X-Amzn-ErrorType, JSON shape, and the SDK's typed error.
func TestErrors(t *testing.T) {
	s := startStack(t, "--key-cache-ttl", "1s", "--max-body-bytes", "1048576")
	ctx := context.Background()
	good, _ := newCustomer(t, s, "acme", "anthropic.*")
	past := time.Now().Add(-48 * time.Hour)
	expired, _ := newKey(t, s, "acme", &past)
	revoked, rk := newKey(t, s, "acme", nil)
	if _, err := s.Store.RevokeKey(ctx, rk.ID); err != nil {
		t.Fatal(err)
	}
	sleepyKey, _ := newCustomer(t, s, "sleepy")
	sc, _ := s.Store.GetCustomer(ctx, "sleepy", true)
	sc.Status, sc.Version = rules.CustomerSuspended, sc.Version+1
	if err := s.Store.PutCustomer(ctx, sc); err != nil {
		t.Fatal(err)
	}
	unknown, _, _, _ := rules.NewKey()
	esc := "/model/" + rules.EscapeModelID(model)

	cases := []struct {
		name   string
		key    string
		path   string
		body   string
		status int
		typ    apierror.Type
		amzn   string
		sdk    any // pointer to the typed SDK error, or nil for raw-only cases
	}{
		{"missing key", "", esc + "/converse", `{}`, 401, apierror.MissingKey, "AccessDeniedException", nil},
		{"malformed key", "tg_nope", esc + "/converse", `{}`, 401, apierror.InvalidKey, "AccessDeniedException", new(*types.AccessDeniedException)},
		{"unknown key", unknown, esc + "/converse", `{}`, 401, apierror.InvalidKey, "AccessDeniedException", new(*types.AccessDeniedException)},
		{"revoked key", revoked, esc + "/converse", `{}`, 401, apierror.KeyRevoked, "AccessDeniedException", new(*types.AccessDeniedException)},
		{"expired key", expired, esc + "/converse", `{}`, 401, apierror.KeyExpired, "AccessDeniedException", new(*types.AccessDeniedException)},
		{"suspended customer", sleepyKey, esc + "/converse", `{}`, 403, apierror.CustomerSuspended, "AccessDeniedException", new(*types.AccessDeniedException)},
		{"model not allowed", good, "/model/meta.llama3-70b-instruct-v1%3A0/converse", `{}`, 403, apierror.ModelNotAllowed, "AccessDeniedException", new(*types.AccessDeniedException)},
		{"malformed JSON", good, esc + "/converse", `{"messages":[`, 400, apierror.InvalidRequest, "ValidationException", new(*types.ValidationException)},
		{"hostile model id", good, "/model/..%2F..%2Fetc%2Fpasswd/converse", `{}`, 400, apierror.InvalidRequest, "ValidationException", nil},
		{"payload too large", good, esc + "/converse", `{"x":"` + strings.Repeat("a", 2<<20) + `"}`, 413, apierror.PayloadTooLarge, "ValidationException", nil},
		{"unknown operation", good, esc + "/chat", `{}`, 404, apierror.UnknownOperation, "UnknownOperationException", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawPost(t, s, "us-east-1", tc.path, tc.key, tc.body, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("X-Amzn-ErrorType"); got != tc.amzn {
				t.Fatalf("X-Amzn-ErrorType %q, want %q", got, tc.amzn)
			}
			var eb apierror.Body
			if err := json.Unmarshal(body, &eb); err != nil {
				t.Fatalf("body is not the error JSON: %s", body)
			}
			if eb.Type != tc.typ || eb.Message == "" || len(eb.RequestID) != 32 || eb.RequestID != resp.Header.Get("X-Tollgate-Request-Id") {
				t.Fatalf("error body %+v", eb)
			}
			if tc.key != "" && strings.Contains(string(body), tc.key) {
				t.Fatal("error body echoes the key")
			}
			if tc.sdk == nil {
				return
			}
			c := sdkClient(t, s, "us-east-1", tc.key)
			m := model
			if tc.typ == apierror.ModelNotAllowed {
				m = "meta.llama3-70b-instruct-v1:0"
			}
			var err error
			if tc.typ == apierror.InvalidRequest {
				_, err = c.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(m), Body: []byte(tc.body), ContentType: aws.String("application/json")})
			} else {
				_, err = c.Converse(ctx, converseInput(m, "hi", 0))
			}
			if !errors.As(err, tc.sdk) {
				t.Fatalf("SDK error %T %v, want %T", err, err, tc.sdk)
			}
		})
	}

	t.Run("expired message names the date", func(t *testing.T) {
		_, body := rawPost(t, s, "us-east-1", esc+"/converse", expired, `{}`, nil)
		if !strings.Contains(string(body), past.UTC().Format("2006-01-02")) {
			t.Fatalf("message does not say when: %s", body)
		}
	})

	// With every region failing, failover has nowhere to go and the
	// client sees Bedrock's own error or Tollgate's upstream error.
	t.Run("Bedrock errors pass through", func(t *testing.T) {
		s.Sim.SetFault("us-east-1", bedrocksim.Fault{ErrorRate: 1, Exception: "ThrottlingException"})
		s.Sim.SetFault("us-west-2", bedrocksim.Fault{ErrorRate: 1, Exception: "ThrottlingException"})
		defer s.Sim.ClearFaults()
		_, err := sdkClient(t, s, "us-east-1", good).Converse(ctx, converseInput(model, "hi", 0))
		var te *types.ThrottlingException
		if !errors.As(err, &te) {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("Bedrock unreachable", func(t *testing.T) {
		s.Sim.SetFault("us-east-1", bedrocksim.Fault{Outage: bedrocksim.OutageRefuse})
		s.Sim.SetFault("us-west-2", bedrocksim.Fault{Outage: bedrocksim.OutageRefuse})
		defer s.Sim.ClearFaults()
		resp, body := rawPost(t, s, "us-east-1", esc+"/converse", good, `{"messages":[]}`, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), string(apierror.UpstreamUnavailable)) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		_, err := sdkClient(t, s, "us-east-1", good).Converse(ctx, converseInput(model, "hi", 0))
		var su *types.ServiceUnavailableException
		if !errors.As(err, &su) {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("revocation takes effect within the cache TTL", func(t *testing.T) {
		key, k := newKey(t, s, "acme", nil)
		c := sdkClient(t, s, "us-west-2", key)
		if _, err := c.Converse(ctx, converseInput(model, "hi", 0)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Store.RevokeKey(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := c.Converse(ctx, converseInput(model, "hi", 0))
			var ad *types.AccessDeniedException
			if errors.As(err, &ad) && strings.Contains(err.Error(), "revoked") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("key still works 5s after revocation with a 1s TTL: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// TestUpstreamTimeout: a Bedrock that does not answer within --call-timeout
// gets upstream_timeout (504, ServiceUnavailableException).
func TestUpstreamTimeout(t *testing.T) {
	s := startStack(t, "--call-timeout", "300ms")
	key, _ := newCustomer(t, s, "acme")
	for _, r := range s.Regions {
		s.Sim.SetFault(r.Region, bedrocksim.Fault{FirstByteDelay: 3 * time.Second})
	}
	resp, body := rawPost(t, s, "us-east-1", "/model/"+rules.EscapeModelID(model)+"/converse", key,
		`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`, nil)
	var eb apierror.Body
	_ = json.Unmarshal(body, &eb)
	if resp.StatusCode != http.StatusGatewayTimeout || eb.Type != apierror.UpstreamTimeout || resp.Header.Get("X-Amzn-ErrorType") != "ServiceUnavailableException" {
		t.Fatalf("%d %s %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body)
	}
}

// TestKeyStoreUnavailable: with DynamoDB down, a key that is not cached
// gets `unavailable` (503), while a cached key keeps working.
func TestKeyStoreUnavailable(t *testing.T) {
	s := startStack(t)
	cached, _ := newCustomer(t, s, "acme")
	uncached, _ := newKey(t, s, "acme", nil)
	ctx := context.Background()
	c := sdkClient(t, s, "us-east-1", cached)
	if _, err := c.Converse(ctx, converseInput(model, "warm", 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.DDB.Pause(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.DDB.Resume() }()
	if _, err := c.Converse(ctx, converseInput(model, "still here", 0)); err != nil {
		t.Fatalf("cached key refused while DynamoDB is down: %v", err)
	}
	_, err := sdkClient(t, s, "us-east-1", uncached).Converse(ctx, converseInput(model, "hi", 0))
	var su *types.ServiceUnavailableException
	if !errors.As(err, &su) || !strings.Contains(err.Error(), "retry") {
		t.Fatalf("uncached key with DynamoDB down: %v", err)
	}
}
