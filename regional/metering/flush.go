package metering

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tollgate-dev/tollgate/internal/store"
)

// Flushing.
//
// Each flush writes every component changed since the last successful
// write of it, as one conditional PutItem (BatchWriteItem takes no
// conditions), concurrently up to FlushParallelism. DynamoDB writes
// therefore grow with active components per flush interval (customers ×
// models × served regions active in the hour), not with requests: one
// customer on one model at any request rate costs one write per second per
// writer. The price is that usage reaches DynamoDB up to FlushInterval (+
// flush time) after the response.
//
// A component is written with its cumulative totals and seq, the highest
// LSN it includes, on condition that the stored seq is lower. A refused
// write (the stored seq is the same or higher) is checked with a
// consistent read: the same seq means an earlier send already landed (a
// retried flush after a timeout), which is success; a higher one means
// another process writes under this writer id, which is reported as an
// error and never overwritten.
//
// Reconciliation: a component first seen by this process may already exist
// in DynamoDB (written before a restart, or before it was evicted from
// memory). Its first write is therefore preceded by a consistent GetItem,
// and the stored totals are added to what this process counted. For
// components in the replayed log, the replayed records that the stored seq
// already covers are skipped; that needs the stored seq of every replayed
// component, then one more pass over the log, which is done once, as a
// whole, before any other flush work (and retried until DynamoDB answers).

// Flush writes changed components to DynamoDB now and deletes the log
// segments that are then fully flushed. It returns an error if any write
// failed; the failed components are retried by the next flush.
func (m *Meter) Flush(ctx context.Context) error {
	if m.wal.closedForGood() {
		return ErrClosed
	}
	return m.flush(ctx)
}

func (m *Meter) runFlusher() {
	defer m.flusherWG.Done()
	t := time.NewTicker(m.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			_ = m.flush(context.Background()) // errors are logged and counted
		}
	}
}

func (m *Meter) flush(ctx context.Context) (err error) {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, m.cfg.FlushTimeout)
	defer cancel()
	start := time.Now()
	defer func() {
		m.metrics.flushDone(time.Since(start), err)
		if err != nil {
			m.flushErrors.Add(1)
			msg := err.Error()
			m.lastFlushErr.Store(&msg)
			if m.errLog.allow(m.now()) {
				st := m.Stats()
				m.log.Error().Err(err).Int64("backlog_bytes", st.BacklogBytes).
					Dur("oldest_unflushed", st.OldestUnflushed).Int("dirty_components", st.Dirty).
					Msg("usage flush to DynamoDB failed; usage stays in the local log and will be retried")
			}
			return
		}
		m.flushes.Add(1)
		m.lastFlushErr.Store(nil)
	}()

	m.mu.Lock()
	replayPending := m.replayPending
	m.mu.Unlock()
	if replayPending {
		if err := m.reconcileReplay(ctx); err != nil {
			return fmt.Errorf("reconcile replayed log: %w", err)
		}
	}

	// Snapshot: every component changed since its last write. Everything
	// up to target is applied, so if all these writes succeed, every
	// record up to target is in DynamoDB.
	type job struct {
		c          *component
		dirtySince time.Time
	}
	m.mu.Lock()
	target := m.applied
	jobs := make([]job, 0, 16)
	for _, c := range m.comps {
		if c.dirty {
			jobs = append(jobs, job{c, c.dirtySince})
			c.dirty, c.dirtySince = false, time.Time{}
		}
	}
	m.mu.Unlock()

	sem := make(chan struct{}, m.cfg.FlushParallelism)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var errs []error
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := m.writeComponent(ctx, j.c); err != nil {
				m.mu.Lock()
				j.c.dirty = true
				j.c.dirtySince = minTime(j.c.dirtySince, j.dirtySince)
				m.mu.Unlock()
				errMu.Lock()
				errs = append(errs, err)
				errMu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		// Report a few; the rest are usually the same outage.
		return fmt.Errorf("%d of %d component writes failed: %w", len(errs), len(jobs), errors.Join(errs[:min(len(errs), 3)]...))
	}
	if target > m.flushedLSN.Load() {
		m.flushedLSN.Store(target)
	}
	if err := m.wal.release(target); err != nil {
		m.log.Warn().Err(err).Msg("could not delete flushed log segments")
	}
	m.evictIdle()
	return nil
}

