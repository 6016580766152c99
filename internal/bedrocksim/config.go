package bedrocksim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"time"

	"github.com/rs/zerolog"
)

// DefaultMaxBodyBytes is the request body limit used when
// Config.MaxBodyBytes is zero. Larger bodies get a 400 ValidationException.
const DefaultMaxBodyBytes = 20 << 20

// Config configures a simulator. The zero value is usable: every field
// documents its default.
type Config struct {
	// Regions served, one listener each. Default {"us-east-1","us-west-2"}.
	Regions []string
	// Addr is the host the listeners bind to. Default "127.0.0.1".
	Addr string
	// Ports optionally fixes the port of some regions; the others (and all
	// regions when Ports is nil) get a free port chosen by the kernel.
	Ports map[string]int
	// ControlAddr is the host:port of the control API. Default: a free port
	// on Addr.
	ControlAddr string
	// TLS serves HTTPS with a self-signed certificate generated in memory for
	// 127.0.0.1, ::1, localhost and Addr. The control API stays plain HTTP.
	// Use (*Sim).HTTPClient or (*Sim).CertPool to trust it.
	TLS bool
	// Faults are the initial faults per region.
	Faults map[string]Fault
	// Logger receives one line per request. The zero value discards.
	Logger zerolog.Logger
	// Credentials maps access key IDs to secret keys. When non-empty, the
	// SigV4 signature of every request is recomputed and checked, and unknown
	// key IDs are refused. When empty (the default), only the shape and the
	// credential scope (region and service) of the Authorization header are
	// checked.
	Credentials map[string]string
	// MaxBodyBytes limits request bodies. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Sleep waits for d or until ctx ends. It is how every injected delay
	// (FirstByteDelay, TokenDelay) is served, so tests can replace it to
	// record delays instead of waiting. Default: a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Fault describes misbehaviour injected into one region. The zero value is a
// healthy region.
type Fault struct {
	// ErrorRate is the fraction (0..1) of requests answered with Exception.
	// The choice is deterministic: after n requests that reached the fault
	// stage, exactly floor(n*ErrorRate) have failed, so with 0.5 every second
	// request fails and with 1 every request does.
	ErrorRate float64 `json:"errorRate,omitempty"`
	// Exception is the exception ErrorRate injects, by name
	// ("ThrottlingException") or alias ("throttle"); see docs/simulator.md.
	// Default ThrottlingException.
	Exception string `json:"exception,omitempty"`
	// Outage is "" (none), "refuse" (the region's listener is closed and its
	// connections dropped: connection refused until cleared) or "503" (every
	// request gets ServiceUnavailableException).
	Outage string `json:"outage,omitempty"`
	// FirstByteDelay delays every response of the region before its headers.
	FirstByteDelay time.Duration `json:"-"`
	// TokenDelay is the time per generated token: between streamed deltas,
	// and outputTokens*TokenDelay before a non-streamed answer.
	TokenDelay time.Duration `json:"-"`
	// FailMidStreamAfter > 0 makes streaming calls send this many content
	// deltas (fewer if the answer is shorter) and then an exception frame
	// instead of the rest, the stop events and the usage.
	FailMidStreamAfter int `json:"failMidStreamAfter,omitempty"`
	// MidStreamException is the exception frame's :exception-type. Default
	// "modelStreamErrorException". Any member of the stream's union is
	// accepted, e.g. "internalServerException", "throttlingException";
	// "modelTimeoutException" exists only in InvokeModelWithResponseStream.
	MidStreamException string `json:"midStreamException,omitempty"`
}

// Outage values.
const (
	OutageRefuse = "refuse"
	Outage503    = "503"
)

// Counters are one region's request statistics since start or the last reset.
type Counters struct {
	// Requests counts every request received by the region's listener,
	// authorized or not.
	Requests int64 `json:"requests"`
	// Served counts requests that completed successfully: a full JSON answer,
	// or a stream that reached its final metadata / message_stop event.
	Served int64 `json:"served"`
	// Errors counts error answers: injected, validation, auth, routing, and
	// streams ended by an exception frame.
	Errors int64 `json:"errors"`
	// Canceled counts requests abandoned by the client (or cut by an outage)
	// before the simulator finished answering.
	Canceled int64 `json:"canceled"`
	// The token totals sum exactly what the simulator reported to clients in
	// Served responses. A stream cut by FailMidStreamAfter or by the client
	// reports no usage, so it adds nothing.
	InputTokens      int64 `json:"inputTokens"`
	OutputTokens     int64 `json:"outputTokens"`
	CacheReadTokens  int64 `json:"cacheReadTokens"`
	CacheWriteTokens int64 `json:"cacheWriteTokens"`
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// withDefaults returns a copy of c with defaults applied, or every problem
// with it at once.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	if len(c.Regions) == 0 {
		c.Regions = []string{"us-east-1", "us-west-2"}
	}
	c.Regions = append([]string(nil), c.Regions...)
	if c.Addr == "" {
		c.Addr = "127.0.0.1"
	}
	if c.ControlAddr == "" {
		c.ControlAddr = net.JoinHostPort(c.Addr, "0")
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Sleep == nil {
		c.Sleep = sleepCtx
	}
	seen := map[string]bool{}
	for _, r := range c.Regions {
		if !regionRE.MatchString(r) {
			errs = append(errs, fmt.Errorf("region %q: not a region name like us-east-1", r))
		}
		if seen[r] {
			errs = append(errs, fmt.Errorf("region %q: listed twice", r))
		}
		seen[r] = true
	}
	for r, p := range c.Ports {
		if !seen[r] {
			errs = append(errs, fmt.Errorf("ports: region %q is not served", r))
		}
		if p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("ports: region %q: port %d out of range", r, p))
		}
	}
	faults := make(map[string]Fault, len(c.Faults))
	for r, f := range c.Faults {
		if !seen[r] {
			errs = append(errs, fmt.Errorf("faults: region %q is not served", r))
			continue
		}
		nf, err := f.normalize()
		if err != nil {
			errs = append(errs, fmt.Errorf("faults: region %q: %w", r, err))
		}
		faults[r] = nf
	}
	c.Faults = faults
	return c, errors.Join(errs...)
}

