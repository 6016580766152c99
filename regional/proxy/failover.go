package proxy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/sony/gobreaker/v2"

	"github.com/tollgate-dev/tollgate/internal/rules"
)

// BreakerSettings tune the circuit breaker of each upstream region. Zero
// values mean the documented defaults.
type BreakerSettings struct {
	// ConsecutiveFailures trips the breaker. Default 5.
	ConsecutiveFailures uint32
	// FailureRatio trips the breaker when at least MinRequests were made
	// in the rolling Window and this fraction failed. Default 0.5.
	FailureRatio float64
	// MinRequests for FailureRatio to apply. Default 20.
	MinRequests uint32
	// Window over which the ratio is computed (rolling, ten buckets).
	// Default 30s.
	Window time.Duration
	// OpenTimeout is how long an open breaker refuses before letting a
	// half-open probe through. Default 15s.
	OpenTimeout time.Duration
	// HalfOpenProbes is how many probe calls a half-open breaker lets
	// through; all must succeed to close it. Default 1.
	HalfOpenProbes uint32
}

func (b *BreakerSettings) defaults() {
	b.ConsecutiveFailures = cmp.Or(b.ConsecutiveFailures, 5)
	b.FailureRatio = cmp.Or(b.FailureRatio, 0.5)
	b.MinRequests = cmp.Or(b.MinRequests, 20)
	if b.Window <= 0 {
		b.Window = 30 * time.Second
	}
	if b.OpenTimeout <= 0 {
		b.OpenTimeout = 15 * time.Second
	}
	b.HalfOpenProbes = cmp.Or(b.HalfOpenProbes, 1)
}

// ModelRoute overrides the region order for models matching Pattern
// (rules.Glob syntax).
type ModelRoute struct {
	Pattern string
	Regions []string
}

// FailoverConfig configures a Failover upstream.
type FailoverConfig struct {
	// Local is the serving region; it is tried first unless a ModelRoute
	// says otherwise.
	Local string
	// Upstreams holds one upstream per Bedrock region that may be used.
	Upstreams map[string]Upstream
	// Order lists the regions to fail over to, in order, after Local.
	Order []string
	// ModelRoutes override the order per model; first match wins.
	ModelRoutes []ModelRoute
	// ModelMap translates model ids per target region: ModelMap[region][id].
	// It wins over the automatic translation.
	ModelMap map[string]map[string]string
	// CrossGeo allows translating a geographic inference profile
	// ("eu.…") to another geography's ("us.…") when failing over across
	// geographies. Off by default: customers choose geo profiles to keep
	// data in a geography.
	CrossGeo bool
	// AttemptTimeout, when positive, bounds one attempt up to its response
	// headers, so a region that hangs fails over while the call's overall
	// deadline still has time left. Default: none.
	AttemptTimeout time.Duration
	Breaker        BreakerSettings
	Logger         zerolog.Logger
	// Registerer receives the breaker metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Failover is an Upstream that tries an ordered list of Bedrock regions,
// each behind a circuit breaker, and moves on only when nothing has been
// sent to the client yet and the failure is Bedrock's, not the caller's.
type Failover struct {
	cfg      FailoverConfig
	breakers map[string]*gobreaker.TwoStepCircuitBreaker[struct{}]
	state    *prometheus.GaugeVec
	changes  *prometheus.CounterVec
	moves    *prometheus.CounterVec
}

// NewFailover validates cfg and builds the breakers.
func NewFailover(cfg FailoverConfig) (*Failover, error) {
	cfg.Breaker.defaults()
	if cfg.Upstreams[cfg.Local] == nil {
		return nil, fmt.Errorf("failover: no upstream for the local region %q", cfg.Local)
	}
	for _, r := range cfg.Order {
		if cfg.Upstreams[r] == nil {
			return nil, fmt.Errorf("failover: no upstream for region %q", r)
		}
	}
	for _, mr := range cfg.ModelRoutes {
		for _, r := range mr.Regions {
			if cfg.Upstreams[r] == nil {
				return nil, fmt.Errorf("failover: model route %q names region %q with no upstream", mr.Pattern, r)
			}
		}
	}
	f := &Failover{
		cfg:      cfg,
		breakers: map[string]*gobreaker.TwoStepCircuitBreaker[struct{}]{},
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tollgate_breaker_state", Help: "Circuit breaker state per upstream region: 0 closed, 1 half-open, 2 open.",
		}, []string{"region"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_breaker_state_changes_total", Help: "Circuit breaker state changes by region and new state.",
		}, []string{"region", "state"}),
		moves: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_failovers_total", Help: "Calls moved from one region to the next, by reason.",
		}, []string{"from", "to", "reason"}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(f.state, f.changes, f.moves)
	}
	b := cfg.Breaker
	for region := range cfg.Upstreams {
		f.state.WithLabelValues(region).Set(0)
		f.breakers[region] = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:         region,
			MaxRequests:  b.HalfOpenProbes,
			Interval:     b.Window,
			BucketPeriod: b.Window / 10,
			Timeout:      b.OpenTimeout,
			ReadyToTrip: func(c gobreaker.Counts) bool {
				if c.ConsecutiveFailures >= b.ConsecutiveFailures {
					return true
				}
				return c.Requests >= b.MinRequests && float64(c.TotalFailures) >= b.FailureRatio*float64(c.Requests)
			},
			IsExcluded: func(err error) bool { return errors.Is(err, errExcluded) },
			OnStateChange: func(name string, from, to gobreaker.State) {
				f.state.WithLabelValues(name).Set(float64(to))
				f.changes.WithLabelValues(name, to.String()).Inc()
				ev := f.cfg.Logger.Warn()
				if to == gobreaker.StateClosed {
					ev = f.cfg.Logger.Info()
				}
				ev.Str("upstream_region", name).Str("from", from.String()).Str("to", to.String()).Msg("circuit breaker state change")
			},
		})
	}
	return f, nil
}

