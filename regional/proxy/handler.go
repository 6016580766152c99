package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/eventstream"
	"github.com/rs/zerolog"

	"github.com/tollgate-dev/tollgate/internal/evstream"
	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/regional/apierror"
	"github.com/tollgate-dev/tollgate/regional/auth"
	"github.com/tollgate-dev/tollgate/regional/metering"
	"github.com/tollgate-dev/tollgate/regional/ratelimit"
)

// Recorder takes usage events; *metering.Meter implements it. Record must
// return only once the event is durable (written to the write-ahead log).
type Recorder interface {
	Record(ctx context.Context, ev metering.Event) error
}

// Config configures the data-plane handler. Zero values mean the
// documented defaults.
type Config struct {
	// Region is the region this instance serves (and meters as writer).
	Region   string
	Upstream Upstream
	Auth     *auth.Cache
	Meter    Recorder
	// Limiter enforces the customers' rate limits; nil means none.
	Limiter *ratelimit.Limiter
	// MaxBodyBytes bounds a request body. Default 25 MiB: Bedrock's
	// largest legitimate request (Converse with 20 images of 3.75 MB,
	// base64 in JSON) stays well below it.
	MaxBodyBytes int64
	// MaxResponseBytes bounds a non-streaming response body held in
	// memory while its usage is extracted. Default 64 MiB.
	MaxResponseBytes int64
	// CallTimeout bounds a whole call, streams included. Default 15m.
	CallTimeout time.Duration
	Logger      zerolog.Logger
	Metrics     *Metrics
	Now         func() time.Time
}

func (c *Config) defaults() {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 25 << 20
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 64 << 20
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 15 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
}

// Handler serves the Bedrock Runtime routes.
type Handler struct {
	cfg Config
}

// New returns the data-plane handler.
func New(cfg Config) *Handler {
	cfg.defaults()
	return &Handler{cfg: cfg}
}

// reqState is what one request accumulates for its access log line.
type reqState struct {
	id        string
	start     time.Time
	op        Operation
	model     string
	principal *auth.Principal
	cacheHit  bool
	status    int
	errType   string
	region    string
	usage     metering.Usage
	// admitted is set when the limiter admitted the call with estimated
	// tokens; record corrects the bucket with the exact usage.
	admitted  bool
	estimated int64
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &reqState{id: RequestIDFrom(r.Context()), start: h.cfg.Now()}
	defer h.logRequest(st)
	if err := h.serve(w, r, st); err != nil {
		e := apierror.From(err)
		if e.Type == apierror.Internal {
			h.cfg.Logger.Error().Err(err).Str("request_id", st.id).Msg("internal error")
		}
		st.status, st.errType = e.Status(), string(e.Type)
		apierror.Write(w, st.id, e)
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, st *reqState) error {
	if r.Method != http.MethodPost {
		return apierror.New(apierror.UnknownOperation, "Bedrock Runtime operations are POST requests to /model/{modelId}/{converse|converse-stream|invoke|invoke-with-response-stream}")
	}
	op, model, err := ParseRoute(r.URL.EscapedPath())
	st.op = op
	switch {
	case errors.Is(err, ErrUnknownOperation):
		return apierror.New(apierror.UnknownOperation, "unknown operation: use POST /model/{modelId}/{converse|converse-stream|invoke|invoke-with-response-stream}")
	case err != nil:
		return apierror.New(apierror.InvalidRequest, "model id is not a valid Bedrock model id, inference profile id or ARN (escape ':' and '/' as %3A and %2F)")
	}
	st.model = model

	p, res, err := h.cfg.Auth.Authenticate(r.Context(), bearer(r.Header.Get("Authorization")), h.cfg.Now())
	st.cacheHit = res == auth.Hit
	if err != nil {
		return err
	}
	st.principal = p
	if !rules.ModelAllowed(p.Customer.AllowedModels, model) {
		return apierror.New(apierror.ModelNotAllowed, "model "+model+" is not enabled for customer "+p.Customer.ID+"; ask your administrator to add it to the customer's allowed models")
	}

	body, err := readBody(r, h.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	if (op == OpConverse || op == OpConverseStream || isJSON(r.Header.Get("Content-Type"))) && !json.Valid(body) {
		return apierror.New(apierror.InvalidRequest, "request body is not valid JSON")
	}

	if err := h.admit(w, r, st, body); err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.CallTimeout)
	defer cancel()
	call := &Call{Op: op, Model: model, Body: body, Header: upstreamHeader(r.Header)}
	resp, region, err := h.cfg.Upstream.Do(ctx, call)
	st.region = region
	if err != nil {
		h.cfg.Metrics.upstreamErrors.WithLabelValues(region, "connection").Inc()
		e := apierror.New(apierror.UpstreamUnavailable, "Bedrock is unreachable from this region right now; retry")
		if errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err) {
			e = apierror.New(apierror.UpstreamTimeout, "Bedrock did not answer in time; retry")
		}
		_ = h.record(r.Context(), st, e.Status(), string(e.Type))
		return e
	}
	defer resp.Body.Close()

	hdr := w.Header()
	copyResponseHeader(hdr, resp.Header)
	hdr.Set("X-Tollgate-Request-Id", st.id)
	hdr.Set("X-Tollgate-Served-Region", region)
	st.status = resp.StatusCode

	if resp.StatusCode != http.StatusOK {
		// Bedrock's own errors pass through unchanged.
		st.errType = errorTypeOf(resp.Header.Get("X-Amzn-ErrorType"))
		h.cfg.Metrics.upstreamErrors.WithLabelValues(region, metricErrorType(st.errType)).Inc()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = h.record(r.Context(), st, resp.StatusCode, st.errType)
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(b)
		return nil
	}
	if op.Streaming() {
		return h.forwardStream(ctx, w, resp, st)
	}
	return h.forwardBody(ctx, w, resp, st)
}

