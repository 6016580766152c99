package bedrocksim_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"

	"github.com/tollgate-dev/tollgate/internal/bedrocksim"
)

func converseIn(text string) *bedrockruntime.ConverseInput {
	return &bedrockruntime.ConverseInput{ModelId: aws.String(claude), Messages: []types.Message{userText(text)}}
}

func TestInjectedExceptionsAreTyped(t *testing.T) {
	cases := []struct {
		exception string
		is        func(error) bool
	}{
		{"ThrottlingException", func(err error) bool { var e *types.ThrottlingException; return errors.As(err, &e) }},
		{"ServiceUnavailableException", func(err error) bool { var e *types.ServiceUnavailableException; return errors.As(err, &e) }},
		{"InternalServerException", func(err error) bool { var e *types.InternalServerException; return errors.As(err, &e) }},
		{"ModelTimeoutException", func(err error) bool { var e *types.ModelTimeoutException; return errors.As(err, &e) }},
		{"ModelNotReadyException", func(err error) bool { var e *types.ModelNotReadyException; return errors.As(err, &e) }},
		{"ValidationException", func(err error) bool { var e *types.ValidationException; return errors.As(err, &e) }},
		{"AccessDeniedException", func(err error) bool { var e *types.AccessDeniedException; return errors.As(err, &e) }},
		{"ModelErrorException", func(err error) bool { var e *types.ModelErrorException; return errors.As(err, &e) }},
		{"ServiceQuotaExceededException", func(err error) bool { var e *types.ServiceQuotaExceededException; return errors.As(err, &e) }},
		{"ResourceNotFoundException", func(err error) bool { var e *types.ResourceNotFoundException; return errors.As(err, &e) }},
		{"throttle", func(err error) bool { var e *types.ThrottlingException; return errors.As(err, &e) }},
	}
	sim := startSim(t, bedrocksim.Config{Regions: []string{usEast1}})
	c := newClient(sim, usEast1)
	for _, tc := range cases {
		t.Run(tc.exception, func(t *testing.T) {
			sim.SetFault(usEast1, bedrocksim.Fault{ErrorRate: 1, Exception: tc.exception})
			_, err := c.Converse(testContext(t), converseIn("hi"))
			if !tc.is(err) {
				t.Errorf("Converse: err = %v (%T)", err, err)
			}
			// Streaming operations fail the same way before the stream starts.
			_, err = c.InvokeModelWithResponseStream(testContext(t), &bedrockruntime.InvokeModelWithResponseStreamInput{
				ModelId: aws.String(claude), Body: anthropicBody(t, 5, nil, "hi"),
			})
			if !tc.is(err) {
				t.Errorf("InvokeModelWithResponseStream: err = %v (%T)", err, err)
			}
		})
	}
	if got := sim.Counters(usEast1); got.Errors != int64(2*len(cases)) || got.Served != 0 {
		t.Errorf("counters = %+v", got)
	}
}

func TestErrorRateIsDeterministic(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{
		Regions: []string{usEast1},
		Faults:  map[string]bedrocksim.Fault{usEast1: {ErrorRate: 0.5}},
	})
	c := newClient(sim, usEast1)
	var pattern strings.Builder
	for range 6 {
		_, err := c.Converse(testContext(t), converseIn("hi"))
		var te *types.ThrottlingException
		switch {
		case err == nil:
			pattern.WriteByte('.')
		case errors.As(err, &te):
			pattern.WriteByte('T')
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	if got := pattern.String(); got != ".T.T.T" {
		t.Errorf("pattern = %s, want .T.T.T", got)
	}
	if got := sim.Counters(usEast1); got.Requests != 6 || got.Served != 3 || got.Errors != 3 {
		t.Errorf("counters = %+v", got)
	}
}

func TestOutage503(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{Faults: map[string]bedrocksim.Fault{usWest2: {Outage: "503"}}})
	_, err := newClient(sim, usWest2).Converse(testContext(t), converseIn("hi"))
	var su *types.ServiceUnavailableException
	if !errors.As(err, &su) {
		t.Errorf("us-west-2: err = %v", err)
	}
	if _, err := newClient(sim, usEast1).Converse(testContext(t), converseIn("hi")); err != nil {
		t.Errorf("us-east-1 must be healthy: %v", err)
	}
}

