package metering

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Event is one metered Bedrock call, recorded when the upstream response
// is complete.
type Event struct {
	RequestID  string
	CustomerID string
	KeyID      string
	Model      string
	// Operation is the Bedrock operation: "Converse", "ConverseStream",
	// "InvokeModel", "InvokeModelWithResponseStream".
	Operation string
	// ServedRegion is the Bedrock region that served the call; failover
	// may make it differ from the writer's region. Empty means the
	// writer's region.
	ServedRegion string
	// Time is when the response completed; it decides the hour the usage
	// counts in. Zero means now (Config.Now).
	Time  time.Time
	Usage Usage
	// Status is the HTTP status sent to the client.
	Status int
	// ErrorType is the error type name ("ThrottlingException", …), empty
	// on success. A call counts as an error when ErrorType is set or
	// Status is 400 or more.
	ErrorType string
	// Latency is the gateway-measured duration of the call.
	Latency time.Duration
}

// eventVersion is the first byte of every encoded event. A record with a
// newer version was written by a newer release (a rollback with a backlog):
// it is refused, loudly, rather than misread.
const eventVersion = 1

// appendEvent encodes ev for the log: a version byte, the strings as
// uvarint length + bytes, the numbers as varints. It is compact (about 100
// bytes for a typical event) and allocation-free.
func appendEvent(b []byte, ev *Event) []byte {
	b = append(b, eventVersion)
	for _, s := range [...]string{ev.RequestID, ev.CustomerID, ev.KeyID, ev.Model, ev.Operation, ev.ServedRegion, ev.ErrorType} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, n := range [...]int64{
		ev.Time.UnixNano(), ev.Usage.InputTokens, ev.Usage.OutputTokens, ev.Usage.CacheReadTokens,
		ev.Usage.CacheWriteTokens, ev.Usage.LatencyMs, int64(ev.Status), int64(ev.Latency),
	} {
		b = binary.AppendVarint(b, n)
	}
	return b
}

var errBadEvent = errors.New("malformed event record")

// decodeEvent is the inverse of appendEvent.
func decodeEvent(b []byte, ev *Event) error {
	if len(b) == 0 {
		return errBadEvent
	}
	if b[0] != eventVersion {
		return fmt.Errorf("event record version %d, this release reads %d", b[0], eventVersion)
	}
	b = b[1:]
	for _, dst := range [...]*string{&ev.RequestID, &ev.CustomerID, &ev.KeyID, &ev.Model, &ev.Operation, &ev.ServedRegion, &ev.ErrorType} {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return errBadEvent
		}
		*dst = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	var nums [8]int64
	for i := range nums {
		n, k := binary.Varint(b)
		if k <= 0 {
			return errBadEvent
		}
		nums[i] = n
		b = b[k:]
	}
	if len(b) != 0 {
		return errBadEvent
	}
	ev.Time = time.Unix(0, nums[0]).UTC()
	ev.Usage = Usage{InputTokens: nums[1], OutputTokens: nums[2], CacheReadTokens: nums[3], CacheWriteTokens: nums[4], LatencyMs: nums[5]}
	ev.Status = int(nums[6])
	ev.Latency = time.Duration(nums[7])
	return nil
}
