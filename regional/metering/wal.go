package metering

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The write-ahead log.
//
// Directory layout:
//
//	LOCK                    flock'ed by the process that owns the directory
//	writer-id               16 hex digits, created once; names this writer
//	00000000000000000001.wal  segments, named by the LSN of their first record
//
// A segment is a 16-byte header (magic, first LSN) followed by records:
//
//	[0:4]   payload length n (uint32, big-endian)
//	[4:8]   CRC-32C of bytes [0:4] and [8:16+n]
//	[8:16]  LSN (uint64): 1, 2, 3, … with no gaps across segments
//	[16:16+n] payload (an encoded Event)
//
// Appends are group-committed: records are copied into a buffer, and one
// syncer goroutine writes the buffer and fsyncs it, then wakes every
// appender of that batch. Records that arrive during an fsync form the next
// batch, so many concurrent requests share one fsync. Segments are sealed
// when they reach their size and at every open (a new process never appends
// to an old file, so a torn tail is repaired once and sealed files never
// change); sealed segments are deleted once every record in them has been
// flushed. The newest segment is never deleted: its name keeps the LSN
// sequence going even when everything has been flushed, and LSNs must
// never repeat, because DynamoDB items remember the highest one they
// include.

const (
	walMagic       = "TGWAL\x00\x00\x01"
	segHeaderLen   = 16
	recHeaderLen   = 16
	maxRecordLen   = 1 << 20
	writerIDFile   = "writer-id"
	lockFileName   = "LOCK"
	segmentSuffix  = ".wal"
	segmentNameLen = 20 + len(segmentSuffix)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors of the write-ahead log.
var (
	// ErrWALCorrupt means a log record that was durably written cannot be
	// read back (a bad checksum or a gap before the last record). Open
	// refuses to start rather than lose or invent usage: an operator must
	// look at the directory (the error names the file and offset).
	ErrWALCorrupt = errors.New("metering: write-ahead log is corrupt")
	// ErrWALLocked means another process holds the directory.
	ErrWALLocked = errors.New("metering: write-ahead log directory is locked by another process")
	// ErrClosed is returned by Record after Close.
	ErrClosed = errors.New("metering: meter is closed")
)

type walOptions struct {
	segmentBytes int64
	// syncInterval is the minimum time between the starts of two fsyncs;
	// 0 or less means none (sync as soon as the previous one finished).
	syncInterval time.Duration
	// onDurable is called by the syncer after each successful fsync with
	// the highest durable LSN, before the batch's appenders are woken.
	onDurable func(lsn uint64)
	// onSync observes each fsync (for metrics); may be nil.
	onSync func(d time.Duration, records int, err error)
}

type segment struct {
	first uint64 // LSN of the first record (the file name)
	last  uint64 // LSN of the last record; first-1 when empty
	size  int64
	path  string
}

type batch struct {
	done  chan struct{}
	err   error
	first uint64
	last  uint64
}

type wal struct {
	dir      string
	opts     walOptions
	lockFile *os.File
	writerID string
	// replayEnd is the last LSN found at open: records up to it are from
	// earlier processes.
	replayEnd uint64

	mu      sync.Mutex
	buf     []byte // encoded records waiting for the syncer
	spare   []byte
	cur     *batch // the batch records appended now belong to
	nextLSN uint64
	closed  bool
	failed  error     // sticky: after a failed write or fsync nothing is appended
	sealed  []segment // oldest first
	active  segment
	backlog atomic.Int64 // bytes in all segment files

	kick    chan struct{}
	done    chan struct{}
	durable atomic.Uint64
	f       *os.File // the active segment; only the syncer touches it after open
}

// openWAL locks dir, reads its writer id (creating one in a new
// directory), checks every segment, repairs a torn tail, calls replay with
// every record in LSN order, and starts the syncer on a new segment.
func openWAL(dir string, opts walOptions, replay func(lsn uint64, payload []byte) error) (_ *wal, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("metering: create log directory: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("metering: open lock file: %w", err)
	}
	if err := lockFile(lf); err != nil {
		lf.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrWALLocked, dir, err)
	}
	w := &wal{dir: dir, opts: opts, lockFile: lf, kick: make(chan struct{}, 1), done: make(chan struct{})}
	defer func() {
		if err != nil {
			if w.f != nil {
				w.f.Close()
			}
			unlockFile(lf)
			lf.Close()
		}
	}()

	segs, err := listSegments(dir)
	if err != nil {
		return nil, err
	}
	if w.writerID, err = loadWriterID(dir, len(segs) > 0); err != nil {
		return nil, err
	}
	if err := w.recover(segs, replay); err != nil {
		return nil, err
	}
	go w.run()
	return w, nil
}

