package metering

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/tollgate-dev/tollgate/internal/store"
)

// Defaults for the zero values of Config.
const (
	DefaultFlushInterval    = time.Second
	DefaultFlushTimeout     = 5 * time.Second
	DefaultMaxBacklogBytes  = 1 << 30
	DefaultSegmentBytes     = 64 << 20
	DefaultFlushParallelism = 16
	DefaultIdleEvictAfter   = 30 * time.Minute
)

// maxErrorTypes bounds the per-type error counts kept in one component;
// further types are counted as "other". Error types come from an allowlist
// upstream, so this only guards the item size against a bug.
const maxErrorTypes = 32

// Errors returned by Record.
var (
	// ErrBacklogFull means the log holds MaxBacklogBytes of usage that
	// could not be flushed (DynamoDB has been unreachable for long). The
	// event was not recorded; the proxy should refuse new requests with a
	// 503 until the backlog drains, because it could not meter them.
	ErrBacklogFull = errors.New("metering: usage backlog is full (DynamoDB unreachable?), refusing to serve unmetered requests")
	// ErrInvalidEvent means the event cannot be stored (bad customer id,
	// empty model, negative counts): a bug in the caller.
	ErrInvalidEvent = errors.New("metering: invalid event")
)

// Config configures a Meter. Dir, Region and Store are required.
type Config struct {
	// Dir holds the write-ahead log and the writer id. It must be on a
	// local disk that survives a process restart, and it must not be
	// shared or copied: its id names the components this writer owns.
	Dir string
	// Region is the region this writer runs in.
	Region string
	// Store is where components are flushed.
	Store *store.Store

	// FlushInterval is how often changed components are written to
	// DynamoDB. Zero means DefaultFlushInterval (1s); negative disables the
	// background flusher (tests call Flush).
	FlushInterval time.Duration
	// FlushTimeout bounds one flush, so a hung DynamoDB never wedges the
	// flusher. Zero means DefaultFlushTimeout (5s).
	FlushTimeout time.Duration
	// SyncInterval is the minimum time between the starts of two fsyncs
	// of the log. Zero (the default) or negative means none: plain group
	// commit, where the records that arrive while one fsync runs share the
	// next one, so a request waits for at most about two fsyncs. A
	// positive value caps fsyncs at 1/SyncInterval per second for disks
	// where fsyncs are scarce, but every record may then wait up to
	// SyncInterval: a request that follows the previous sync by less than
	// the interval waits out the rest (measured: 5ms added about 4ms to a
	// sequential client's median latency).
	SyncInterval time.Duration
	// MaxBacklogBytes bounds the log on disk. Above it, Record refuses
	// events with ErrBacklogFull. Zero means DefaultMaxBacklogBytes (1 GiB).
	MaxBacklogBytes int64
	// SegmentBytes is the size at which a log segment is sealed and a new
	// one started. Zero means DefaultSegmentBytes (64 MiB).
	SegmentBytes int64
	// FlushParallelism bounds concurrent DynamoDB calls in a flush. Zero
	// means DefaultFlushParallelism (16).
	FlushParallelism int
	// IdleEvictAfter drops a flushed component from memory once it has not
	// been touched for this long (past hours). A late event for it reads it
	// back first. Zero means DefaultIdleEvictAfter (30m).
	IdleEvictAfter time.Duration

	// Logger receives flush errors (rate-limited) and lifecycle lines. The
	// zero value logs nothing.
	Logger zerolog.Logger
	// Registerer registers the tollgate_metering_* metrics; nil registers
	// none.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() error {
	var problems []string
	if c.Dir == "" {
		problems = append(problems, "Dir is required")
	}
	if c.Region == "" || strings.ContainsRune(c.Region, '#') {
		problems = append(problems, "Region is required and must not contain '#'")
	}
	if c.Store == nil {
		problems = append(problems, "Store is required")
	}
	if c.MaxBacklogBytes < 0 || c.SegmentBytes < 0 || c.FlushParallelism < 0 || c.FlushTimeout < 0 || c.IdleEvictAfter < 0 {
		problems = append(problems, "sizes, timeouts and parallelism must not be negative")
	}
	if len(problems) > 0 {
		return fmt.Errorf("metering config: %s", strings.Join(problems, "; "))
	}
	c.FlushInterval = cmp.Or(c.FlushInterval, DefaultFlushInterval)
	c.FlushTimeout = cmp.Or(c.FlushTimeout, DefaultFlushTimeout)
	c.MaxBacklogBytes = cmp.Or(c.MaxBacklogBytes, DefaultMaxBacklogBytes)
	c.SegmentBytes = cmp.Or(c.SegmentBytes, DefaultSegmentBytes)
	c.FlushParallelism = cmp.Or(c.FlushParallelism, DefaultFlushParallelism)
	c.IdleEvictAfter = cmp.Or(c.IdleEvictAfter, DefaultIdleEvictAfter)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MaxBacklogBytes < 2*c.SegmentBytes {
		// The newest segment is never deleted, so a limit below two
		// segments could never drain.
		return fmt.Errorf("metering config: MaxBacklogBytes (%d) must be at least twice SegmentBytes (%d)", c.MaxBacklogBytes, c.SegmentBytes)
	}
	return nil
}

