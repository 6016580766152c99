// Package ratelimit enforces each customer's requests-per-minute and
// tokens-per-minute limits on the data plane, across every instance of
// every region, with no remote call per request (DESIGN.md invariant 6).
//
// # How the limit is split
//
// Each instance enforces its share of every customer's limit in local token
// buckets:
//
//	share = region weight / Σ region weights / live instances in the region
//
// Region weights are configuration (default: equal over the regions where
// Tollgate serves). Instances announce themselves with a heartbeat item in
// DynamoDB every HeartbeatInterval (default 2s) and count their region's
// live heartbeats with one Query per interval; a heartbeat counts until
// HeartbeatTTL (default 10s) after it was written. So a dead instance's
// share is handed to the others within TTL + interval, and a joiner's is
// taken from them within one interval. When DynamoDB is unreachable the
// last count stays in force: requests are never blocked and an instance
// never falls back to the whole limit. docs/rate-limits.md states the
// resulting bound on the total admitted rate and why it holds.
//
// # Buckets and progressive throttling
//
// A (customer, model) pair has two token buckets, one per limited
// dimension, refilled continuously at share × limit per minute and holding
// Burst (requests, default 3s) and TokenBurst (tokens, default 10s) of that
// rate; a new bucket starts full. A call takes one request and its
// estimated tokens (EstimateTokens):
//
//   - bucket above SoftThreshold (default 20%) after the call: admitted;
//   - below it but not empty: admitted after a delay that grows with the
//     square of the depth into that zone, MaxWait × ((S − after) / S)² with
//     S = SoftThreshold × capacity, up to MaxWait (default 2s) for a call
//     that empties the bucket. Clients that send too fast are slowed down
//     before they are refused;
//   - the bucket cannot pay: refused with rate_limited (HTTP 429,
//     ThrottlingException), Retry-After = time until it can, rounded up to
//     whole seconds, and a message naming the limit. Nothing is taken.
//
// A call that costs more than a whole bucket (a large max_tokens against a
// small share) is admitted when the bucket is full and leaves it in debt,
// so it is not refused forever and the long-run rate still holds.
//
// # Wiring it into the data plane
//
// The server builds one Limiter with New, runs Run in a goroutine for the
// life of the process (cancelling its context deregisters the instance),
// and hands it to the proxy, which, for every authenticated call, after
// reading the body and before calling Bedrock:
//
//	est := ratelimit.EstimateTokens(op.String(), body)
//	d, err := lim.Admit(customer.ID, "", customer.Limits, est, now)
//	d.SetHeaders(w.Header())          // on every response, 429s included
//	if err != nil {
//		return err                    // *apierror.Error, rate_limited
//	}
//	if err := d.Sleep(ctx); err != nil {
//		lim.Correct(customer.ID, "", est, 0, now)
//		return err                    // client went away while delayed
//	}
//	// ... call Bedrock ...
//	lim.Correct(customer.ID, "", est, actualTokens, now)
//
// Correct is called exactly once per admitted call, when its exact usage is
// known (the response's usage, or the stream's final metadata), with 0 for
// a call that got no answer from Bedrock; a refused call is not corrected.
// model is "" for the customer-wide buckets; a per-model override uses the
// model id as part of the key and passes that override's limits.
//
// Admit on an existing bucket takes about 140 ns and allocates nothing
// (BenchmarkAdmit, on a 2-vCPU machine); SetHeaders makes two small
// allocations whatever the number of headers.
package ratelimit