func listSegments(dir string) ([]segment, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("metering: read log directory: %w", err)
	}
	var segs []segment
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, segmentSuffix) || len(name) != segmentNameLen || !e.Type().IsRegular() {
			continue
		}
		first, err := strconv.ParseUint(name[:20], 10, 64)
		if err != nil || first == 0 {
			continue
		}
		segs = append(segs, segment{first: first, last: first - 1, path: filepath.Join(dir, name)})
	}
	slices.SortFunc(segs, func(a, b segment) int { return compareUint(a.first, b.first) })
	return segs, nil
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func segmentPath(dir string, first uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", first, segmentSuffix))
}

// loadWriterID reads the writer id, or creates it in a directory without
// segments. Segments without an id mean the id file was lost: replaying
// them under a new id would count them twice (once under each id), so that
// is refused.
func loadWriterID(dir string, haveSegments bool) (string, error) {
	p := filepath.Join(dir, writerIDFile)
	b, err := os.ReadFile(p)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if !validWriterID(id) {
			return "", fmt.Errorf("%w: %s holds %q, not a writer id", ErrWALCorrupt, p, id)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("metering: read writer id: %w", err)
	}
	if haveSegments {
		return "", fmt.Errorf("%w: %s is missing but log segments exist; restore it, or move the segments away (their usage is then lost)", ErrWALCorrupt, p)
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(raw[:])
	// Write, sync, rename, sync the directory: the id exists completely or
	// not at all.
	tmp := p + ".tmp"
	if err := writeFileSync(tmp, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("metering: write writer id: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("metering: write writer id: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return "", err
	}
	return id, nil
}

func validWriterID(id string) bool {
	if len(id) != 16 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("metering: sync log directory: %w", err)
	}
	return nil
}

// recover checks the segments, truncates a torn tail of the last one,
// replays every record and opens the active segment.
func (w *wal) recover(segs []segment, replay func(uint64, []byte) error) error {
	expect := uint64(0) // the LSN the next record must have; 0 = unknown yet
	next := uint64(1)
	var kept []segment
	var total int64
	for i := range segs {
		s := &segs[i]
		isLast := i == len(segs)-1
		next = max(next, s.first)
		data, err := os.ReadFile(s.path)
		if err != nil {
			return fmt.Errorf("metering: read %s: %w", s.path, err)
		}
		if len(data) < segHeaderLen || string(data[:8]) != walMagic || binary.BigEndian.Uint64(data[8:16]) != s.first {
			if isLast && len(data) <= segHeaderLen {
				// Created by a crash-interrupted rotation: no record was
				// ever acknowledged from it. Its name is already counted
				// in next.
				if err := os.Remove(s.path); err != nil {
					return fmt.Errorf("metering: remove torn segment: %w", err)
				}
				continue
			}
			return fmt.Errorf("%w: %s: bad segment header", ErrWALCorrupt, s.path)
		}
		if expect != 0 && s.first != expect {
			return fmt.Errorf("%w: %s starts at LSN %d, expected %d (a segment is missing)", ErrWALCorrupt, s.path, s.first, expect)
		}
		end, last, perr := scanRecords(data, s.first, 0, replay)
		if perr != nil {
			var torn *tornError
			if !errors.As(perr, &torn) {
				return fmt.Errorf("%s: %w", s.path, perr)
			}
			if !isLast || validRecordAfter(data, end, last) {
				return fmt.Errorf("%w: %s: unreadable record at offset %d (%v) followed by valid data", ErrWALCorrupt, s.path, end, torn.reason)
			}
			// A torn tail: the last batch was being written when the
			// process died, and no appender of it was told it succeeded.
			if err := truncateSync(s.path, int64(end)); err != nil {
				return err
			}
		}
		s.last, s.size = last, int64(end)
		expect = last + 1
		next = max(next, expect)
		total += s.size
		kept = append(kept, *s)
	}
	w.replayEnd = next - 1
	w.nextLSN = next
	w.durable.Store(next - 1)

	// The active segment: reuse the last one if it is empty and already
	// has the right name (so a crash here never loses the only file that
	// carries the LSN sequence), otherwise create one.
	if n := len(kept); n > 0 && kept[n-1].first == next && kept[n-1].size == segHeaderLen {
		w.active = kept[n-1]
		kept = kept[:n-1]
		f, err := os.OpenFile(w.active.path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return fmt.Errorf("metering: open segment: %w", err)
		}
		w.f = f
	} else {
		if err := w.createSegment(next); err != nil {
			return err
		}
		total += segHeaderLen
	}
	w.sealed = kept
	w.backlog.Store(total)
	w.cur = &batch{done: make(chan struct{}), first: next}
	return nil
}

type tornError struct{ reason string }

func (e *tornError) Error() string { return "torn record: " + e.reason }

// scanRecords walks the records of one segment, checking checksums and LSN
// continuity, and calls fn for records with LSN > from (fn may be nil). It
// returns the offset after the last good record and that record's LSN
// (first-1 if none). A record that is cut short or fails its checksum
// returns a *tornError; a valid record with a wrong LSN is corruption.
func scanRecords(data []byte, first, from uint64, fn func(uint64, []byte) error) (end int, last uint64, err error) {
	off, want := segHeaderLen, first
	for off < len(data) {
		lsn, payload, n, rerr := readRecord(data[off:])
		if rerr != nil {
			return off, want - 1, rerr
		}
		if lsn != want {
			return off, want - 1, fmt.Errorf("%w: record at offset %d has LSN %d, expected %d", ErrWALCorrupt, off, lsn, want)
		}
		if fn != nil && lsn > from {
			if err := fn(lsn, payload); err != nil {
				return off, want - 1, err
			}
		}
		off += n
		want++
	}
	return off, want - 1, nil
}

func readRecord(b []byte) (lsn uint64, payload []byte, n int, err error) {
	if len(b) < recHeaderLen {
		return 0, nil, 0, &tornError{"short header"}
	}
	plen := binary.BigEndian.Uint32(b[0:4])
	if plen > maxRecordLen || int(plen) > len(b)-recHeaderLen {
		return 0, nil, 0, &tornError{fmt.Sprintf("length %d past the end", plen)}
	}
	n = recHeaderLen + int(plen)
	sum := crc32.Update(crc32.Checksum(b[0:4], castagnoli), castagnoli, b[8:n])
	if sum != binary.BigEndian.Uint32(b[4:8]) {
		return 0, nil, 0, &tornError{"checksum mismatch"}
	}
	return binary.BigEndian.Uint64(b[8:16]), b[recHeaderLen:n:n], n, nil
}

// validRecordAfter reports whether any valid record with an LSN after last
// starts after offset off: if so, the bad record is not a torn tail but
// damage in the middle of the log.
func validRecordAfter(data []byte, off int, last uint64) bool {
	for p := off + 1; p+recHeaderLen <= len(data); p++ {
		// Cheap plausibility first: random bytes rarely make a nearby LSN.
		lsn := binary.BigEndian.Uint64(data[p+8 : p+16])
		if lsn <= last || lsn > last+uint64(len(data)-off)/recHeaderLen+1 {
			continue
		}
		if got, _, _, err := readRecord(data[p:]); err == nil && got == lsn {
			return true
		}
	}
	return false
}

func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("metering: repair torn segment: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("metering: repair torn segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("metering: repair torn segment: %w", err)
	}
	return nil
}

