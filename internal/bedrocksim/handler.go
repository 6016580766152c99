package bedrocksim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// region is one simulated Bedrock Runtime endpoint: its listener, its fault,
// its counters and its prompt cache.
type region struct {
	sim   *Sim
	name  string
	index int

	mu    sync.Mutex
	fault Fault
	gate  faultGate
	cache map[string]struct{} // prompt-cache keys seen (see promptBuilder)
	srv   *http.Server        // nil while the region is refused
	port  int

	c counters
}

type counters struct {
	requests, served, errors, canceled               atomic.Int64
	inputTokens, outputTokens, cacheRead, cacheWrite atomic.Int64
}

func (c *counters) snapshot() Counters {
	return Counters{
		Requests: c.requests.Load(), Served: c.served.Load(),
		Errors: c.errors.Load(), Canceled: c.canceled.Load(),
		InputTokens: c.inputTokens.Load(), OutputTokens: c.outputTokens.Load(),
		CacheReadTokens: c.cacheRead.Load(), CacheWriteTokens: c.cacheWrite.Load(),
	}
}

func (c *counters) reset() {
	for _, v := range []*atomic.Int64{&c.requests, &c.served, &c.errors, &c.canceled,
		&c.inputTokens, &c.outputTokens, &c.cacheRead, &c.cacheWrite} {
		v.Store(0)
	}
}

type outcome int

const (
	outcomeCanceled outcome = iota // the zero value: nothing was completed
	outcomeServed
	outcomeFailed
)

// requestRecord accumulates what the per-request log line and the counters
// need.
type requestRecord struct {
	start     time.Time
	requestID string
	op, model string
	status    int
	errType   string
	usage     Usage
	outcome   outcome
	committed bool
}

// served and failed settle a request's outcome and update the counters.
// They run before the last byte of the answer is written, so a client that
// has read its answer always finds it counted.
func (rg *region) served(rec *requestRecord, status int, u Usage) {
	rec.status, rec.usage, rec.outcome = status, u, outcomeServed
	rg.commit(rec)
}

func (rg *region) failed(rec *requestRecord, status int, errType string) {
	rec.status, rec.errType, rec.outcome = status, errType, outcomeFailed
	rg.commit(rec)
}

func (rg *region) commit(rec *requestRecord) {
	if rec.committed {
		return
	}
	rec.committed = true
	switch rec.outcome {
	case outcomeServed:
		rg.c.served.Add(1)
		rg.c.inputTokens.Add(int64(rec.usage.InputTokens))
		rg.c.outputTokens.Add(int64(rec.usage.OutputTokens))
		rg.c.cacheRead.Add(int64(rec.usage.CacheReadTokens))
		rg.c.cacheWrite.Add(int64(rec.usage.CacheWriteTokens))
	case outcomeFailed:
		rg.c.errors.Add(1)
	default:
		rg.c.canceled.Add(1)
	}
}

// finish counts a request that never settled as canceled and writes its log
// line.
func (rg *region) finish(rec *requestRecord) {
	rg.commit(rec)
	ev := rg.sim.log.Info()
	if rec.outcome != outcomeServed {
		ev = rg.sim.log.Warn()
	}
	ev = ev.Str("region", rg.name).Str("op", rec.op).Str("model", rec.model).
		Int("status", rec.status).Str("request_id", rec.requestID).
		Dur("duration", time.Since(rec.start))
	switch rec.outcome {
	case outcomeServed:
		ev = ev.Int("input_tokens", rec.usage.InputTokens).Int("output_tokens", rec.usage.OutputTokens).
			Int("cache_read_tokens", rec.usage.CacheReadTokens).Int("cache_write_tokens", rec.usage.CacheWriteTokens).
			Str("stop_reason", rec.usage.StopReason)
	case outcomeFailed:
		ev = ev.Str("error", rec.errType)
	default:
		ev = ev.Bool("canceled", true)
	}
	ev.Msg("bedrock request")
}

func (rg *region) currentFault() Fault {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	return rg.fault
}

// injectError advances the region's deterministic error sequence.
func (rg *region) injectError(rate float64) bool {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	return rg.gate.next(rate)
}

// cacheLookup reports whether key was cached and caches it. The entry is
// made when a request reaches generation, like a real prompt cache that is
// filled while the prompt is processed.
func (rg *region) cacheLookup(key string) bool {
	if key == "" {
		return false
	}
	rg.mu.Lock()
	defer rg.mu.Unlock()
	_, hit := rg.cache[key]
	rg.cache[key] = struct{}{}
	return hit
}

// requestID is deterministic (region index, request number) and shaped like
// the UUIDs Bedrock returns in X-Amzn-RequestId.
func requestID(regionIndex int, n int64) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", regionIndex, n)
}