// forwardBody reads the whole response, extracts the usage, records it
// durably, and only then sends the response: a response that reached the
// client is always metered.
func (h *Handler) forwardBody(ctx context.Context, w http.ResponseWriter, resp *http.Response, st *reqState) error {
	body, err := readAtMost(resp.Body, resp.ContentLength, h.cfg.MaxResponseBytes)
	if err != nil {
		e := apierror.New(apierror.UpstreamUnavailable, "Bedrock's response was cut off; retry")
		_ = h.record(ctx, st, e.Status(), string(e.Type))
		return e
	}
	var u metering.Usage
	if st.op == OpConverse {
		u, _ = metering.FromConverseBody(body)
	} else {
		u, _ = metering.FromInvokeHeaders(resp.Header)
	}
	st.usage = u
	if err := h.record(ctx, st, http.StatusOK, ""); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// forwardStream relays an event stream frame by frame, flushing each one.
// The frame that carries Bedrock's final usage is recorded before it is
// written, so a client that saw the end of the stream was metered.
func (h *Handler) forwardStream(ctx context.Context, w http.ResponseWriter, resp *http.Response, st *reqState) error {
	extract := metering.FromConverseStreamFrame
	if st.op == OpInvokeModelWithResponseStream {
		extract = metering.FromInvokeStreamFrame
	}
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	br := bufio.NewReaderSize(resp.Body, 32<<10)
	buf := make([]byte, 0, 32<<10)
	recorded := false
	for {
		frame, err := evstream.ReadFrame(br, buf[:0])
		if err != nil {
			if !recorded {
				// The stream ended (cleanly or not) without Bedrock's
				// final usage event or an exception: it was cut. Meter
				// what was reported (nothing), count an error, and tell
				// the client with a typed stream exception rather than a
				// silent truncation.
				_ = h.record(ctx, st, http.StatusOK, "stream_cut")
				if _, werr := w.Write(exceptionFrame("internalServerException", "the upstream stream ended unexpectedly; the response is incomplete")); werr == nil {
					_ = rc.Flush()
				}
			}
			return nil
		}
		if !recorded {
			if u, ok := extract(frame); ok {
				st.usage = u
				recorded = true
				if err := h.record(ctx, st, http.StatusOK, ""); err != nil {
					// The usage could not be made durable: do not hand
					// the client an unmetered end of stream.
					_, _ = w.Write(exceptionFrame("internalServerException", "Tollgate could not record usage; the response is incomplete"))
					_ = rc.Flush()
					return nil
				}
			} else if exc := streamError(frame); exc != "" {
				// Bedrock ended the stream with an exception: meter what
				// it reported (nothing more will come) and pass it on.
				st.errType = exc
				recorded = true
				_ = h.record(ctx, st, http.StatusOK, exc)
			}
		}
		if _, err := w.Write(frame); err != nil {
			if !recorded {
				// The client went away before the end: closing the
				// upstream body stops Bedrock. Bedrock reported no
				// usage to meter, but the request still counts.
				_ = h.record(ctx, st, http.StatusOK, "client_closed")
			}
			return nil
		}
		_ = rc.Flush()
	}
}

// admit applies the customer's rate limits: it sets the rate-limit
// headers, waits when the customer is close to a limit (progressive
// throttling), and refuses with rate_limited past it.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, st *reqState, body []byte) error {
	if h.cfg.Limiter == nil {
		return nil
	}
	c := st.principal.Customer
	est := ratelimit.EstimateTokens(st.op.String(), body)
	d, err := h.cfg.Limiter.Admit(c.ID, "", c.Limits, est, h.cfg.Now())
	d.SetHeaders(w.Header())
	if err != nil {
		return err
	}
	st.admitted, st.estimated = true, est
	if err := d.Sleep(r.Context()); err != nil {
		h.cfg.Limiter.Correct(c.ID, "", est, 0, h.cfg.Now())
		st.admitted = false
		return apierror.New(apierror.InvalidRequest, "the request was cancelled while it waited for rate-limit capacity")
	}
	return nil
}