// createSegment makes first the active segment: file, header, fsync of the
// file and the directory, so the file exists with its name before any
// record in it is acknowledged.
func (w *wal) createSegment(first uint64) error {
	p := segmentPath(w.dir, first)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("metering: create segment: %w", err)
	}
	var hdr [segHeaderLen]byte
	copy(hdr[:8], walMagic)
	binary.BigEndian.PutUint64(hdr[8:], first)
	if _, err := f.Write(hdr[:]); err != nil {
		f.Close()
		return fmt.Errorf("metering: create segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("metering: create segment: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return err
	}
	w.f = f
	w.mu.Lock()
	w.active = segment{first: first, last: first - 1, size: segHeaderLen, path: p}
	w.mu.Unlock()
	return nil
}

// enqueue adds a record to the current batch and returns its LSN and the
// batch to wait on. The caller may hold its own lock around it to keep
// its own bookkeeping in LSN order.
func (w *wal) enqueue(payload []byte) (uint64, *batch, error) {
	if len(payload) > maxRecordLen {
		return 0, nil, fmt.Errorf("metering: record of %d bytes over the %d limit", len(payload), maxRecordLen)
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return 0, nil, ErrClosed
	}
	if w.failed != nil {
		err := w.failed
		w.mu.Unlock()
		return 0, nil, err
	}
	lsn := w.nextLSN
	w.nextLSN++
	off := len(w.buf)
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(len(payload)))
	w.buf = append(w.buf, 0, 0, 0, 0)
	w.buf = binary.BigEndian.AppendUint64(w.buf, lsn)
	w.buf = append(w.buf, payload...)
	rec := w.buf[off:]
	binary.BigEndian.PutUint32(rec[4:8], crc32.Update(crc32.Checksum(rec[0:4], castagnoli), castagnoli, rec[8:]))
	b := w.cur
	b.last = lsn
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return lsn, b, nil
}

