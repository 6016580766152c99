package ratelimit

import (
	"context"
	"errors"
	"time"

	"github.com/tollgate-dev/tollgate/internal/store"
)

// HeartbeatStore keeps instance heartbeats; *store.Store implements it.
type HeartbeatStore interface {
	PutInstance(ctx context.Context, in store.Instance) error
	// ListInstances returns the region's instances whose heartbeat has not
	// expired at now.
	ListInstances(ctx context.Context, region string, now time.Time) ([]store.Instance, error)
	DeleteInstance(ctx context.Context, region, id string) error
}

// sweepEvery is how often Run drops idle buckets.
const sweepEvery = time.Minute

// Run writes this instance's heartbeat and recounts its region's live
// instances every HeartbeatInterval, and drops idle buckets, until ctx
// ends; it then deletes its heartbeat, so that the other instances take
// over its share at their next recount instead of after HeartbeatTTL, and
// returns the error of that deletion, if any. DynamoDB errors never stop
// it: the last known count stays in force (static stability).
func (l *Limiter) Run(ctx context.Context) error {
	if l.cfg.Store == nil {
		return l.sweepUntil(ctx)
	}
	tick := time.NewTicker(l.cfg.HeartbeatInterval)
	defer tick.Stop()
	lastSweep := l.cfg.Now()
	_ = l.Sync(ctx)
	for {
		select {
		case <-ctx.Done():
			return l.deregister()
		case <-tick.C:
			_ = l.Sync(ctx)
			if now := l.cfg.Now(); now.Sub(lastSweep) >= sweepEvery {
				l.sweep(now)
				lastSweep = now
			}
		}
	}
}

func (l *Limiter) sweepUntil(ctx context.Context) error {
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			l.sweep(l.cfg.Now())
		}
	}
}

func (l *Limiter) deregister() error {
	ctx, cancel := context.WithTimeout(context.Background(), l.callTimeout())
	defer cancel()
	if err := l.cfg.Store.DeleteInstance(ctx, l.cfg.Region, l.cfg.InstanceID); err != nil {
		l.m.heartbeatEr.WithLabelValues("delete").Inc()
		l.cfg.Logger.Warn().Err(err).Msg("rate limiter: heartbeat not deleted; the other instances take over this share after its TTL")
		return err
	}
	return nil
}

// callTimeout bounds one heartbeat call, so that a hung DynamoDB delays
// the loop by at most about one interval.
func (l *Limiter) callTimeout() time.Duration {
	return max(l.cfg.HeartbeatInterval, time.Second)
}

// Sync does one heartbeat round: it writes this instance's heartbeat, then
// counts the region's live instances (itself always included) and updates
// the share. Run calls it every HeartbeatInterval; a server may call it
// once before serving so that the first requests already use the real
// count. On error the previous count stays in force.
//
// The count may rise at once (a joiner lowers everyone's share: the safe
// direction) but falls only after the instance has seen DynamoDB answer for
// HeartbeatTTL without interruption. After an outage every heartbeat may
// have expired, including those of instances that are alive and about to
// write again; trusting the first count after recovery would hand out
// their shares twice.
func (l *Limiter) Sync(ctx context.Context) error {
	if l.cfg.Store == nil {
		return nil
	}
	l.hb.Lock()
	defer l.hb.Unlock()
	now := l.cfg.Now()
	cctx, cancel := context.WithTimeout(ctx, l.callTimeout())
	putErr := l.cfg.Store.PutInstance(cctx, store.Instance{
		Region: l.cfg.Region, ID: l.cfg.InstanceID,
		StartedAt: l.hb.started, BeatAt: now, ExpiresAt: now.Add(l.cfg.HeartbeatTTL),
	})
	cancel()
	if putErr != nil {
		l.m.heartbeatEr.WithLabelValues("put").Inc()
	}
	cctx, cancel = context.WithTimeout(ctx, l.callTimeout())
	live, listErr := l.cfg.Store.ListInstances(cctx, l.cfg.Region, now)
	cancel()
	if listErr != nil {
		l.m.heartbeatEr.WithLabelValues("list").Inc()
		l.hb.healthySince = time.Time{}
		err := errors.Join(putErr, listErr)
		if !l.hb.failing {
			l.hb.failing = true
			l.cfg.Logger.Warn().Err(err).Int("instances", l.Instances()).
				Msg("rate limiter: cannot count instances; keeping the last known count")
		}
		return err
	}
	if l.hb.failing {
		l.hb.failing = false
		l.cfg.Logger.Info().Msg("rate limiter: counting instances again")
	}
	if l.hb.healthySince.IsZero() {
		l.hb.healthySince = now
	}
	n := 1
	for _, in := range live {
		if in.ID != l.cfg.InstanceID {
			n++
		}
	}
	cur := l.Instances()
	switch {
	case n == cur:
	case n > cur || now.Sub(l.hb.healthySince) >= l.cfg.HeartbeatTTL:
		l.setInstances(n)
		l.cfg.Logger.Info().Int("from", cur).Int("to", n).Float64("share", l.Share("")).
			Msg("rate limiter: live instances in region changed")
	default:
		l.cfg.Logger.Debug().Int("counted", n).Int("kept", cur).
			Msg("rate limiter: fewer instances counted right after a DynamoDB gap; waiting one TTL before trusting it")
	}
	return putErr
}