// record writes the request's usage event. Requests that never reached an
// authenticated customer are not metered.
func (h *Handler) record(ctx context.Context, st *reqState, status int, errType string) error {
	if st.principal == nil {
		return nil
	}
	if errType != "" {
		st.errType = errType
	}
	if st.admitted {
		// Every admitted call is corrected exactly once, with the tokens
		// Bedrock reported (none when it gave no answer).
		u := st.usage
		h.cfg.Limiter.Correct(st.principal.Customer.ID, "", st.estimated,
			u.InputTokens+u.OutputTokens+u.CacheReadTokens+u.CacheWriteTokens, h.cfg.Now())
		st.admitted = false
	}
	if h.cfg.Meter == nil {
		return nil
	}
	ev := metering.Event{
		RequestID:    st.id,
		CustomerID:   st.principal.Customer.ID,
		KeyID:        st.principal.Key.ID,
		Model:        st.model,
		Operation:    st.op.String(),
		ServedRegion: st.region,
		Usage:        st.usage,
		Status:       status,
		ErrorType:    errType,
		Latency:      h.cfg.Now().Sub(st.start),
	}
	if err := h.cfg.Meter.Record(context.WithoutCancel(ctx), ev); err != nil {
		h.cfg.Logger.Error().Err(err).Str("request_id", st.id).Msg("usage event not recorded")
		return apierror.New(apierror.Unavailable, "Tollgate cannot record usage right now; retry shortly")
	}
	return nil
}

