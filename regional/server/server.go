package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/tollgate-dev/tollgate/internal/logging"
	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/regional/apierror"
	"github.com/tollgate-dev/tollgate/regional/auth"
	"github.com/tollgate-dev/tollgate/regional/metering"
	"github.com/tollgate-dev/tollgate/regional/proxy"
)

// Main runs a regional process until ctx is cancelled (SIGTERM), then
// drains and flushes. It is the whole of `tollgate serve`.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := ParseFlags(args, stderr)
	if err != nil {
		return err
	}
	log, err := logging.New(stderr, cfg.LogFormat, cfg.LogLevel, "regional")
	if err != nil {
		return err
	}
	log = log.With().Str("region", cfg.Region).Logger()
	return Run(ctx, cfg, log, nil)
}

// Ready is told when the listeners are up, with their addresses.
type Ready func(Addrs)

// Addrs are the addresses a running process listens on.
type Addrs struct{ HTTPS, HTTP, Ops, Admin string }

// Run runs a regional process with a parsed configuration.
func Run(ctx context.Context, cfg Config, log zerolog.Logger, ready Ready) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(cfg.Region))
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	ddbLatency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tollgate_dynamodb_call_duration_seconds",
		Help:    "DynamoDB call latency by operation and outcome.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	}, []string{"operation", "outcome"})
	reg.MustRegister(ddbLatency)
	ddb := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if cfg.DynamoDBEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.DynamoDBEndpoint)
		}
		o.APIOptions = append(o.APIOptions, timeDynamoDB(ddbLatency))
	})
	st := store.New(ddb, cfg.TablePrefix)

	meter, err := metering.Open(ctx, metering.Config{
		Dir: cfg.WALDir, Region: cfg.Region, Store: st,
		FlushInterval: cfg.FlushInterval, Logger: log, Registerer: reg,
	})
	if err != nil {
		return fmt.Errorf("open metering: %w", err)
	}
	log = log.With().Str("writer_id", meter.WriterID()).Logger()

	keys := auth.NewCache(st, auth.Config{TTL: cfg.KeyCacheTTL, NegativeTTL: cfg.NegativeCacheTTL, MaxStale: cfg.KeyMaxStale})
	registerCacheMetrics(reg, keys)

	up, err := newUpstream(cfg, awsCfg.Credentials, log, reg)
	if err != nil {
		_ = meter.Close(context.Background())
		return err
	}
	// Rate limits: the first heartbeat and count happen before serving, so
	// that the first requests already use this region's real instance
	// count; if DynamoDB is unreachable the limiter starts from one
	// instance and the loop started below keeps trying.
	limiter, err := newLimiter(cfg, st, log, reg)
	if err != nil {
		_ = meter.Close(context.Background())
		return err
	}
	_ = limiter.Sync(ctx)
	dataPlane := proxy.New(proxy.Config{
		Region: cfg.Region, Upstream: up, Auth: keys, Meter: meter, Limiter: limiter,
		MaxBodyBytes: cfg.MaxBodyBytes, CallTimeout: cfg.CallTimeout,
		Logger: log, Metrics: proxy.NewMetrics(reg),
	})

	var draining atomic.Bool
	health := http.NewServeMux()
	health.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	health.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"status":"draining"}`+"\n")
			return
		}
		// With the local region's Bedrock breaker open, Route 53 should
		// send clients to the next-nearest region, whose Bedrock is
		// local to it; this instance still serves whoever arrives, by
		// failing over.
		// Without a working usage log nothing can be served (every
		// response must be metered first).
		if st := meter.Stats(); st.WALFailed != nil || st.BacklogBytes >= st.MaxBacklogBytes {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"status":"metering_unavailable"}`+"\n")
			return
		}
		if up.LocalOpen() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"status":"local_bedrock_unavailable"}`+"\n")
			return
		}
		_, _ = io.WriteString(w, `{"status":"ready"}`+"\n")
	})

	// Public mux: health for load balancers and Route 53, everything else
	// is the data plane. Middleware order: the request id comes first so
	// that every later log line and error carries it; recovery wraps the
	// data plane so a panic becomes a typed 500 with that id.
	public := http.NewServeMux()
	public.Handle("GET /healthz", health)
	public.Handle("GET /readyz", health)
	public.Handle("/", recoverer(log, dataPlane))
	publicHandler := proxy.WithRequestID(public)

	ops := http.NewServeMux()
	ops.Handle("/", health)
	ops.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	var servers []*http.Server
	var addrs Addrs
	errc := make(chan error, 4)
	serve := func(addr string, h http.Handler, tlsCfg *tls.Config, out *string) error {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		srv := &http.Server{
			Handler: h,
			// No WriteTimeout: streams may run for minutes; each call
			// is bounded by --call-timeout instead.
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       2 * time.Minute,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			TLSConfig:         tlsCfg,
			// net/http's own complaints (TLS handshake failures, bad
			// requests) go to the structured log, not stderr.
			ErrorLog: stdlog.New(log.With().Str("source", "net/http").Str("listener", addr).Logger(), "", 0),
		}
		servers = append(servers, srv)
		*out = l.Addr().String()
		if tlsCfg != nil {
			l = tls.NewListener(l, tlsCfg)
		}
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
		return nil
	}
	fail := func(err error) error {
		for _, s := range servers {
			_ = s.Close()
		}
		_ = meter.Close(context.Background())
		return err
	}
	var tlsCfg *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fail(fmt.Errorf("load TLS key pair: %w", err))
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	}
	if cfg.Listen != "" {
		// Each http.Server adjusts its TLS config (HTTP/2 set-up): every
		// listener gets its own copy.
		if err := serve(cfg.Listen, publicHandler, tlsCfg.Clone(), &addrs.HTTPS); err != nil {
			return fail(fmt.Errorf("listen %s: %w", cfg.Listen, err))
		}
	}
	if cfg.HTTPListen != "" {
		if err := serve(cfg.HTTPListen, publicHandler, nil, &addrs.HTTP); err != nil {
			return fail(fmt.Errorf("listen %s: %w", cfg.HTTPListen, err))
		}
	}
	if cfg.OpsListen != "" {
		if err := serve(cfg.OpsListen, ops, nil, &addrs.Ops); err != nil {
			return fail(fmt.Errorf("listen %s: %w", cfg.OpsListen, err))
		}
	}
	if adm, err := adminHandler(cfg, st, keys, log, reg); err != nil {
		return fail(err)
	} else if adm != nil {
		var admTLS *tls.Config
		if cfg.AdminTLS {
			admTLS = tlsCfg.Clone()
		}
		if err := serve(cfg.AdminListen, adm, admTLS, &addrs.Admin); err != nil {
			return fail(fmt.Errorf("listen %s: %w", cfg.AdminListen, err))
		}
	}
	log.Info().Str("https", addrs.HTTPS).Str("http", addrs.HTTP).Str("ops", addrs.Ops).Str("admin", addrs.Admin).
		Strs("failover_regions", cfg.FailoverRegions).Msg("serving")
	limiterCtx, stopLimiter := context.WithCancel(context.Background())
	limiterDone := make(chan struct{})
	go func() {
		defer close(limiterDone)
		_ = limiter.Run(limiterCtx)
	}()
	if ready != nil {
		ready(addrs)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		log.Error().Err(runErr).Msg("listener failed")
	}

	// Drain: report not ready (load balancers and Route 53 stop sending),
	// stop accepting, let in-flight calls finish, then flush usage.
	draining.Store(true)
	// Deregister at once: this instance admits nothing new while it
	// drains, so the others may take over its share of the limits now.
	stopLimiter()
	log.Info().Dur("timeout", cfg.ShutdownTimeout).Msg("draining")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			log.Warn().Err(err).Msg("drain incomplete; closing remaining connections")
			_ = s.Close()
		}
	}
	if err := meter.Close(sctx); err != nil {
		log.Error().Err(err).Msg("final usage flush failed; the write-ahead log keeps the events for the next start")
		runErr = errors.Join(runErr, err)
	}
	<-limiterDone
	log.Info().Msg("stopped")
	return runErr
}

// recoverer turns a panic in the data plane into a typed internal error.
func recoverer(log zerolog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				id := proxy.RequestIDFrom(r.Context())
				log.Error().Interface("panic", v).Str("request_id", id).Msg("panic in request")
				apierror.Write(w, id, apierror.From(fmt.Errorf("panic: %v", v)))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func registerCacheMetrics(reg prometheus.Registerer, c *auth.Cache) {
	f := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	reg.MustRegister(
		f("tollgate_key_cache_hits_total", "Key validations answered from the cache.", &c.Stats.Hits),
		f("tollgate_key_cache_misses_total", "Key validations that needed a DynamoDB read.", &c.Stats.Misses),
		f("tollgate_key_cache_negative_hits_total", "Unknown keys refused from the negative cache.", &c.Stats.NegativeHits),
		f("tollgate_key_cache_stale_served_total", "Keys honoured past their TTL because DynamoDB was unreachable.", &c.Stats.StaleServed),
		f("tollgate_key_lookup_errors_total", "DynamoDB errors while reading keys.", &c.Stats.LookupErrors),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tollgate_key_cache_entries", Help: "Keys in the cache."}, func() float64 { return float64(c.Len()) }),
	)
}

// newUpstream builds the failover upstream: the local region first, then
// --failover-regions, each with its own signed client and breaker.
func newUpstream(cfg Config, creds aws.CredentialsProvider, log zerolog.Logger, reg prometheus.Registerer) (*proxy.Failover, error) {
	ups := map[string]proxy.Upstream{}
	for _, region := range append([]string{cfg.Region}, cfg.FailoverRegions...) {
		endpoint := cfg.BedrockEndpoints[region]
		if region == cfg.Region && cfg.BedrockEndpoint != "" {
			endpoint = cfg.BedrockEndpoint
		}
		b, err := proxy.NewBedrock(proxy.Bedrock{Region: region, Endpoint: endpoint, Credentials: creds})
		if err != nil {
			return nil, err
		}
		ups[region] = b
	}
	for _, mr := range cfg.ModelRoutes {
		for _, region := range mr.Regions {
			if ups[region] == nil {
				b, err := proxy.NewBedrock(proxy.Bedrock{Region: region, Endpoint: cfg.BedrockEndpoints[region], Credentials: creds})
				if err != nil {
					return nil, err
				}
				ups[region] = b
			}
		}
	}
	return proxy.NewFailover(proxy.FailoverConfig{
		Local: cfg.Region, Upstreams: ups, Order: cfg.FailoverRegions,
		ModelRoutes: cfg.ModelRoutes, ModelMap: cfg.ModelMap, CrossGeo: cfg.CrossGeo,
		AttemptTimeout: cfg.AttemptTimeout, Breaker: cfg.Breaker,
		Logger: log, Registerer: reg,
	})
}
