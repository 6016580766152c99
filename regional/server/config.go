// Package server assembles a regional Tollgate process: the Bedrock-compatible
// data plane on HTTPS (and optionally plain HTTP behind a TLS-terminating load
// balancer), health and metrics on an operations listener, key validation
// against DynamoDB, metering to the write-ahead log, and graceful shutdown.
package server

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/regional/admin"
	"github.com/tollgate-dev/tollgate/regional/proxy"
)

// Config is every setting of a regional process. Flags set it; each flag
// also reads an environment variable (TOLLGATE_<FLAG_NAME>), flags winning.
type Config struct {
	Region           string
	Listen           string // HTTPS data plane
	HTTPListen       string // optional plain-HTTP data plane
	OpsListen        string // /healthz, /readyz, /metrics
	TLSCert, TLSKey  string
	BedrockEndpoint  string // override, e.g. the simulator
	DynamoDBEndpoint string // override, e.g. dynalite
	TablePrefix      string
	WALDir           string
	KeyCacheTTL      time.Duration
	NegativeCacheTTL time.Duration
	KeyMaxStale      time.Duration
	MaxBodyBytes     int64
	CallTimeout      time.Duration
	FlushInterval    time.Duration
	ShutdownTimeout  time.Duration
	LogFormat        string
	LogLevel         string

	// Failover (see docs/operations.md).
	FailoverRegions  []string          // regions to try after Region, in order
	BedrockEndpoints map[string]string // per-region endpoint overrides
	ModelRoutes      []proxy.ModelRoute
	ModelMap         map[string]map[string]string
	CrossGeo         bool
	AttemptTimeout   time.Duration
	Breaker          proxy.BreakerSettings

	// Admin API (see docs/admin-api.md).
	AdminListen      string // plain-HTTP admin API address; empty disables it
	AdminTokenHashes string // accepted admin tokens: [name:]sha256hex,…
	AdminToken       string // local development only: a clear token, hashed at start
	AdminTLS         bool   // serve the admin API over HTTPS with --tls-cert/--tls-key

	// Rate limits (see docs/rate-limits.md).
	InstanceID          string             // this process in its region's heartbeats; default host name + random
	RegionWeights       map[string]float64 // each region's weight in every customer's limits
	RateLimitMaxWait    time.Duration
	RateLimitSoft       float64
	RateLimitBurst      time.Duration
	RateLimitTokenBurst time.Duration
	HeartbeatInterval   time.Duration
	HeartbeatTTL        time.Duration
	AssumedInstances    int   // instances per region assumed until the first count
	regionWeightsErr    error // a bad TOLLGATE_REGION_WEIGHTS, reported by Validate
}

