package bedrocksim_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-dev/tollgate/internal/bedrocksim"
)

func TestUnsignedRequestRefused(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{})
	for name, auth := range map[string]string{
		"none":   "",
		"bearer": "Bearer ABSKQmVkcm9ja0FQSUtleQ==",
		"junk":   "AWS4-HMAC-SHA256 nonsense",
	} {
		req, err := http.NewRequest(http.MethodPost, sim.URL(usEast1)+"/model/"+claude+"/converse",
			strings.NewReader(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-ErrorType") != "AccessDeniedException" {
			t.Errorf("%s: %d %q", name, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
		}
		if !strings.HasPrefix(string(body), `{"message":`) || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: body %s", name, body)
		}
	}
	if got := sim.Counters(usEast1); got.Requests != 3 || got.Errors != 3 {
		t.Errorf("counters = %+v", got)
	}
}

func TestWrongRegionRefused(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{})
	// Signed for us-west-2, sent to the us-east-1 endpoint.
	c := newClient(sim, usWest2, func(o *bedrockruntime.Options) { o.BaseEndpoint = aws.String(sim.URL(usEast1)) })
	_, err := c.Converse(testContext(t), converseIn("hi"))
	var ad *types.AccessDeniedException
	if !errors.As(err, &ad) {
		t.Fatalf("err = %v, want AccessDeniedException", err)
	}
	if !strings.Contains(ad.ErrorMessage(), "region") {
		t.Errorf("message = %q", ad.ErrorMessage())
	}
}

func TestSignatureVerification(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{Credentials: map[string]string{testAKID: testSecre}})
	arn := "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0"
	in := &bedrockruntime.ConverseInput{ModelId: aws.String(arn), Messages: []types.Message{userText("signed")}}
	if _, err := newClient(sim, usEast1).Converse(testContext(t), in); err != nil {
		t.Fatalf("correctly signed: %v", err)
	}
	for name, creds := range map[string]aws.CredentialsProvider{
		"wrong secret": credentials.NewStaticCredentialsProvider(testAKID, "WRONG", ""),
		"unknown key":  credentials.NewStaticCredentialsProvider("AKIDOTHER", testSecre, ""),
	} {
		c := newClient(sim, usEast1, func(o *bedrockruntime.Options) { o.Credentials = creds })
		_, err := c.Converse(testContext(t), in)
		var ad *types.AccessDeniedException
		if !errors.As(err, &ad) {
			t.Errorf("%s: err = %v, want AccessDeniedException", name, err)
		}
	}
}

func TestUnknownOperation(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{})
	h, err := sim.Handler(usEast1)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/model/" + claude + "/count-tokens", "/model//converse", "/models/x/converse", "/model/a/b/converse"} {
		req := httptest.NewRequest(http.MethodPost, path, nil)
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
		req.Header.Set("X-Amz-Date", "20250101T000000Z")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound || rec.Header().Get("X-Amzn-ErrorType") != "UnknownOperationException" {
			t.Errorf("%s: %d %q", path, rec.Code, rec.Header().Get("X-Amzn-ErrorType"))
		}
	}
	if _, err := sim.Handler("xx-nowhere-1"); err == nil {
		t.Error("Handler of an unknown region succeeded")
	}
}

// The handler also works in-process, behind any server, with the SDK.
func TestHandlerInProcess(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{Regions: []string{"ap-southeast-2"}})
	h, err := sim.Handler("ap-southeast-2")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := bedrockruntime.New(bedrockruntime.Options{
		Region: "ap-southeast-2", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider(testAKID, testSecre, ""),
		Retryer:     aws.NopRetryer{},
	})
	out, err := c.Converse(testContext(t), converseIn("in process"))
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.Usage.InputTokens) != 2+bedrocksim.PromptOverhead {
		t.Errorf("usage = %+v", out.Usage)
	}
	if got := sim.Counters("ap-southeast-2"); got.Served != 1 {
		t.Errorf("counters = %+v", got)
	}
}