// errExcluded marks an outcome that says nothing about the region's health
// (the caller went away): neither success nor failure.
var errExcluded = errors.New("excluded")

// LocalOpen reports whether the local region's breaker is open, which
// takes the instance out of DNS through /readyz.
func (f *Failover) LocalOpen() bool {
	return f.breakers[f.cfg.Local].State() == gobreaker.StateOpen
}

// BreakerState returns a region's breaker state name ("closed",
// "half-open", "open").
func (f *Failover) BreakerState(region string) string {
	if b := f.breakers[region]; b != nil {
		return b.State().String()
	}
	return ""
}

// regionsFor returns the regions to try for a model, in order.
func (f *Failover) regionsFor(model string) []string {
	for _, mr := range f.cfg.ModelRoutes {
		if rules.Glob(mr.Pattern, model) || rules.Glob(mr.Pattern, rules.BaseModelID(model)) {
			return mr.Regions
		}
	}
	out := make([]string, 0, 1+len(f.cfg.Order))
	out = append(out, f.cfg.Local)
	for _, r := range f.cfg.Order {
		if r != f.cfg.Local {
			out = append(out, r)
		}
	}
	return out
}

// ErrNoRegion is returned when no region may serve the call: every breaker
// is open or the model has no equivalent anywhere else.
var ErrNoRegion = errors.New("no Bedrock region is available for this call")

// Do tries the call region by region. It returns the first answer that is
// not an upstream fault, or the last fault when every region failed.
func (f *Failover) Do(ctx context.Context, c *Call) (*http.Response, string, error) {
	var lastResp *http.Response
	var lastErr error = ErrNoRegion
	lastRegion := f.cfg.Local
	prev, reason := "", ""
	for _, region := range f.regionsFor(c.Model) {
		model, ok := TranslateModel(c.Model, f.cfg.Local, region, f.cfg.ModelMap, f.cfg.CrossGeo)
		if !ok {
			continue
		}
		done, err := f.breakers[region].Allow()
		if err != nil {
			reason = "breaker_open"
			continue // open, or half-open with its probe already out
		}
		if ctx.Err() != nil {
			done(errExcluded)
			break
		}
		if prev != "" {
			f.moves.WithLabelValues(prev, region, reason).Inc()
		}
		if lastResp != nil {
			drain(lastResp)
			lastResp = nil
		}
		attempt := *c
		attempt.Model = model
		resp, err := f.attempt(ctx, region, &attempt)
		fault, why := classify(ctx, resp, err)
		switch {
		case fault:
			done(fmt.Errorf("upstream fault: %s", why))
		case err != nil && ctx.Err() != nil:
			done(errExcluded)
		default:
			done(nil)
		}
		if !fault {
			return resp, region, err
		}
		f.cfg.Logger.Warn().Str("upstream_region", region).Str("reason", why).Msg("upstream fault; trying the next region")
		lastResp, lastErr, lastRegion, prev, reason = resp, err, region, region, why
	}
	if lastResp != nil {
		// Every region failed: hand back Bedrock's own last answer.
		return lastResp, lastRegion, nil
	}
	return nil, lastRegion, lastErr
}