// ParseFlags parses args into a Config and validates it, reporting every
// problem at once.
func ParseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("tollgate serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(p *string, name, def, usage string) { fs.StringVar(p, name, env(name, def), usage) }
	dur := func(p *time.Duration, name string, def time.Duration, usage string) {
		d := def
		if v := env(name, ""); v != "" {
			if x, err := time.ParseDuration(v); err == nil {
				d = x
			}
		}
		fs.DurationVar(p, name, d, usage)
	}
	str(&c.Region, "region", os.Getenv("AWS_REGION"), "AWS region this instance serves (required)")
	str(&c.Listen, "listen", ":8443", "HTTPS data-plane address (empty disables it)")
	str(&c.HTTPListen, "http-listen", "", "plain-HTTP data-plane address, for use behind a TLS-terminating load balancer")
	str(&c.OpsListen, "ops-listen", "127.0.0.1:9090", "address for /healthz, /readyz and /metrics")
	str(&c.TLSCert, "tls-cert", "", "PEM certificate for the HTTPS listener")
	str(&c.TLSKey, "tls-key", "", "PEM private key for the HTTPS listener")
	str(&c.BedrockEndpoint, "bedrock-endpoint", "", "Bedrock Runtime base URL (default: https://bedrock-runtime.<region>.amazonaws.com)")
	str(&c.DynamoDBEndpoint, "dynamodb-endpoint", "", "DynamoDB base URL override (local development)")
	str(&c.TablePrefix, "table-prefix", "tollgate-", "DynamoDB table-name prefix")
	str(&c.WALDir, "wal-dir", "/var/lib/tollgate/wal", "write-ahead log directory (holds this writer's id)")
	dur(&c.KeyCacheTTL, "key-cache-ttl", 5*time.Minute, "how long a validated key is trusted without a DynamoDB read")
	dur(&c.NegativeCacheTTL, "negative-cache-ttl", 10*time.Second, "how long an unknown key is remembered")
	dur(&c.KeyMaxStale, "key-max-stale", time.Hour, "how long past its TTL a cached key is still honoured while DynamoDB is unreachable")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", 25<<20, "largest accepted request body")
	dur(&c.CallTimeout, "call-timeout", 15*time.Minute, "bound on one call, streams included")
	dur(&c.FlushInterval, "flush-interval", time.Second, "how often usage totals are flushed to DynamoDB")
	dur(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long to drain in-flight requests on SIGTERM")
	fs.Func("failover-regions", "comma-separated Bedrock regions to fail over to, in order (env TOLLGATE_FAILOVER_REGIONS)", func(v string) error {
		c.FailoverRegions = splitList(v)
		return nil
	})
	c.FailoverRegions = splitList(env("failover-regions", ""))
	fs.Func("bedrock-endpoints", "per-region Bedrock endpoint overrides: region=url,region=url", func(v string) error {
		m, err := parsePairs(v)
		c.BedrockEndpoints = m
		return err
	})
	fs.Func("model-route", "pattern=region,region: the regions (in order) for models matching pattern; repeatable", func(v string) error {
		pat, regions, ok := strings.Cut(v, "=")
		if !ok || pat == "" || regions == "" {
			return fmt.Errorf("want pattern=region,region, got %q", v)
		}
		c.ModelRoutes = append(c.ModelRoutes, proxy.ModelRoute{Pattern: pat, Regions: splitList(regions)})
		return nil
	})
	fs.Func("model-map", "region:model=model: the id to send to region for a model (empty: not available there); repeatable", func(v string) error {
		region, pair, ok := strings.Cut(v, ":")
		from, to, ok2 := strings.Cut(pair, "=")
		if !ok || !ok2 || region == "" || from == "" {
			return fmt.Errorf("want region:model=model, got %q", v)
		}
		if c.ModelMap == nil {
			c.ModelMap = map[string]map[string]string{}
		}
		if c.ModelMap[region] == nil {
			c.ModelMap[region] = map[string]string{}
		}
		c.ModelMap[region][from] = to
		return nil
	})
	fs.BoolVar(&c.CrossGeo, "failover-cross-geo", env("failover-cross-geo", "") == "true", "allow failing over a geographic inference profile (eu.…) to another geography")
	dur(&c.AttemptTimeout, "attempt-timeout", 0, "bound on one attempt up to Bedrock's response headers, so a hung region fails over (0: none)")
	var failures, minReq uint
	fs.UintVar(&failures, "breaker-failures", 5, "consecutive upstream faults that open a region's breaker")
	fs.UintVar(&minReq, "breaker-min-requests", 20, "calls in the window before --breaker-ratio applies")
	fs.Float64Var(&c.Breaker.FailureRatio, "breaker-ratio", 0.5, "fraction of faults in the window that opens a region's breaker")
	dur(&c.Breaker.Window, "breaker-window", 30*time.Second, "rolling window of the fault ratio")
	dur(&c.Breaker.OpenTimeout, "breaker-open-timeout", 15*time.Second, "how long an open breaker waits before a half-open probe")
	str(&c.AdminListen, "admin-listen", "127.0.0.1:9443", "admin API address, plain HTTP unless --admin-tls: keep it on loopback or behind a TLS-terminating load balancer (empty disables it)")
	str(&c.AdminTokenHashes, "admin-token-hashes", "", "accepted admin tokens as comma-separated SHA-256 hex digests, each optionally \"name:\"-prefixed (printf %s \"$TOKEN\" | sha256sum)")
	str(&c.AdminToken, "admin-token", "", "an accepted admin token in clear, for local development only (visible in the process list)")
	fs.BoolVar(&c.AdminTLS, "admin-tls", env("admin-tls", "") == "true", "serve the admin API over HTTPS with --tls-cert and --tls-key")
	str(&c.InstanceID, "instance-id", "", "this process's id in its region's rate-limit heartbeats, unique among live processes (default: host name and a random suffix)")
	fs.Func("region-weights", "region=weight,…: the regions where Tollgate serves and each one's weight in every customer's limits (default: equal over --region and --failover-regions)", func(v string) error {
		w, err := parseWeights(v)
		c.RegionWeights, c.regionWeightsErr = w, nil
		return err
	})
	if v := env("region-weights", ""); v != "" {
		c.RegionWeights, c.regionWeightsErr = parseWeights(v)
	}
	dur(&c.RateLimitMaxWait, "ratelimit-max-wait", 2*time.Second, "longest progressive-throttling delay, for a request that empties its bucket (negative: never delay)")
	fs.Float64Var(&c.RateLimitSoft, "ratelimit-soft", 0.2, "bucket fill fraction below which requests are delayed rather than served at once")
	dur(&c.RateLimitBurst, "ratelimit-burst", 3*time.Second, "requests bucket size, as time at the limit's rate")
	dur(&c.RateLimitTokenBurst, "ratelimit-token-burst", 10*time.Second, "tokens bucket size, as time at the limit's rate")
	dur(&c.HeartbeatInterval, "ratelimit-heartbeat-interval", 2*time.Second, "how often an instance writes its heartbeat and recounts its region's instances")
	dur(&c.HeartbeatTTL, "ratelimit-heartbeat-ttl", 10*time.Second, "how long a heartbeat keeps an instance counted")
	fs.IntVar(&c.AssumedInstances, "ratelimit-assumed-instances", 1, "instances per region assumed until DynamoDB first answers (set it to the usual fleet size so that a process starting during a DynamoDB outage does not take a whole region's share)")
	str(&c.LogFormat, "log-format", "json", "log format: json or console")
	str(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.Breaker.ConsecutiveFailures, c.Breaker.MinRequests = uint32(failures), uint32(minReq)
	return c, c.Validate()
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func parsePairs(v string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range splitList(v) {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" || val == "" {
			return nil, fmt.Errorf("want key=value, got %q", kv)
		}
		m[k] = val
	}
	return m, nil
}

// env reads TOLLGATE_<NAME> for flag name.
func env(name, def string) string {
	if v, ok := os.LookupEnv("TOLLGATE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))); ok {
		return v
	}
	return def
}

// Validate reports every problem of the configuration together.
func (c Config) Validate() error {
	var errs []error
	if c.Region == "" {
		errs = append(errs, errors.New("--region is required"))
	}
	if c.Listen == "" && c.HTTPListen == "" {
		errs = append(errs, errors.New("one of --listen (HTTPS) or --http-listen is required"))
	}
	if c.Listen != "" && (c.TLSCert == "" || c.TLSKey == "") {
		errs = append(errs, errors.New("--listen serves HTTPS and needs --tls-cert and --tls-key (or use --http-listen behind a TLS-terminating load balancer)"))
	}
	if c.WALDir == "" {
		errs = append(errs, errors.New("--wal-dir is required"))
	}
	if c.MaxBodyBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("--max-body-bytes must be at least 1 MiB, got %d", c.MaxBodyBytes))
	}
	for name, d := range map[string]time.Duration{"key-cache-ttl": c.KeyCacheTTL, "negative-cache-ttl": c.NegativeCacheTTL, "call-timeout": c.CallTimeout, "flush-interval": c.FlushInterval, "shutdown-timeout": c.ShutdownTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be positive", name))
		}
	}
	for _, r := range c.FailoverRegions {
		if r == c.Region {
			errs = append(errs, fmt.Errorf("--failover-regions must not include the local region %q", r))
		}
	}
	if c.AdminTLS && (c.TLSCert == "" || c.TLSKey == "") {
		errs = append(errs, errors.New("--admin-tls needs --tls-cert and --tls-key"))
	}
	if _, err := admin.ParseTokens(c.AdminTokenHashes, c.AdminToken); err != nil {
		errs = append(errs, fmt.Errorf("admin tokens: %w", err))
	}
	if c.Breaker.FailureRatio <= 0 || c.Breaker.FailureRatio > 1 {
		errs = append(errs, fmt.Errorf("--breaker-ratio must be in (0, 1], got %g", c.Breaker.FailureRatio))
	}
	errs = c.validateRateLimits(errs)
	return errors.Join(errs...)
}
