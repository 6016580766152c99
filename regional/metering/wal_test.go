package metering

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

type walRec struct {
	lsn  uint64
	data string
}

func openTestWAL(t *testing.T, dir string, segBytes int64) (*wal, []walRec) {
	t.Helper()
	w, recs, err := tryOpenWAL(dir, walOptions{segmentBytes: segBytes})
	if err != nil {
		t.Fatal(err)
	}
	return w, recs
}

func tryOpenWAL(dir string, opts walOptions) (*wal, []walRec, error) {
	var recs []walRec
	w, err := openWAL(dir, opts, func(lsn uint64, p []byte) error {
		recs = append(recs, walRec{lsn, string(p)})
		return nil
	})
	return w, recs, err
}

func closeWAL(t *testing.T, w *wal) {
	t.Helper()
	if err := w.closeWriter(); err != nil {
		t.Fatal(err)
	}
	if err := w.unlock(); err != nil {
		t.Fatal(err)
	}
}

func appendN(t *testing.T, w *wal, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := w.append(context.Background(), []byte(fmt.Sprintf("record-%04d", i))); err != nil {
			t.Fatal(err)
		}
	}
}

func checkRecs(t *testing.T, recs []walRec, firstLSN uint64, firstIdx, n int) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("replayed %d records, want %d", len(recs), n)
	}
	for i, r := range recs {
		if r.lsn != firstLSN+uint64(i) || r.data != fmt.Sprintf("record-%04d", firstIdx+i) {
			t.Fatalf("record %d: %d %q", i, r.lsn, r.data)
		}
	}
}

func TestWALAppendReplay(t *testing.T) {
	dir := t.TempDir()
	w, recs := openTestWAL(t, dir, 1<<20)
	if len(recs) != 0 || w.replayEnd != 0 {
		t.Fatalf("fresh log replayed %d records, end %d", len(recs), w.replayEnd)
	}
	id := w.writerID
	if !validWriterID(id) {
		t.Fatalf("writer id %q", id)
	}
	appendN(t, w, 0, 50)
	closeWAL(t, w)

	w, recs = openTestWAL(t, dir, 1<<20)
	checkRecs(t, recs, 1, 0, 50)
	if w.writerID != id {
		t.Fatalf("writer id changed: %s -> %s", id, w.writerID)
	}
	lsn, err := w.append(context.Background(), []byte("record-0050"))
	if err != nil || lsn != 51 {
		t.Fatalf("append after reopen: LSN %d, %v", lsn, err)
	}
	closeWAL(t, w)
	_, recs = openTestWAL(t, dir, 1<<20)
	checkRecs(t, recs, 1, 0, 51)
}

func TestWALLocked(t *testing.T) {
	dir := t.TempDir()
	w, _ := openTestWAL(t, dir, 1<<20)
	if _, _, err := tryOpenWAL(dir, walOptions{segmentBytes: 1 << 20}); !errors.Is(err, ErrWALLocked) {
		t.Fatalf("second open: %v", err)
	}
	closeWAL(t, w)
	w, _ = openTestWAL(t, dir, 1<<20)
	closeWAL(t, w)
}

func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(m) == 0 {
		t.Fatal("no segments")
	}
	// The newest one is the empty active segment of the closed writer;
	// the records are in the one before it.
	for i := len(m) - 1; i >= 0; i-- {
		if st, _ := os.Stat(m[i]); st.Size() > segHeaderLen {
			return m[i]
		}
	}
	t.Fatal("no segment with records")
	return ""
}

// removeEmptyTail deletes trailing header-only segments, so the segment
// with records is the last one, as it is after a crash mid-write.
func removeEmptyTail(t *testing.T, dir string) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	for i := len(m) - 1; i > 0; i-- {
		st, _ := os.Stat(m[i])
		if st.Size() > segHeaderLen {
			return
		}
		os.Remove(m[i])
	}
}