func (h *Handler) logRequest(st *reqState) {
	d := h.cfg.Now().Sub(st.start)
	h.cfg.Metrics.observe(st, d)
	ev := h.cfg.Logger.Info()
	if st.status >= 500 {
		ev = h.cfg.Logger.Warn()
	}
	ev = ev.Str("request_id", st.id).
		Str("operation", st.op.String()).
		Str("model", st.model).
		Int("status", st.status).
		Str("upstream_region", st.region).
		Dur("latency", d).
		Bool("key_cache_hit", st.cacheHit)
	if st.principal != nil {
		ev = ev.Str("customer_id", st.principal.Customer.ID).Str("key_id", st.principal.Key.ID)
	}
	if st.errType != "" {
		ev = ev.Str("error_type", st.errType)
	}
	if st.usage.InputTokens+st.usage.OutputTokens > 0 {
		ev = ev.Int64("input_tokens", st.usage.InputTokens).Int64("output_tokens", st.usage.OutputTokens)
	}
	ev.Msg("request")
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(h string) string {
	const p = "Bearer "
	if len(h) > len(p) && strings.EqualFold(h[:len(p)], p) {
		return strings.TrimSpace(h[len(p):])
	}
	return ""
}

func isJSON(ct string) bool {
	return strings.HasPrefix(ct, "application/json") || strings.Contains(ct, "+json")
}

// readBody reads a request body of at most limit bytes.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	b, err := readAtMost(r.Body, r.ContentLength, limit)
	if errors.Is(err, errTooLarge) {
		return nil, tooLarge(limit)
	}
	if err != nil {
		return nil, apierror.New(apierror.InvalidRequest, "could not read the request body")
	}
	return b, nil
}

var errTooLarge = errors.New("body too large")

// readAtMost reads a body of at most limit bytes. With a known length it
// reads into one buffer of that size instead of growing one.
func readAtMost(r io.Reader, length, limit int64) ([]byte, error) {
	if length > limit {
		return nil, errTooLarge
	}
	if length >= 0 {
		b := make([]byte, length)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		// A body longer than announced is a protocol error the server
		// catches; nothing more is read.
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

func tooLarge(limit int64) error {
	return apierror.New(apierror.PayloadTooLarge, "request body is larger than this gateway's limit of "+strconv.FormatInt(limit>>20, 10)+" MiB")
}

// errorTypeOf turns a Bedrock X-Amzn-ErrorType value ("X:uri" or
// "ns#X") into the bare exception name.
func errorTypeOf(v string) string {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		v = v[:i]
	}
	if i := strings.LastIndexByte(v, '#'); i >= 0 {
		v = v[i+1:]
	}
	if v == "" {
		return "upstream_error"
	}
	return v
}

// streamError returns the exception or error code a frame carries, or "".
func streamError(frame []byte) string {
	m, err := evstream.Parse(frame)
	if err != nil {
		return ""
	}
	switch m.MessageType() {
	case "exception":
		return m.ExceptionType()
	case "error":
		if v, ok := m.StringHeader(":error-code"); ok {
			return string(v)
		}
		return "stream_error"
	}
	return ""
}

// metricErrorType bounds the error-type label to Bedrock's known
// exceptions, so an upstream cannot grow the metric's cardinality.
func metricErrorType(t string) string {
	switch t {
	case "ThrottlingException", "ServiceUnavailableException", "InternalServerException",
		"ModelTimeoutException", "ModelNotReadyException", "ModelErrorException",
		"ValidationException", "AccessDeniedException", "ResourceNotFoundException",
		"ServiceQuotaExceededException", "ModelStreamErrorException":
		return t
	}
	return "other"
}

// exceptionFrame encodes a modelled stream exception, which the SDKs
// surface as a typed error from the stream.
func exceptionFrame(name, msg string) []byte {
	var b bytes.Buffer
	payload, _ := json.Marshal(map[string]string{"message": msg})
	_ = eventstream.NewEncoder().Encode(&b, eventstream.Message{
		Headers: eventstream.Headers{
			{Name: ":message-type", Value: eventstream.StringValue("exception")},
			{Name: ":exception-type", Value: eventstream.StringValue(name)},
			{Name: ":content-type", Value: eventstream.StringValue("application/json")},
		},
		Payload: payload,
	})
	return b.Bytes()
}