// ServeHTTP answers one Bedrock Runtime request. The order of checks is
// documented in docs/simulator.md: outage, first-byte delay, auth, routing,
// body, model, injected error, request validation, generation.
func (rg *region) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !rg.sim.enter() {
		panic(http.ErrAbortHandler) // closed: only in-process callers get here
	}
	defer rg.sim.inflight.Done()
	// Delays must end when the client goes away or the simulator closes;
	// in-process callers' contexts do not derive from the simulator's.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(rg.sim.ctx, cancel)()

	rec := &requestRecord{start: time.Now()}
	rec.requestID = requestID(rg.index, rg.c.requests.Add(1))
	w.Header().Set("X-Amzn-RequestId", rec.requestID)
	defer rg.finish(rec)

	f := rg.currentFault()
	if f.Outage == OutageRefuse {
		// Only reachable in-process (Handler) or in the instant before the
		// listener closes: drop the connection as a refused one would.
		panic(http.ErrAbortHandler)
	}
	fail := func(e *apiError) {
		rg.failed(rec, e.status(), e.Type)
		writeAPIError(w, e)
	}
	if rg.sim.cfg.Sleep(ctx, f.FirstByteDelay) != nil {
		return
	}
	if f.Outage == Outage503 {
		fail(newAPIError(ExcServiceUnavailable, ""))
		return
	}

	modelID, op, routeErr := ParseModelPath(r.URL.EscapedPath())
	rec.op, rec.model = op, modelID
	auth, e := checkScope(r, rg.name)
	if e != nil {
		fail(e)
		return
	}
	if routeErr != nil || r.Method != http.MethodPost {
		fail(newAPIError(ExcUnknownOperation, "Unknown operation "+r.Method+" "+r.URL.EscapedPath()))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rg.sim.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(validationError(fmt.Sprintf("The request body exceeds the limit of %d bytes.", tooBig.Limit)))
		}
		return // otherwise the client went away mid-body
	}
	if len(rg.sim.cfg.Credentials) > 0 {
		secret, ok := rg.sim.cfg.Credentials[auth.AccessKeyID]
		if !ok {
			fail(newAPIError(ExcAccessDenied, "The security token included in the request is invalid."))
			return
		}
		if e := verifySignature(ctx, r, body, auth, secret, time.Now()); e != nil {
			fail(e)
			return
		}
	}
	m, e := resolveModel(modelID, rg.name)
	if e != nil {
		fail(e)
		return
	}
	if rg.injectError(f.ErrorRate) {
		fail(newAPIError(f.Exception, ""))
		return
	}

	g := &generation{rg: rg, w: w, ctx: ctx, rec: rec, fault: f, model: m}
	switch op {
	case OpConverse, OpConverseStream:
		e = g.converse(body, op == OpConverseStream)
	default:
		e = g.invoke(body, op == OpInvokeModelWithResponseStream)
	}
	if e != nil {
		fail(e)
	}
}

// generation is one request past all checks that may refuse it.
type generation struct {
	rg    *region
	w     http.ResponseWriter
	ctx   context.Context
	rec   *requestRecord
	fault Fault
	model model
	usage Usage
}

// plan fixes the usage of the answer and records the prompt in the cache.
func (g *generation) plan(b *promptBuilder, maxTokens int) {
	p, key := b.prompt(g.model.ID)
	p.CacheHit = g.rg.cacheLookup(key)
	p.MaxTokens = maxTokens
	g.usage = ExpectedUsage(p)
}

func (g *generation) latencyMs() int64 { return ExpectedLatency(g.fault, g.usage.OutputTokens) }

// writeJSON waits the modelled generation time, then sends v.
func (g *generation) writeJSON(v any, header map[string]string) {
	if g.rg.sim.cfg.Sleep(g.ctx, time.Duration(g.usage.OutputTokens)*g.fault.TokenDelay) != nil {
		return
	}
	body, err := json.Marshal(v)
	if err != nil {
		e := newAPIError(ExcInternalServer, "")
		g.rg.failed(g.rec, e.status(), e.Type)
		writeAPIError(g.w, e)
		return
	}
	h := g.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	for k, v := range header {
		h.Set(k, v)
	}
	g.rg.served(g.rec, http.StatusOK, g.usage)
	g.w.WriteHeader(http.StatusOK)
	_, _ = g.w.Write(body)
}

// frame is one event to stream: its :event-type and its JSON payload.
type frame struct {
	eventType string
	payload   any
}

// streamPlan describes a streaming answer: the frames before the content,
// the frame of the i-th output token (1-based), and the closing frames.
type streamPlan struct {
	header  map[string]string
	open    []frame
	delta   func(i int) frame
	closing []frame
	// allowTimeout tells whether modelTimeoutException is a member of the
	// stream's union (ResponseStream) or not (ConverseStream).
	allowTimeout bool
}

// stream runs a streamPlan: opening frames, one delta per output token
// (TokenDelay before each), closing frames. With FailMidStreamAfter it
// replaces everything after that many deltas by an exception frame.
func (g *generation) stream(p streamPlan) {
	sw, err := startStream(g.w, p.header)
	if err != nil {
		return
	}
	g.rec.status = http.StatusOK
	for _, f := range p.open {
		if sw.event(f.eventType, f.payload) != nil {
			return
		}
	}
	cut := g.fault.FailMidStreamAfter
	for i := 1; i <= g.usage.OutputTokens && (cut == 0 || i <= cut); i++ {
		if g.rg.sim.cfg.Sleep(g.ctx, g.fault.TokenDelay) != nil {
			return
		}
		if f := p.delta(i); sw.event(f.eventType, f.payload) != nil {
			return
		}
	}
	if cut > 0 {
		exc := g.fault.MidStreamException
		if exc == "" || exc == "modelTimeoutException" && !p.allowTimeout {
			exc = "modelStreamErrorException"
		}
		g.rg.failed(g.rec, http.StatusOK, exc)
		_ = sw.exception(exc, "The model stream was interrupted (injected by bedrocksim).")
		return
	}
	for i, f := range p.closing {
		if i == len(p.closing)-1 {
			g.rg.served(g.rec, http.StatusOK, g.usage)
		}
		if sw.event(f.eventType, f.payload) != nil {
			return
		}
	}
}

// readJSON decodes body into v, mapping syntax errors to the
// ValidationException Bedrock answers for malformed input.
func readJSON(body []byte, v any) *apiError {
	if err := json.Unmarshal(body, v); err != nil {
		return validationError("Malformed input request: " + err.Error() + ", please reformat your input and try again.")
	}
	return nil
}