func TestWALTornTail(t *testing.T) {
	recLen := recHeaderLen + len("record-0000")
	tests := []struct {
		name string
		tear func(path string) error
		kept int
	}{
		{"cut mid-record", func(p string) error {
			st, _ := os.Stat(p)
			return os.Truncate(p, st.Size()-5)
		}, 9},
		{"cut mid-header", func(p string) error {
			st, _ := os.Stat(p)
			return os.Truncate(p, st.Size()-int64(recLen)+7)
		}, 9},
		{"garbage appended", func(p string) error { return appendFile(p, []byte("\x00\x00\x00\x05garbage-not-a-record")) }, 10},
		{"zeros appended", func(p string) error { return appendFile(p, make([]byte, 4096)) }, 10},
		{"last record checksum", func(p string) error { return flipByte(p, -1) }, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w, _ := openTestWAL(t, dir, 1<<20)
			appendN(t, w, 0, 10)
			closeWAL(t, w)
			removeEmptyTail(t, dir)
			seg := lastSegment(t, dir)
			if err := tt.tear(seg); err != nil {
				t.Fatal(err)
			}
			w, recs := openTestWAL(t, dir, 1<<20)
			checkRecs(t, recs, 1, 0, tt.kept)
			if st, _ := os.Stat(seg); st.Size() != int64(segHeaderLen+tt.kept*recLen) {
				t.Fatalf("segment not truncated to the last good record: %d bytes", st.Size())
			}
			// The LSN after a dropped record is reused: it was never
			// acknowledged, so nothing anywhere refers to it.
			lsn, err := w.append(context.Background(), []byte("record-next"))
			if err != nil || lsn != uint64(tt.kept)+1 {
				t.Fatalf("append: %d %v", lsn, err)
			}
			closeWAL(t, w)
			_, recs = openTestWAL(t, dir, 1<<20)
			if len(recs) != tt.kept+1 {
				t.Fatalf("after repair and append: %d records", len(recs))
			}
		})
	}
}

func TestWALCorruptMiddle(t *testing.T) {
	t.Run("last segment", func(t *testing.T) {
		dir := t.TempDir()
		w, _ := openTestWAL(t, dir, 1<<20)
		appendN(t, w, 0, 10)
		closeWAL(t, w)
		removeEmptyTail(t, dir)
		// A flipped byte in record 3 of 10: valid records follow it.
		if err := flipByte(lastSegment(t, dir), segHeaderLen+3*(recHeaderLen+11)+recHeaderLen+2); err != nil {
			t.Fatal(err)
		}
		if _, _, err := tryOpenWAL(dir, walOptions{segmentBytes: 1 << 20}); !errors.Is(err, ErrWALCorrupt) {
			t.Fatalf("open: %v", err)
		}
	})
	t.Run("sealed segment", func(t *testing.T) {
		dir := t.TempDir()
		w, _ := openTestWAL(t, dir, 200)
		appendN(t, w, 0, 30)
		closeWAL(t, w)
		m, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
		if len(m) < 3 {
			t.Fatalf("%d segments", len(m))
		}
		st, _ := os.Stat(m[0])
		os.Truncate(m[0], st.Size()-3)
		if _, _, err := tryOpenWAL(dir, walOptions{segmentBytes: 200}); !errors.Is(err, ErrWALCorrupt) {
			t.Fatalf("open: %v", err)
		}
	})
	t.Run("missing segment", func(t *testing.T) {
		dir := t.TempDir()
		w, _ := openTestWAL(t, dir, 200)
		appendN(t, w, 0, 30)
		closeWAL(t, w)
		m, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
		os.Remove(m[1])
		if _, _, err := tryOpenWAL(dir, walOptions{segmentBytes: 200}); !errors.Is(err, ErrWALCorrupt) {
			t.Fatalf("open: %v", err)
		}
	})
	t.Run("writer id lost", func(t *testing.T) {
		dir := t.TempDir()
		w, _ := openTestWAL(t, dir, 1<<20)
		appendN(t, w, 0, 1)
		closeWAL(t, w)
		os.Remove(filepath.Join(dir, writerIDFile))
		if _, _, err := tryOpenWAL(dir, walOptions{segmentBytes: 1 << 20}); !errors.Is(err, ErrWALCorrupt) {
			t.Fatalf("open: %v", err)
		}
	})
}