// writeComponent reconciles c if needed and writes its current state.
func (m *Meter) writeComponent(ctx context.Context, c *component) error {
	m.mu.Lock()
	reconciled := c.reconciled
	key := c.key
	m.mu.Unlock()
	if !reconciled {
		stored, err := m.getComponent(ctx, key)
		if err != nil {
			return err
		}
		m.mu.Lock()
		if stored != nil && stored.Seq >= c.firstLive {
			m.mu.Unlock()
			return fmt.Errorf("component %s/%s: stored seq %d covers this process's own records from %d: another process writes as writer %s",
				key.CustomerID, key.Model, stored.Seq, c.firstLive, key.WriterID)
		}
		if stored != nil {
			c.counts.Add(&stored.UsageCounts)
		}
		c.reconciled = true
		m.mu.Unlock()
	}

	m.mu.Lock()
	snap := &store.UsageComponent{UsageComponentKey: c.key, UsageCounts: c.counts.Clone(), Seq: c.seq}
	m.mu.Unlock()
	m.writeCalls.Add(1)
	err := m.cfg.Store.PutUsageComponent(ctx, snap)
	m.metrics.ddbCall("put", err)
	if !errors.Is(err, store.ErrStaleSequence) {
		return err
	}
	stored, gerr := m.getComponent(ctx, key)
	if gerr != nil {
		return gerr
	}
	if stored != nil && stored.Seq == snap.Seq {
		return nil // an earlier send of this same state landed
	}
	storedSeq := uint64(0)
	if stored != nil {
		storedSeq = stored.Seq
	}
	return fmt.Errorf("component %s/%s: DynamoDB has seq %d, ours is %d: another process writes as writer %s",
		key.CustomerID, key.Model, storedSeq, snap.Seq, key.WriterID)
}

// getComponent reads a component consistently; nil when absent.
func (m *Meter) getComponent(ctx context.Context, k store.UsageComponentKey) (*store.UsageComponent, error) {
	m.readCalls.Add(1)
	c, err := m.cfg.Store.GetUsageComponent(ctx, k, true)
	m.metrics.ddbCall("get", err)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return c, err
}

// reconcileReplay reads the stored state of every component found in the
// replayed log, then sums, per component, the replayed records its stored
// seq does not cover. All or nothing: on any error nothing changes and the
// next flush tries again.
func (m *Meter) reconcileReplay(ctx context.Context) error {
	m.mu.Lock()
	var comps []*component
	for _, c := range m.comps {
		if c.fromReplay && !c.reconciled {
			comps = append(comps, c)
		}
	}
	m.mu.Unlock()

	stored := make([]*store.UsageComponent, len(comps))
	sem := make(chan struct{}, m.cfg.FlushParallelism)
	var wg sync.WaitGroup
	errs := make([]error, len(comps))
	for i, c := range comps {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			stored[i], errs[i] = m.getComponent(ctx, c.key)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	type acc struct {
		storedSeq uint64
		add       store.UsageCounts
	}
	byKey := make(map[compKey]*acc, len(comps))
	for i, c := range comps {
		a := &acc{}
		if stored[i] != nil {
			a.storedSeq = stored[i].Seq
			a.add = stored[i].UsageCounts.Clone()
		}
		byKey[compKey{customer: c.key.CustomerID, hour: c.key.Hour.Unix(), served: c.key.ServedRegion, model: c.key.Model}] = a
	}
	var ev Event
	err := m.wal.scan(0, m.replayEnd, func(lsn uint64, payload []byte) error {
		if err := decodeEvent(payload, &ev); err != nil {
			return fmt.Errorf("%w: LSN %d: %v", ErrWALCorrupt, lsn, err)
		}
		if a := byKey[keyOf(&ev)]; a != nil && lsn > a.storedSeq {
			addEvent(&a.add, &ev)
		}
		return nil
	})
	if err != nil {
		return err
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	for i, c := range comps {
		a := byKey[compKey{customer: c.key.CustomerID, hour: c.key.Hour.Unix(), served: c.key.ServedRegion, model: c.key.Model}]
		// counts held only live records (LSN > replayEnd); add the stored
		// totals and the replayed records DynamoDB does not have.
		c.counts.Add(&a.add)
		c.reconciled, c.fromReplay = true, false
		if stored[i] != nil && c.seq <= stored[i].Seq {
			// DynamoDB already has everything this component holds.
			c.seq = stored[i].Seq
			c.dirty = false
			c.dirtySince = time.Time{}
		}
	}
	m.replayPending = false
	return nil
}

// evictIdle drops flushed components untouched for IdleEvictAfter, so
// memory follows active components, not history.
func (m *Meter) evictIdle() {
	cutoff := m.now().Add(-m.cfg.IdleEvictAfter)
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, c := range m.comps {
		if !c.dirty && c.reconciled && c.lastTouch.Before(cutoff) {
			delete(m.comps, k)
		}
	}
}