func TestOutageRefuse(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{})
	c := newClient(sim, usEast1)
	url := sim.URL(usEast1)
	host := strings.TrimPrefix(url, "http://")
	if _, err := c.Converse(testContext(t), converseIn("before")); err != nil {
		t.Fatal(err)
	}

	sim.SetFault(usEast1, bedrocksim.Fault{Outage: bedrocksim.OutageRefuse})
	if _, err := net.Dial("tcp", host); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial during outage: err = %v, want connection refused", err)
	}
	_, err := c.Converse(testContext(t), converseIn("during"))
	var apiErr smithy.APIError
	if err == nil || errors.As(err, &apiErr) {
		t.Fatalf("Converse during outage: err = %v, want a connection error", err)
	}
	if _, err := newClient(sim, usWest2).Converse(testContext(t), converseIn("other region")); err != nil {
		t.Errorf("us-west-2 must be unaffected: %v", err)
	}

	sim.ClearFaults()
	if sim.URL(usEast1) != url {
		t.Errorf("URL changed: %s -> %s", url, sim.URL(usEast1))
	}
	// The transport may still hold a connection the outage closed; real
	// clients meet that too, but this test is about the listener.
	sim.HTTPClient().CloseIdleConnections()
	if _, err := c.Converse(testContext(t), converseIn("after")); err != nil {
		t.Fatalf("after clearing: %v", err)
	}
}

func TestStartRefused(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{Faults: map[string]bedrocksim.Fault{usEast1: {Outage: "refuse"}}})
	host := strings.TrimPrefix(sim.URL(usEast1), "http://")
	if _, err := net.Dial("tcp", host); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial: %v", err)
	}
	sim.ClearFaults()
	if _, err := newClient(sim, usEast1).Converse(testContext(t), converseIn("up")); err != nil {
		t.Fatal(err)
	}
}

func TestFailMidStreamConverse(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{Faults: map[string]bedrocksim.Fault{usEast1: {FailMidStreamAfter: 2}}})
	out, err := newClient(sim, usEast1).ConverseStream(testContext(t), &bedrockruntime.ConverseStreamInput{
		ModelId: aws.String(claude), Messages: []types.Message{userText("sim:tokens=5")},
	})
	if err != nil {
		t.Fatal(err)
	}
	stream := out.GetStream()
	defer stream.Close()
	deltas := 0
	for ev := range stream.Events() {
		switch ev.(type) {
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			deltas++
		case *types.ConverseStreamOutputMemberMessageStart:
		default:
			t.Errorf("unexpected event %T after a cut", ev)
		}
	}
	var mse *types.ModelStreamErrorException
	if err := stream.Err(); !errors.As(err, &mse) {
		t.Fatalf("stream.Err() = %v (%T), want ModelStreamErrorException", err, err)
	}
	if deltas != 2 {
		t.Errorf("deltas = %d, want 2", deltas)
	}
	if got := sim.Counters(usEast1); got != (bedrocksim.Counters{Requests: 1, Errors: 1}) {
		t.Errorf("counters = %+v (a cut stream reports no usage)", got)
	}
}

func TestFailMidStreamInvoke(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{})
	c := newClient(sim, usEast1)
	for _, tc := range []struct {
		exception string
		is        func(error) bool
	}{
		{"", func(err error) bool { var e *types.ModelStreamErrorException; return errors.As(err, &e) }},
		{"internalServerException", func(err error) bool { var e *types.InternalServerException; return errors.As(err, &e) }},
		{"modelTimeoutException", func(err error) bool { var e *types.ModelTimeoutException; return errors.As(err, &e) }},
		{"throttlingException", func(err error) bool { var e *types.ThrottlingException; return errors.As(err, &e) }},
	} {
		sim.SetFault(usEast1, bedrocksim.Fault{FailMidStreamAfter: 1, MidStreamException: tc.exception})
		out, err := c.InvokeModelWithResponseStream(testContext(t), &bedrockruntime.InvokeModelWithResponseStreamInput{
			ModelId: aws.String(claude), Body: anthropicBody(t, 100, nil, "hello"),
		})
		if err != nil {
			t.Fatal(err)
		}
		chunks := 0
		for range out.GetStream().Events() {
			chunks++
		}
		// message_start, content_block_start, one delta.
		if err := out.GetStream().Err(); !tc.is(err) || chunks != 3 {
			t.Errorf("%q: chunks %d, err = %v (%T)", tc.exception, chunks, err, err)
		}
	}
}