func TestWALTornSegmentHeader(t *testing.T) {
	dir := t.TempDir()
	w, _ := openTestWAL(t, dir, 1<<20)
	appendN(t, w, 0, 5)
	closeWAL(t, w)
	// A crash while creating a segment leaves a file with a partial header.
	p := segmentPath(dir, 6)
	os.Remove(p)
	if err := os.WriteFile(p, []byte("TGW"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, recs := openTestWAL(t, dir, 1<<20)
	checkRecs(t, recs, 1, 0, 5)
	if lsn, err := w.append(context.Background(), []byte("x")); err != nil || lsn != 6 {
		t.Fatalf("append: %d %v", lsn, err)
	}
	closeWAL(t, w)
}

func TestWALRotationAndRelease(t *testing.T) {
	dir := t.TempDir()
	w, _ := openTestWAL(t, dir, 200) // about 7 records per segment
	appendN(t, w, 0, 40)
	files := w.segmentFiles()
	if len(files) < 5 {
		t.Fatalf("%d segments after 40 records", len(files))
	}
	before := w.backlogBytes()
	// Releasing up to LSN 10 deletes only segments whose every record is
	// at or below 10.
	if err := w.release(10); err != nil {
		t.Fatal(err)
	}
	var replayed []walRec
	if err := w.scan(0, 1<<62, func(lsn uint64, p []byte) error {
		replayed = append(replayed, walRec{lsn, string(p)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(replayed) == 0 || replayed[0].lsn > 11 || replayed[0].lsn < 2 {
		t.Fatalf("after release(10) the first kept record is %d", replayed[0].lsn)
	}
	if w.backlogBytes() >= before {
		t.Fatal("backlog did not shrink")
	}
	// Releasing everything keeps the active segment: the LSN sequence
	// must survive a restart.
	if err := w.release(1 << 62); err != nil {
		t.Fatal(err)
	}
	if n := len(w.segmentFiles()); n != 1 {
		t.Fatalf("%d segments left after releasing all", n)
	}
	closeWAL(t, w)
	w, recs := openTestWAL(t, dir, 200)
	if len(recs) != 40-int(recs[0].lsn)+1 || recs[len(recs)-1].lsn != 40 {
		t.Fatalf("replayed %d records ending at %d", len(recs), recs[len(recs)-1].lsn)
	}
	if lsn, err := w.append(context.Background(), []byte("x")); err != nil || lsn != 41 {
		t.Fatalf("append: %d %v", lsn, err)
	}
	closeWAL(t, w)
	// Even with every segment but the empty newest one released, the next
	// process continues the sequence.
	w, _ = openTestWAL(t, dir, 200)
	if err := w.release(1 << 62); err != nil {
		t.Fatal(err)
	}
	closeWAL(t, w)
	w, _ = openTestWAL(t, dir, 200)
	if lsn, err := w.append(context.Background(), []byte("x")); err != nil || lsn != 42 {
		t.Fatalf("append after full release: %d %v", lsn, err)
	}
	closeWAL(t, w)
}

// TestWALGroupCommit holds the first fsync until every append is queued:
// they must all be made durable by at most two fsyncs.
func TestWALGroupCommit(t *testing.T) {
	dir := t.TempDir()
	release := make(chan struct{})
	var syncs, synced int
	var once sync.Once
	var mu sync.Mutex
	w, _, err := tryOpenWAL(dir, walOptions{segmentBytes: 1 << 20, onSync: func(_ time.Duration, n int, err error) {
		mu.Lock()
		syncs++
		synced += n
		mu.Unlock()
		once.Do(func() { <-release })
	}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	lsns := make(chan uint64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lsn, err := w.append(context.Background(), []byte(fmt.Sprintf("record-%04d", i)))
			errs <- err
			lsns <- lsn
		}()
	}
	// Wait (without sleeping) until every goroutine has its LSN.
	for {
		w.mu.Lock()
		queued := w.nextLSN - 1
		w.mu.Unlock()
		if queued == n {
			break
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	close(errs)
	close(lsns)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[uint64]bool{}
	for l := range lsns {
		if l < 1 || l > n || seen[l] {
			t.Fatalf("LSN %d duplicated or out of range", l)
		}
		seen[l] = true
	}
	mu.Lock()
	if syncs > 2 || synced != n {
		t.Fatalf("%d fsyncs for %d records (%d reported)", syncs, n, synced)
	}
	mu.Unlock()
	closeWAL(t, w)
	_, recs := openTestWAL(t, dir, 1<<20)
	if len(recs) != n {
		t.Fatalf("replayed %d", len(recs))
	}
}

func TestWALConcurrentAppends(t *testing.T) {
	dir := t.TempDir()
	w, _, err := tryOpenWAL(dir, walOptions{segmentBytes: 4096, syncInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const workers, per = 16, 40
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if _, err := w.append(context.Background(), []byte(fmt.Sprintf("g%02d-%03d", g, i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	closeWAL(t, w)
	_, recs := openTestWAL(t, dir, 4096)
	if len(recs) != workers*per {
		t.Fatalf("replayed %d of %d", len(recs), workers*per)
	}
	seen := map[string]bool{}
	for i, r := range recs {
		if r.lsn != uint64(i+1) || seen[r.data] {
			t.Fatalf("record %d: LSN %d %q", i, r.lsn, r.data)
		}
		seen[r.data] = true
	}
}

func appendFile(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(b)
	return err
}

// flipByte flips one byte of a file; a negative offset counts from the
// end.
func flipByte(p string, off int) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if off < 0 {
		off += len(b)
	}
	b[off] ^= 0x55
	return os.WriteFile(p, b, 0o600)
}