// streamExceptions are the :exception-type values a stream may carry
// (members of the ConverseStreamOutput / ResponseStream unions).
var streamExceptions = map[string]bool{
	"internalServerException":     true,
	"modelStreamErrorException":   true,
	"validationException":         true,
	"throttlingException":         true,
	"serviceUnavailableException": true,
	"modelTimeoutException":       true,
}

// normalize validates f and resolves aliases and defaults.
func (f Fault) normalize() (Fault, error) {
	var errs []error
	if f.ErrorRate < 0 || f.ErrorRate > 1 || f.ErrorRate != f.ErrorRate {
		errs = append(errs, fmt.Errorf("errorRate %v: want 0..1", f.ErrorRate))
	}
	switch {
	case f.Exception == "" && f.ErrorRate > 0:
		f.Exception = ExcThrottling
	case f.Exception != "":
		full, ok := canonicalException(f.Exception)
		if !ok || full == ExcUnknownOperation {
			errs = append(errs, fmt.Errorf("exception %q: unknown", f.Exception))
		} else {
			f.Exception = full
		}
	}
	switch f.Outage {
	case "", OutageRefuse, Outage503:
	default:
		errs = append(errs, fmt.Errorf("outage %q: want \"\", %q or %q", f.Outage, OutageRefuse, Outage503))
	}
	if f.FirstByteDelay < 0 || f.TokenDelay < 0 {
		errs = append(errs, errors.New("delays must not be negative"))
	}
	if f.FailMidStreamAfter < 0 {
		errs = append(errs, fmt.Errorf("failMidStreamAfter %d: must not be negative", f.FailMidStreamAfter))
	}
	if f.MidStreamException != "" && !streamExceptions[f.MidStreamException] {
		errs = append(errs, fmt.Errorf("midStreamException %q: not a stream exception member name", f.MidStreamException))
	}
	return f, errors.Join(errs...)
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
