// Package metering records every Bedrock call's usage exactly once
// (DESIGN.md invariant 1), with Bedrock's own token counts (invariant 3),
// and flushes it to DynamoDB as writer-owned components (invariant 2),
// while DynamoDB may be unreachable (invariant 4).
//
// # Extraction
//
// FromConverseBody, FromInvokeHeaders, FromConverseStreamFrame and
// FromInvokeStreamFrame read the exact counts from a Bedrock response. The
// stream functions take raw frames from internal/evstream.ReadFrame and
// reject frames without usage after a header lookup (and, for
// InvokeModelWithResponseStream chunks, a look at the base64 text), without
// allocating. The proxy calls the stream ones on every frame it forwards.
//
// # Recording
//
// The path of one event:
//
//  1. Record appends it to a local write-ahead log and returns once the
//     record is on disk (fsync, shared by every request of a batch: group
//     commit).
//  2. The durable record is added to in-memory cumulative totals, one per
//     component: (customer, UTC hour, served region, model) of this writer.
//  3. Every FlushInterval, each component changed since the last flush is
//     written to DynamoDB with its cumulative totals and the highest log
//     sequence number (LSN) it includes, conditional on the stored sequence
//     being lower. Re-sending is harmless; an older write never wins.
//  4. Log segments are deleted once every record in them is in DynamoDB.
//
// After a crash, Open replays the log and, for each component it touches,
// reads the stored component: records with an LSN at or below its sequence
// are already counted, later ones are added. The result is exact whatever
// the moment of the crash, including a torn record at the log's tail (it
// is dropped: no caller was told it was recorded).
//
// # Using it from the proxy
//
//	m, err := metering.Open(ctx, cfg)   // at start; fails on a locked or corrupt log
//	...
//	// per request, when the upstream response is complete and BEFORE its
//	// last bytes (the last frame, or the body) are forwarded:
//	err := m.Record(context.WithoutCancel(r.Context()), ev)
//	// err != nil: do not deliver the response as a success; answer 503
//	// (ErrBacklogFull, a log failure) or 500 (ErrInvalidEvent).
//	...
//	m.Close(ctx)                        // on SIGTERM, after the server drained
//
// Record returns only once the event is durable, so "recorded" means "will
// be in DynamoDB exactly once". Its latency is about one fsync (plus up to
// SyncInterval when busy); its CPU cost is a few microseconds (BenchmarkRecord).
//
// # Failures
//
//   - DynamoDB unreachable or slow: each flush is bounded by FlushTimeout,
//     fails, is logged (at most every 10 s) and counted; Record goes on;
//     the backlog grows on disk (tollgate_metering_backlog_bytes,
//     tollgate_metering_oldest_unflushed_seconds) and is flushed when
//     DynamoDB answers again. Open also succeeds during an outage.
//   - Backlog at MaxBacklogBytes: Record refuses new events with
//     ErrBacklogFull (logged, tollgate_metering_rejected_total). The proxy
//     should turn that into a 503 for new requests: serving them would mean
//     serving unmetered usage. The limit guards the disk; pick it so the
//     expected outage fits (about 150 bytes per request).
//   - A log write or fsync fails (disk full, I/O error): the meter refuses
//     every later event (tollgate_metering_wal_failed = 1) until the process
//     restarts and re-reads the log; after a failed fsync the kernel may
//     have dropped the data, so nothing more can be promised. Health checks
//     should report Stats().WALFailed.
//   - A corrupt log (a bad record before the tail, a missing segment, a
//     lost writer-id): Open fails with ErrWALCorrupt, naming the file and
//     offset. Nothing is guessed.
package metering