// compKey identifies a component within this writer (the writer's region
// and id are the same for all).
type compKey struct {
	customer string
	hour     int64 // Unix seconds of the hour's start
	served   string
	model    string
}

// component is the in-memory state of one usage component.
type component struct {
	key store.UsageComponentKey
	// counts are the cumulative totals. Before reconciliation they hold
	// only the records applied live since the component was created in
	// memory; reconciliation adds what DynamoDB already has (and, for
	// components seen in the replayed log, the replayed records the stored
	// sequence does not cover).
	counts store.UsageCounts
	// seq is the highest LSN applied.
	seq uint64
	// firstLive is the first LSN applied live (0 if none): everything
	// stored for this component before reconciliation is older.
	firstLive uint64
	// reconciled is set once counts include what DynamoDB had.
	reconciled bool
	// fromReplay marks components with records replayed from the log at
	// Open; they are reconciled together, by a second pass over the log.
	fromReplay bool
	dirty      bool
	dirtySince time.Time
	lastTouch  time.Time
}

type pendingRecord struct {
	lsn uint64
	ev  Event
	at  time.Time
}

// Meter records usage events. It is safe for concurrent use.
type Meter struct {
	cfg     Config
	wal     *wal
	log     zerolog.Logger
	metrics *metrics

	mu        sync.Mutex
	pending   []pendingRecord // appended to the log, not yet durable; LSN order
	applied   uint64          // highest LSN applied to comps
	comps     map[compKey]*component
	replayEnd uint64
	// replayPending is set while components from the replayed log wait
	// for reconciliation; until then no log segment is released.
	replayPending bool

	flushMu    sync.Mutex // one flush at a time
	flushedLSN atomic.Uint64
	closed     atomic.Bool
	stop       chan struct{}
	flusherWG  sync.WaitGroup

	records, rejected, flushes, flushErrors, writeCalls, readCalls, walSyncs atomic.Int64
	lastFlushErr                                                             atomic.Pointer[string]
	errLog, backlogLog                                                       rateLimiter
}