// wait blocks until b is durable (nil), failed (the write error), or ctx
// is done.
func (w *wal) wait(ctx context.Context, b *batch) error {
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// append writes one record and waits until it is durable.
func (w *wal) append(ctx context.Context, payload []byte) (uint64, error) {
	lsn, b, err := w.enqueue(payload)
	if err != nil {
		return 0, err
	}
	return lsn, w.wait(ctx, b)
}

// run is the syncer: it writes and fsyncs batches one after the other.
func (w *wal) run() {
	defer close(w.done)
	var lastStart time.Time
	for range w.kick {
		if gap := w.opts.syncInterval; gap > 0 {
			// Let a busy writer batch more per fsync; an idle one is
			// synced at once.
			if d := gap - time.Since(lastStart); d > 0 {
				time.Sleep(d)
			}
		}
		w.mu.Lock()
		data, b, closing, failed := w.buf, w.cur, w.closed, w.failed
		if len(data) > 0 {
			w.buf = w.spare[:0]
			w.cur = &batch{done: make(chan struct{}), first: b.last + 1}
		}
		w.mu.Unlock()
		if len(data) > 0 {
			lastStart = time.Now()
			if failed == nil {
				failed = w.writeBatch(data, b)
			}
			b.err = failed
			close(b.done)
			w.mu.Lock()
			w.spare = data[:0]
			w.mu.Unlock()
		}
		if closing {
			w.mu.Lock()
			empty := len(w.buf) == 0
			w.mu.Unlock()
			if empty {
				return
			}
			w.kickSelf()
		}
	}
}

func (w *wal) kickSelf() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// writeBatch writes and syncs one batch, then rotates the segment if it
// is full. Any error is sticky: after a failed fsync the kernel may have
// dropped the dirty pages, so what is on disk is unknown, and the only
// safe state is "nothing more is acknowledged" until a restart re-reads
// the log.
func (w *wal) writeBatch(data []byte, b *batch) error {
	start := time.Now()
	_, err := w.f.Write(data)
	if err == nil {
		err = w.f.Sync()
	}
	if w.opts.onSync != nil {
		w.opts.onSync(time.Since(start), int(b.last-b.first+1), err)
	}
	if err != nil {
		err = fmt.Errorf("metering: write-ahead log write failed, no usage can be recorded until restart: %w", err)
		w.mu.Lock()
		w.failed = err
		w.mu.Unlock()
		return err
	}
	w.mu.Lock()
	w.active.last = b.last
	w.active.size += int64(len(data))
	full := w.active.size >= w.opts.segmentBytes
	w.mu.Unlock()
	w.backlog.Add(int64(len(data)))
	w.durable.Store(b.last)
	if w.opts.onDurable != nil {
		w.opts.onDurable(b.last)
	}
	if full {
		old, oldf := w.active, w.f
		if err := w.createSegment(b.last + 1); err != nil {
			err = fmt.Errorf("metering: rotate write-ahead log: %w", err)
			w.mu.Lock()
			w.failed = err
			w.mu.Unlock()
			// This batch is durable; only later appends fail.
			return nil
		}
		oldf.Close()
		w.mu.Lock()
		w.sealed = append(w.sealed, old)
		w.mu.Unlock()
		w.backlog.Add(segHeaderLen)
	}
	return nil
}

// release deletes the sealed segments whose records all have LSN <= upTo,
// oldest first, so the segments left on disk stay contiguous.
func (w *wal) release(upTo uint64) error {
	w.mu.Lock()
	n := 0
	for n < len(w.sealed) && w.sealed[n].last <= upTo {
		n++
	}
	drop := slices.Clone(w.sealed[:n])
	w.sealed = slices.Delete(w.sealed, 0, n)
	w.mu.Unlock()
	var errs []error
	for _, s := range drop {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		w.backlog.Add(-s.size)
	}
	// A lost deletion is harmless (the records are replayed and found
	// already flushed), so the directory is not synced here.
	return errors.Join(errs...)
}

// scan calls fn for every record with from < LSN <= to in sealed segments.
// Sealed segments never change, so this is safe while appends go on.
func (w *wal) scan(from, to uint64, fn func(lsn uint64, payload []byte) error) error {
	w.mu.Lock()
	segs := slices.Clone(w.sealed)
	w.mu.Unlock()
	for _, s := range segs {
		if s.last <= from || s.first > to {
			continue
		}
		data, err := os.ReadFile(s.path)
		if err != nil {
			return fmt.Errorf("metering: read %s: %w", s.path, err)
		}
		if _, _, err := scanRecords(data[:min(int64(len(data)), s.size)], s.first, from, func(lsn uint64, p []byte) error {
			if lsn > to {
				return errStopScan
			}
			return fn(lsn, p)
		}); err != nil && !errors.Is(err, errStopScan) {
			return fmt.Errorf("%s: %w", s.path, err)
		}
	}
	return nil
}

var errStopScan = errors.New("stop")

func (w *wal) backlogBytes() int64 { return w.backlog.Load() }

func (w *wal) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// closeWriter writes and syncs what is buffered, stops the syncer and
// closes the active segment. The directory stays locked until unlock.
func (w *wal) closeWriter() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.done
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	w.kickSelf()
	<-w.done
	err := w.f.Close()
	if f := w.failure(); f != nil {
		return f
	}
	return err
}

func (w *wal) unlock() error {
	err := unlockFile(w.lockFile)
	return errors.Join(err, w.lockFile.Close())
}

// segmentFiles lists the segment files on disk (for tests and Stats).
func (w *wal) segmentFiles() []string {
	m, _ := filepath.Glob(filepath.Join(w.dir, "*"+segmentSuffix))
	slices.Sort(m)
	return m
}

// closedForGood reports whether closeWriter has run.
func (w *wal) closedForGood() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}
