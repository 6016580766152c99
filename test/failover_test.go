package test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tollgate-dev/tollgate/internal/bedrocksim"
	"github.com/tollgate-dev/tollgate/internal/stack"
)

func readyz(t *testing.T, r *stack.Regional) int {
	t.Helper()
	resp, err := http.Get(r.OpsURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestFailoverLocalOutage: the local region's breaker opens after the
// configured failures, calls then succeed through the next region without
// touching the sick one, /readyz reports the region out of DNS, and traffic
// returns home after the half-open probe once the region heals.
func TestFailoverLocalOutage(t *testing.T) {
	s := startStack(t, "--breaker-failures", "3", "--breaker-open-timeout", "1s")
	key, _ := newCustomer(t, s, "acme")
	ctx := context.Background()
	east := s.Region("us-east-1")
	c := sdkClient(t, s, "us-east-1", key)
	call := func() string {
		t.Helper()
		out, err := c.Converse(ctx, converseInput(model, "hello there", 0))
		if err != nil {
			t.Fatalf("call failed during a local outage: %v", err)
		}
		return awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response).Header.Get("X-Tollgate-Served-Region")
	}
	if got := call(); got != "us-east-1" {
		t.Fatalf("healthy call served by %s", got)
	}
	if readyz(t, east) != http.StatusOK {
		t.Fatal("not ready while healthy")
	}

	s.Sim.SetFault("us-east-1", bedrocksim.Fault{Outage: bedrocksim.Outage503})
	for i := 0; i < 3; i++ {
		if got := call(); got != "us-west-2" {
			t.Fatalf("call %d during the outage served by %s", i, got)
		}
	}
	if readyz(t, east) != http.StatusServiceUnavailable {
		t.Fatal("/readyz still ready with the local breaker open")
	}
	sick := s.Sim.Counters("us-east-1").Requests
	for i := 0; i < 10; i++ {
		if got := call(); got != "us-west-2" {
			t.Fatalf("served by %s with the breaker open", got)
		}
	}
	if n := s.Sim.Counters("us-east-1").Requests - sick; n != 0 {
		t.Fatalf("the sick region received %d calls while its breaker was open", n)
	}

	s.Sim.ClearFaults()
	deadline := time.Now().Add(10 * time.Second)
	for call() != "us-east-1" {
		if time.Now().After(deadline) {
			t.Fatal("traffic did not return to the healed region")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if readyz(t, east) != http.StatusOK {
		t.Fatal("/readyz not ready after recovery")
	}

	// Usage is metered by the us-east-1 writer, under the region that
	// actually served each call.
	east.Stop()
	_, comps, err := s.Store.CustomerUsage(ctx, "acme", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]int64{}
	for _, c := range comps {
		if c.WriterRegion != "us-east-1" {
			t.Fatalf("component written by %s", c.WriterRegion)
		}
		served[c.ServedRegion] += c.Requests
	}
	if served["us-west-2"] < 13 || served["us-east-1"] < 2 {
		t.Fatalf("requests by served region %v, want ≥13 from us-west-2 and ≥2 from us-east-1", served)
	}
}

// TestFailoverThrottlingAndValidation: a throttling storm in the local
// region is absorbed elsewhere; a validation error is the caller's and is
// returned as is, never retried in another region.
func TestFailoverThrottlingAndValidation(t *testing.T) {
	s := startStack(t, "--breaker-failures", "1000")
	key, _ := newCustomer(t, s, "acme")
	ctx := context.Background()
	c := sdkClient(t, s, "us-east-1", key)
	s.Sim.SetFault("us-east-1", bedrocksim.Fault{ErrorRate: 1, Exception: bedrocksim.ExcThrottling})
	for i := 0; i < 5; i++ {
		out, err := c.Converse(ctx, converseInput(model, "storm", 0))
		if err != nil {
			t.Fatalf("throttled call not failed over: %v", err)
		}
		if got := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response).Header.Get("X-Tollgate-Served-Region"); got != "us-west-2" {
			t.Fatalf("served by %s", got)
		}
	}
	s.Sim.ClearFaults()
	west := s.Sim.Counters("us-west-2").Requests
	_, err := c.Converse(ctx, &bedrockruntime.ConverseInput{ModelId: aws.String(model), Messages: []types.Message{}})
	var ve *types.ValidationException
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want ValidationException", err)
	}
	if n := s.Sim.Counters("us-west-2").Requests - west; n != 0 {
		t.Fatalf("a validation error was retried in another region (%d calls)", n)
	}
}

// TestFailureMidStream: once a stream has started, a failure reaches the
// client as a stream exception; nothing is retried elsewhere or sent twice,
// and the call is metered once, for what Bedrock reported.
func TestFailureMidStream(t *testing.T) {
	s := startStack(t)
	key, _ := newCustomer(t, s, "acme")
	ctx := context.Background()
	c := sdkClient(t, s, "us-east-1", key)
	s.Sim.SetFault("us-east-1", bedrocksim.Fault{FailMidStreamAfter: 3})
	out, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{
		ModelId: aws.String(model), Messages: converseInput(model, "a long answer sim:tokens=20", 0).Messages,
	})
	if err != nil {
		t.Fatal(err)
	}
	stream := out.GetStream()
	deltas := 0
	for ev := range stream.Events() {
		if _, ok := ev.(*types.ConverseStreamOutputMemberContentBlockDelta); ok {
			deltas++
		}
	}
	stream.Close()
	var mse *types.ModelStreamErrorException
	if err := stream.Err(); !errors.As(err, &mse) {
		t.Fatalf("stream error %v, want ModelStreamErrorException", err)
	}
	if deltas != 3 {
		t.Fatalf("client saw %d deltas, want exactly the 3 sent before the failure", deltas)
	}
	if n := s.Sim.Counters("us-west-2").Requests; n != 0 {
		t.Fatalf("a started stream was retried in another region (%d calls)", n)
	}
	// Drain and flush, then read what was metered.
	s.Region("us-east-1").Stop()
	total, _, err := s.Store.CustomerUsage(ctx, "acme", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if total.Requests != 1 || total.Errors != 1 || total.InputTokens != 0 || total.OutputTokens != 0 {
		t.Fatalf("metered %+v, want one errored request with no reported usage", total)
	}
}
