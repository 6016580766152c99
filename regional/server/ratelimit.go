package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/regional/ratelimit"
)

// newLimiter builds the rate limiter of a process (docs/rate-limits.md).
// Without --region-weights, every region in --region and
// --failover-regions weighs the same. A failover region where Tollgate
// does not run then holds a share nobody uses: the limits err on the
// strict side, never on the generous one.
func newLimiter(cfg Config, st *store.Store, log zerolog.Logger, reg prometheus.Registerer) (*ratelimit.Limiter, error) {
	id := cfg.InstanceID
	if id == "" {
		var err error
		if id, err = defaultInstanceID(); err != nil {
			return nil, err
		}
	}
	var hs ratelimit.HeartbeatStore
	if st != nil { // a nil *store.Store in the interface would not be nil
		hs = st
	}
	lim, err := ratelimit.New(ratelimit.Config{
		Region: cfg.Region, InstanceID: id, Store: hs,
		MaxWait: cfg.RateLimitMaxWait, SoftThreshold: cfg.RateLimitSoft,
		Burst: cfg.RateLimitBurst, TokenBurst: cfg.RateLimitTokenBurst,
		HeartbeatInterval: cfg.HeartbeatInterval, HeartbeatTTL: cfg.HeartbeatTTL,
		AssumedInstances: cfg.AssumedInstances, Regions: cfg.FailoverRegions, RegionWeights: cfg.RegionWeights,
		Logger: log.With().Str("instance_id", id).Logger(), Registerer: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("rate limiter: %w", err)
	}
	return lim, nil
}

// defaultInstanceID is the host name and 32 random bits: unique per
// process start, recognisable in the heartbeat items.
func defaultInstanceID() (string, error) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "tollgate"
	}
	if len(host) > 100 {
		host = host[:100]
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return host + "-" + hex.EncodeToString(b[:]), nil
}

// parseWeights parses "region=weight,region=weight".
func parseWeights(v string) (map[string]float64, error) {
	pairs, err := parsePairs(v)
	if err != nil {
		return nil, err
	}
	if len(pairs) == 0 {
		return nil, nil
	}
	w := make(map[string]float64, len(pairs))
	for r, s := range pairs {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("weight of %s must be a number ≥ 0, got %q", r, s)
		}
		w[r] = f
	}
	return w, nil
}

// validateRateLimits adds the rate limiter's configuration problems to
// errs.
func (c Config) validateRateLimits(errs []error) []error {
	if c.regionWeightsErr != nil {
		errs = append(errs, fmt.Errorf("TOLLGATE_REGION_WEIGHTS: %w", c.regionWeightsErr))
	}
	if c.RateLimitSoft <= 0 || c.RateLimitSoft >= 1 {
		errs = append(errs, fmt.Errorf("--ratelimit-soft must be in (0, 1), got %g", c.RateLimitSoft))
	}
	if c.RateLimitBurst <= 0 || c.RateLimitTokenBurst <= 0 {
		errs = append(errs, fmt.Errorf("--ratelimit-burst and --ratelimit-token-burst must be positive"))
	}
	if c.HeartbeatInterval <= 0 || c.HeartbeatTTL <= c.HeartbeatInterval {
		errs = append(errs, fmt.Errorf("--ratelimit-heartbeat-ttl (%s) must exceed --ratelimit-heartbeat-interval (%s), which must be positive", c.HeartbeatTTL, c.HeartbeatInterval))
	}
	if c.AssumedInstances < 1 {
		errs = append(errs, fmt.Errorf("--ratelimit-assumed-instances must be at least 1, got %d", c.AssumedInstances))
	}
	if len(c.InstanceID) > store.MaxInstanceIDLen {
		errs = append(errs, fmt.Errorf("--instance-id must be at most %d bytes", store.MaxInstanceIDLen))
	}
	if c.RegionWeights != nil && !(c.RegionWeights[c.Region] > 0) {
		errs = append(errs, fmt.Errorf("--region-weights must give the local region %q a positive weight", c.Region))
	}
	return errs
}