// attempt sends one call, bounded by AttemptTimeout up to the headers.
func (f *Failover) attempt(ctx context.Context, region string, c *Call) (*http.Response, error) {
	if f.cfg.AttemptTimeout <= 0 {
		resp, _, err := f.cfg.Upstreams[region].Do(ctx, c)
		return resp, err
	}
	actx, cancel := context.WithCancel(ctx)
	t := time.AfterFunc(f.cfg.AttemptTimeout, cancel)
	resp, _, err := f.cfg.Upstreams[region].Do(actx, c)
	if !t.Stop() && err != nil {
		cancel()
		return nil, fmt.Errorf("no response headers within %s: %w", f.cfg.AttemptTimeout, errAttemptTimeout)
	}
	if err != nil {
		cancel()
		return nil, err
	}
	// The body outlives this function: cancel with it.
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

var errAttemptTimeout = errors.New("attempt timeout")

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// classify decides whether an attempt's outcome is an upstream fault (count
// it against the region's breaker and fail over) and names the reason.
// Only Bedrock's own trouble counts: 5xx, throttling, model-not-ready,
// timeouts and connection errors. The caller's errors (validation, access,
// not found) are answers, and the caller going away is nobody's fault.
func classify(ctx context.Context, resp *http.Response, err error) (bool, string) {
	if err != nil {
		if ctx.Err() != nil {
			return false, ""
		}
		if errors.Is(err, errAttemptTimeout) {
			return true, "timeout"
		}
		return true, "connection"
	}
	if resp.StatusCode >= 500 {
		return true, "status_" + fmt.Sprint(resp.StatusCode)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		switch errorTypeOf(resp.Header.Get("X-Amzn-ErrorType")) {
		case "ThrottlingException", "ModelNotReadyException", "upstream_error":
			return true, "throttled"
		}
	}
	return false, ""
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// geoOf names the inference-profile geography of a region.
func geoOf(region string) string {
	switch {
	case strings.HasPrefix(region, "us-gov-"):
		return "us-gov"
	case strings.HasPrefix(region, "us-"), strings.HasPrefix(region, "ca-"):
		return "us"
	case strings.HasPrefix(region, "eu-"):
		return "eu"
	case strings.HasPrefix(region, "ap-"):
		return "apac"
	}
	return ""
}

// TranslateModel returns the id to send to region to for a model id the
// client sent to region from, or false when the model has no equivalent
// there (and so must never be sent there):
//   - an explicit ModelMap entry wins;
//   - foundation-model ids and "global." profiles are the same everywhere;
//   - a geographic profile ("us.", "eu.", "apac.") stays as is within its
//     geography, and is rewritten to the target's geography only when
//     crossGeo allows it;
//   - inference-profile and foundation-model ARNs get the target region;
//     other ARNs (application profiles, provisioned, custom and imported
//     models) are regional resources and only work where they are.
func TranslateModel(model, from, to string, explicit map[string]map[string]string, crossGeo bool) (string, bool) {
	if m, ok := explicit[to][model]; ok {
		return m, m != ""
	}
	if from == to {
		return model, true
	}
	if strings.HasPrefix(model, "arn:") {
		// arn:partition:bedrock:region:account:type/id
		parts := strings.SplitN(model, ":", 6)
		if len(parts) != 6 {
			return "", false
		}
		typ, id, ok := strings.Cut(parts[5], "/")
		if !ok || (typ != "inference-profile" && typ != "foundation-model") {
			return "", false
		}
		id, ok = translateID(id, to, crossGeo)
		if !ok {
			return "", false
		}
		parts[3] = to
		parts[5] = typ + "/" + id
		return strings.Join(parts, ":"), true
	}
	return translateID(model, to, crossGeo)
}

func translateID(id, to string, crossGeo bool) (string, bool) {
	prefix, rest, ok := strings.Cut(id, ".")
	if !ok {
		return id, true
	}
	switch prefix {
	case "us", "eu", "apac", "us-gov", "jp", "au", "ca":
		target := geoOf(to)
		if target == prefix {
			return id, true
		}
		if crossGeo && target != "" {
			return target + "." + rest, true
		}
		return "", false
	}
	return id, true // foundation model or global profile
}