// sleepRecorder replaces real waiting, so delay behaviour is checked exactly
// and instantly.
type sleepRecorder struct {
	mu     sync.Mutex
	sleeps []time.Duration
}

func (r *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d > 0 {
		r.sleeps = append(r.sleeps, d)
	}
	return ctx.Err()
}

func (r *sleepRecorder) take() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sleeps
	r.sleeps = nil
	return s
}

func TestDelaysAndLatency(t *testing.T) {
	rec := &sleepRecorder{}
	f := bedrocksim.Fault{FirstByteDelay: 1500 * time.Millisecond, TokenDelay: 40 * time.Millisecond}
	sim := startSim(t, bedrocksim.Config{Sleep: rec.sleep, Faults: map[string]bedrocksim.Fault{usEast1: f}})
	c := newClient(sim, usEast1)

	out, err := c.Converse(testContext(t), converseIn("sim:tokens=4"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := aws.ToInt64(out.Metrics.LatencyMs), bedrocksim.ExpectedLatency(f, 4); got != want || want != 1660 {
		t.Errorf("latencyMs = %d, want %d (1660)", got, want)
	}
	if got := rec.take(); len(got) != 2 || got[0] != f.FirstByteDelay || got[1] != 4*f.TokenDelay {
		t.Errorf("Converse sleeps = %v", got)
	}

	s, err := c.ConverseStream(testContext(t), &bedrockruntime.ConverseStreamInput{
		ModelId: aws.String(claude), Messages: []types.Message{userText("sim:tokens=3")},
	})
	if err != nil {
		t.Fatal(err)
	}
	for range s.GetStream().Events() {
	}
	if err := s.GetStream().Err(); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{f.FirstByteDelay, f.TokenDelay, f.TokenDelay, f.TokenDelay}
	if got := rec.take(); !equalDurations(got, want) {
		t.Errorf("ConverseStream sleeps = %v, want %v", got, want)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A client that gives up during the first-byte delay gets its own timeout,
// and the simulator abandons the request instead of hanging.
func TestClientTimeoutDuringDelay(t *testing.T) {
	sim := startSim(t, bedrocksim.Config{Faults: map[string]bedrocksim.Fault{usEast1: {FirstByteDelay: time.Hour}}})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := newClient(sim, usEast1).Converse(ctx, converseIn("hi"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
}

func TestParseFaultSpec(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want bedrocksim.Fault
		bad  bool
	}{
		{spec: "throttle:0.5", want: bedrocksim.Fault{ErrorRate: 0.5, Exception: "ThrottlingException"}},
		{spec: "ModelNotReadyException", want: bedrocksim.Fault{ErrorRate: 1, Exception: "ModelNotReadyException"}},
		{spec: "refuse", want: bedrocksim.Fault{Outage: "refuse"}},
		{spec: "503,delay=150ms", want: bedrocksim.Fault{Outage: "503", FirstByteDelay: 150 * time.Millisecond}},
		{spec: "rate=0.25,exception=internal,token-delay=5ms,cut=3,cut-exception=internalServerException",
			want: bedrocksim.Fault{ErrorRate: 0.25, Exception: "InternalServerException", TokenDelay: 5 * time.Millisecond,
				FailMidStreamAfter: 3, MidStreamException: "internalServerException"}},
		{spec: "rate=0.1", want: bedrocksim.Fault{ErrorRate: 0.1, Exception: "ThrottlingException"}},
		{spec: "none", want: bedrocksim.Fault{}},
		{spec: "throttle:2", bad: true},
		{spec: "bogus", bad: true},
		{spec: "outage=sometimes", bad: true},
		{spec: "delay=soon", bad: true},
		{spec: "cut-exception=boom", bad: true},
	} {
		got, err := bedrocksim.ParseFaultSpec(tc.spec)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: no error", tc.spec)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
}

func TestInvalidConfig(t *testing.T) {
	_, err := bedrocksim.Start(bedrocksim.Config{
		Regions: []string{"us-east-1", "us-east-1", "mars"},
		Faults:  map[string]bedrocksim.Fault{"us-east-1": {ErrorRate: 3}, "eu-west-1": {}},
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"listed twice", `"mars"`, "errorRate 3", `"eu-west-1" is not served`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