// Open starts a meter: it locks Dir, replays the log, reconciles it with
// DynamoDB and starts the background flusher. When DynamoDB is unreachable
// Open still succeeds (static stability) after at most FlushTimeout:
// reconciliation and the flush are retried by the flusher, and Record
// works meanwhile. Open fails when the
// directory is locked by another process (ErrWALLocked) or the log is
// corrupt (ErrWALCorrupt).
func Open(ctx context.Context, cfg Config) (*Meter, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	m := &Meter{
		cfg:   cfg,
		log:   cfg.Logger.With().Str("component", "metering").Logger(),
		comps: make(map[compKey]*component),
		stop:  make(chan struct{}),
	}
	m.errLog.every = 10 * time.Second
	m.backlogLog.every = 10 * time.Second
	m.metrics = newMetrics(m)

	start := time.Now()
	var replayed int
	w, err := openWAL(cfg.Dir, walOptions{
		segmentBytes: cfg.SegmentBytes,
		syncInterval: max(cfg.SyncInterval, 0),
		onDurable:    m.onDurable,
		onSync:       m.onSync,
	}, func(lsn uint64, payload []byte) error {
		var ev Event
		if err := decodeEvent(payload, &ev); err != nil {
			return fmt.Errorf("%w: LSN %d: %v", ErrWALCorrupt, lsn, err)
		}
		replayed++
		m.replayRecord(lsn, &ev)
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.wal = w
	// Replay ran inside openWAL, before the writer id was handed over.
	for _, c := range m.comps {
		c.key.WriterID = w.writerID
	}
	m.replayEnd = w.replayEnd
	m.applied = w.replayEnd
	m.replayPending = len(m.comps) > 0
	if cfg.Registerer != nil {
		if err := m.metrics.register(cfg.Registerer); err != nil {
			w.closeWriter()
			w.unlock()
			return nil, err
		}
	}
	m.log.Info().Str("writer_id", w.writerID).Str("dir", cfg.Dir).Int("replayed_records", replayed).
		Int("components", len(m.comps)).Uint64("next_lsn", w.replayEnd+1).Msg("metering log opened")

	if replayed > 0 {
		if err := m.Flush(ctx); err != nil {
			m.log.Warn().Err(err).Msg("initial flush after replay failed; will retry in the background")
		} else {
			m.log.Info().Dur("took", time.Since(start)).Msg("replayed usage reconciled and flushed")
		}
	}
	if cfg.FlushInterval > 0 {
		m.flusherWG.Add(1)
		go m.runFlusher()
	}
	return m, nil
}

// WriterID returns this writer's stable id (kept in Dir/writer-id).
func (m *Meter) WriterID() string { return m.wal.writerID }

func (m *Meter) now() time.Time { return m.cfg.Now() }

// Record appends ev to the write-ahead log and returns once it is durable
// (fsync'd, in a batch shared with concurrent callers); the event is then
// in the in-memory totals and will be flushed. Call it when the upstream
// response is complete and before forwarding its last bytes: if Record
// fails, fail the request (503) instead of delivering an unmetered
// response.
//
// Errors: ErrInvalidEvent (caller bug), ErrBacklogFull (refuse new
// requests), ErrClosed, a log write error (the disk failed: the meter
// refuses everything until restart), or ctx.Err(). After ctx.Err() the
// event may still become durable and be counted, so pass a context that
// is not cancelled by the client going away (context.WithoutCancel).
func (m *Meter) Record(ctx context.Context, ev Event) error {
	if err := m.prepare(&ev); err != nil {
		return err
	}
	if m.closed.Load() {
		return ErrClosed
	}
	if b := m.wal.backlogBytes(); b >= m.cfg.MaxBacklogBytes {
		m.rejected.Add(1)
		m.metrics.rejected.Inc()
		if m.backlogLog.allow(m.now()) {
			m.log.Error().Int64("backlog_bytes", b).Int64("max_backlog_bytes", m.cfg.MaxBacklogBytes).
				Str("last_flush_error", m.lastFlushError()).
				Msg("metering backlog full: refusing new requests until DynamoDB accepts the backlog")
		}
		return ErrBacklogFull
	}
	bp := encodeBufs.Get().(*[]byte)
	*bp = appendEvent((*bp)[:0], &ev)
	now := m.now()
	m.mu.Lock()
	lsn, b, err := m.wal.enqueue(*bp)
	if err == nil {
		m.pending = append(m.pending, pendingRecord{lsn: lsn, ev: ev, at: now})
	}
	m.mu.Unlock()
	encodeBufs.Put(bp)
	if err != nil {
		return err
	}
	if err := m.wal.wait(ctx, b); err != nil {
		return err
	}
	m.records.Add(1)
	m.metrics.event(ev.Operation, ev.ErrorType)
	return nil
}

var encodeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// prepare validates ev and fills its defaults.
func (m *Meter) prepare(ev *Event) error {
	if ev.Time.IsZero() {
		ev.Time = m.now()
	}
	ev.Time = ev.Time.UTC()
	if ev.ServedRegion == "" {
		ev.ServedRegion = m.cfg.Region
	}
	if !ev.Usage.valid() || ev.Latency < 0 {
		return fmt.Errorf("%w: negative usage or latency", ErrInvalidEvent)
	}
	if len(ev.RequestID) > 256 || len(ev.KeyID) > 256 || len(ev.Operation) > 128 || len(ev.ErrorType) > 128 {
		return fmt.Errorf("%w: request id, key id, operation or error type too long", ErrInvalidEvent)
	}
	k := store.UsageComponentKey{
		CustomerID: ev.CustomerID, Hour: ev.Time.Truncate(time.Hour),
		WriterRegion: m.cfg.Region, WriterID: "x", ServedRegion: ev.ServedRegion, Model: ev.Model,
	}
	if err := k.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	return nil
}

// onDurable runs in the log's syncer after each fsync: it applies the
// records that just became durable, in LSN order. Applying only durable
// records means a flush never sends DynamoDB usage that a crash could
// still take out of the log (whose LSNs would then be reused).
func (m *Meter) onDurable(upTo uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for n < len(m.pending) && m.pending[n].lsn <= upTo {
		p := &m.pending[n]
		m.applyLocked(p.lsn, &p.ev, p.at)
		n++
	}
	rest := copy(m.pending, m.pending[n:])
	clear(m.pending[rest:])
	m.pending = m.pending[:rest]
}

func (m *Meter) onSync(d time.Duration, records int, err error) {
	m.walSyncs.Add(1)
	m.metrics.walSync(d, records, err)
}

func keyOf(ev *Event) compKey {
	return compKey{customer: ev.CustomerID, hour: ev.Time.Truncate(time.Hour).Unix(), served: ev.ServedRegion, model: ev.Model}
}

// replayRecord notes a record found in the log at Open. Its counts are not
// added yet: whether DynamoDB already has them is known only after
// reconciliation.
func (m *Meter) replayRecord(lsn uint64, ev *Event) {
	k := keyOf(ev)
	c := m.comps[k]
	if c == nil {
		c = m.newComponent(k, ev)
		c.fromReplay = true
		c.dirtySince = ev.Time
	}
	c.seq = lsn
	c.dirty = true
	c.lastTouch = m.now()
	c.dirtySince = minTime(c.dirtySince, ev.Time)
}

func (m *Meter) newComponent(k compKey, ev *Event) *component {
	var writerID string
	if m.wal != nil {
		writerID = m.wal.writerID
	}
	c := &component{key: store.UsageComponentKey{
		CustomerID: ev.CustomerID, Hour: time.Unix(k.hour, 0).UTC(),
		WriterRegion: m.cfg.Region, WriterID: writerID, ServedRegion: ev.ServedRegion, Model: ev.Model,
	}}
	m.comps[k] = c
	return c
}

// applyLocked adds a durable record to its component. m.mu is held.
func (m *Meter) applyLocked(lsn uint64, ev *Event, at time.Time) {
	k := keyOf(ev)
	c := m.comps[k]
	if c == nil {
		c = m.newComponent(k, ev)
	}
	c.firstLive = cmp.Or(c.firstLive, lsn)
	addEvent(&c.counts, ev)
	c.seq = lsn
	if !c.dirty {
		c.dirty = true
		c.dirtySince = at
	}
	c.lastTouch = at
	m.applied = lsn
}

func addEvent(c *store.UsageCounts, ev *Event) {
	c.Requests++
	c.InputTokens += ev.Usage.InputTokens
	c.OutputTokens += ev.Usage.OutputTokens
	c.CacheReadTokens += ev.Usage.CacheReadTokens
	c.CacheWriteTokens += ev.Usage.CacheWriteTokens
	c.LatencyMsSum += ev.Latency.Milliseconds()
	c.UpstreamLatencyMsSum += ev.Usage.LatencyMs
	if et := errorType(ev); et != "" {
		c.Errors++
		if c.ErrorsByType == nil {
			c.ErrorsByType = make(map[string]int64, 2)
		}
		if _, ok := c.ErrorsByType[et]; !ok && len(c.ErrorsByType) >= maxErrorTypes {
			et = "other"
		}
		c.ErrorsByType[et]++
	}
}

// errorType is the type an event counts as an error under, "" for a
// success.
func errorType(ev *Event) string {
	if ev.ErrorType != "" {
		return ev.ErrorType
	}
	if ev.Status >= 400 {
		return "HTTP" + strconv.Itoa(ev.Status)
	}
	return ""
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// Stats is a snapshot of the meter's state.
type Stats struct {
	WriterID string
	// BacklogBytes is the size of the log on disk; Record refuses events
	// when it reaches MaxBacklogBytes.
	BacklogBytes    int64
	MaxBacklogBytes int64
	// OldestUnflushed is the age of the oldest recorded usage that is not
	// in DynamoDB yet; 0 when everything is flushed.
	OldestUnflushed time.Duration
	// Records counts events recorded; Rejected those refused for a full
	// backlog.
	Records, Rejected int64
	// Flushes counts successful flushes, FlushErrors failed ones.
	Flushes, FlushErrors int64
	// WriteCalls and ReadCalls count DynamoDB PutItem and GetItem calls.
	WriteCalls, ReadCalls int64
	// WALSyncs counts fsyncs of the log (Records/WALSyncs is the mean
	// batch size).
	WALSyncs int64
	// DurableLSN is the last durable log record, FlushedLSN the last one
	// known to be in DynamoDB with every record before it.
	DurableLSN, FlushedLSN uint64
	// Components is the number of components held in memory, Dirty those
	// with unflushed changes.
	Components, Dirty int
	// LastFlushError is the last flush error, "" after a successful flush.
	LastFlushError string
	// WALFailed is the sticky log write error, if any.
	WALFailed error
}

// Stats returns a snapshot of the meter's counters.
func (m *Meter) Stats() Stats {
	s := Stats{
		WriterID:        m.wal.writerID,
		BacklogBytes:    m.wal.backlogBytes(),
		MaxBacklogBytes: m.cfg.MaxBacklogBytes,
		Records:         m.records.Load(),
		Rejected:        m.rejected.Load(),
		Flushes:         m.flushes.Load(),
		FlushErrors:     m.flushErrors.Load(),
		WriteCalls:      m.writeCalls.Load(),
		ReadCalls:       m.readCalls.Load(),
		WALSyncs:        m.walSyncs.Load(),
		DurableLSN:      m.wal.durable.Load(),
		FlushedLSN:      m.flushedLSN.Load(),
		LastFlushError:  m.lastFlushError(),
		WALFailed:       m.wal.failure(),
	}
	now := m.now()
	var oldest time.Time
	m.mu.Lock()
	s.Components = len(m.comps)
	for _, c := range m.comps {
		if c.dirty {
			s.Dirty++
			oldest = minTime(oldest, c.dirtySince)
		}
	}
	if len(m.pending) > 0 {
		oldest = minTime(oldest, m.pending[0].at)
	}
	m.mu.Unlock()
	if !oldest.IsZero() && now.After(oldest) {
		s.OldestUnflushed = now.Sub(oldest)
	}
	return s
}

func (m *Meter) lastFlushError() string {
	if p := m.lastFlushErr.Load(); p != nil {
		return *p
	}
	return ""
}

// Close stops the meter: new Records fail with ErrClosed, buffered records
// are synced, a final flush runs (bounded by ctx and FlushTimeout), and the
// directory is unlocked. Usage the final flush could not write stays in the
// log for the next Open. Close returns the final flush's error, if any.
func (m *Meter) Close(ctx context.Context) error {
	if m.closed.Swap(true) {
		return ErrClosed
	}
	close(m.stop)
	m.flusherWG.Wait()
	werr := m.wal.closeWriter()
	ferr := m.flush(ctx)
	m.metrics.unregister()
	uerr := m.wal.unlock()
	m.log.Info().Err(ferr).Int64("backlog_bytes", m.wal.backlogBytes()).Msg("metering closed")
	return errors.Join(werr, ferr, uerr)
}

// rateLimiter lets one log line through per period and counts the rest.
type rateLimiter struct {
	mu         sync.Mutex
	every      time.Duration
	last       time.Time
	suppressed int
}

func (r *rateLimiter) allow(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.last.IsZero() && now.Sub(r.last) < r.every {
		r.suppressed++
		return false
	}
	r.last, r.suppressed = now, 0
	return true
}
