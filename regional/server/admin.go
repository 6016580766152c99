package server

import (
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/regional/admin"
	"github.com/tollgate-dev/tollgate/regional/auth"
)

// adminHandler builds the admin API for its own listener, or returns nil
// when it is disabled: no --admin-listen, or no admin token configured (a
// listener that could only answer 401 is not worth opening).
func adminHandler(cfg Config, st *store.Store, keys *auth.Cache, log zerolog.Logger, reg prometheus.Registerer) (http.Handler, error) {
	if cfg.AdminListen == "" {
		return nil, nil
	}
	tokens, err := admin.ParseTokens(cfg.AdminTokenHashes, cfg.AdminToken)
	if err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		log.Info().Msg("admin API disabled: no --admin-token-hashes configured")
		return nil, nil
	}
	if cfg.AdminToken != "" {
		log.Warn().Msg("--admin-token holds a clear admin token: use --admin-token-hashes outside local development")
	}
	if host, _, err := net.SplitHostPort(cfg.AdminListen); err == nil && !cfg.AdminTLS {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			log.Warn().Str("admin_listen", cfg.AdminListen).
				Msg("the admin API serves plain HTTP on a non-loopback address: admin tokens cross the network in clear unless a TLS-terminating load balancer is in front")
		}
	}
	return admin.New(admin.Config{
		Store: st, Tokens: tokens, Region: cfg.Region,
		Logger: log.With().Str("api", "admin").Logger(), Registerer: reg,
		// A change made here takes effect in this process's data plane
		// at once, not after the key cache's TTL.
		OnChange: func(targetType, targetID, customerID string) {
			switch targetType {
			case store.AuditTargetKey:
				keys.InvalidateKey(targetID)
			case store.AuditTargetCustomer:
				keys.InvalidateCustomer(targetID)
			}
		},
	})
}
