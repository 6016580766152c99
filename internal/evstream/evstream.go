// Package evstream reads application/vnd.amazon.eventstream messages the way
// a proxy needs them: one whole frame at a time, checked (lengths and both
// CRCs) but kept as the raw bytes that arrived, so they can be forwarded
// unchanged, and parsed in place (no copies) when a header or the payload
// must be looked at.
//
// The wire format (all integers big-endian, CRC-32/IEEE):
//
//	[0:4]   total length = 16 + headers length + payload length
//	[4:8]   headers length
//	[8:12]  prelude CRC  = crc32(bytes[0:8])
//	[12:12+H] headers: name_len u8, name, type u8, value
//	[...]   payload
//	[-4:]   message CRC  = crc32(bytes[0:total-4])
//
// github.com/aws/smithy-go/eventstream is the full codec the AWS SDKs use;
// it decodes every header into a map-like slice of interface values, which
// costs allocations per frame. This package allocates nothing per frame once
// the caller's buffer is large enough.
package evstream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Frame layout constants.
const (
	// PreludeLen is the fixed part before the headers: total length,
	// headers length and prelude CRC.
	PreludeLen = 12
	// MinFrameLen is a frame without headers or payload.
	MinFrameLen = PreludeLen + 4

	// MaxPayloadLen and MaxHeadersLen are the protocol limits; smithy-go
	// refuses larger messages, and so does ReadFrame, before allocating.
	MaxPayloadLen = 16 << 20
	MaxHeadersLen = 128 << 10
	// MaxFrameLen is the largest frame ReadFrame accepts.
	MaxFrameLen = MinFrameLen + MaxHeadersLen + MaxPayloadLen
)

// Header value types.
const (
	TypeTrue      byte = 0
	TypeFalse     byte = 1
	TypeInt8      byte = 2
	TypeInt16     byte = 3
	TypeInt32     byte = 4
	TypeInt64     byte = 5
	TypeBytes     byte = 6
	TypeString    byte = 7
	TypeTimestamp byte = 8
	TypeUUID      byte = 9
)

// Well-known header names and values used by Bedrock streams.
const (
	HeaderMessageType   = ":message-type"
	HeaderEventType     = ":event-type"
	HeaderExceptionType = ":exception-type"
	HeaderContentType   = ":content-type"
	HeaderErrorCode     = ":error-code"
	HeaderErrorMessage  = ":error-message"

	MessageTypeEvent     = "event"
	MessageTypeException = "exception"
	MessageTypeError     = "error"
)

// LengthError reports a frame whose declared lengths are impossible or over
// the protocol limits. Nothing past the prelude has been read when
// ReadFrame returns it: the stream cannot be resynchronised and must be
// abandoned.
type LengthError struct {
	Part  string // "total", "headers" or "header value"
	Value uint32
	Limit uint32
}

func (e *LengthError) Error() string {
	return fmt.Sprintf("eventstream: bad %s length %d (limit %d)", e.Part, e.Value, e.Limit)
}

// ChecksumError reports a CRC mismatch in the prelude or the whole message.
type ChecksumError struct {
	Part      string // "prelude" or "message"
	Want, Got uint32
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("eventstream: %s checksum mismatch: frame says %08x, computed %08x", e.Part, e.Want, e.Got)
}

// ErrMalformedHeaders is returned by Parse for a header block that does not
// decode (truncated value, unknown type, empty name).
var ErrMalformedHeaders = errors.New("eventstream: malformed headers")

var crcTable = crc32.MakeTable(crc32.IEEE)

// ReadFrame reads one complete message from r into buf (grown when too
// small) and returns it, exactly as it arrived. The returned slice aliases
// buf's array: pass it back as buf for the next frame to reuse memory.
//
// It returns io.EOF when r ends cleanly before the first byte of a frame,
// io.ErrUnexpectedEOF when r ends inside one, *LengthError for impossible
// lengths (checked before anything is allocated) and *ChecksumError for a
// bad prelude or message CRC. Wrap r in a bufio.Reader when it is a raw
// network connection: ReadFrame makes two reads per frame.
func ReadFrame(r io.Reader, buf []byte) ([]byte, error) {
	if cap(buf) < PreludeLen {
		buf = make([]byte, 0, 4096)
	}
	buf = buf[:PreludeLen]
	if n, err := io.ReadFull(r, buf); err != nil {
		if err == io.ErrUnexpectedEOF || (err == io.EOF && n > 0) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	total, err := checkPrelude(buf)
	if err != nil {
		return nil, err
	}
	if cap(buf) < int(total) {
		nb := make([]byte, total)
		copy(nb, buf[:PreludeLen])
		buf = nb
	}
	buf = buf[:total]
	if _, err := io.ReadFull(r, buf[PreludeLen:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if err := checkMessageCRC(buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// checkPrelude validates the 12 prelude bytes and returns the total length.
func checkPrelude(p []byte) (uint32, error) {
	total := binary.BigEndian.Uint32(p[0:4])
	hlen := binary.BigEndian.Uint32(p[4:8])
	// The CRC is checked first: with a corrupt prelude the lengths are
	// noise, and a checksum error says so more precisely.
	if want, got := binary.BigEndian.Uint32(p[8:12]), crc32.Checksum(p[0:8], crcTable); want != got {
		return 0, &ChecksumError{Part: "prelude", Want: want, Got: got}
	}
	if total < MinFrameLen || total > MaxFrameLen {
		return 0, &LengthError{Part: "total", Value: total, Limit: MaxFrameLen}
	}
	if hlen > MaxHeadersLen || hlen > total-MinFrameLen {
		return 0, &LengthError{Part: "headers", Value: hlen, Limit: min(MaxHeadersLen, total-MinFrameLen)}
	}
	if total-MinFrameLen-hlen > MaxPayloadLen {
		return 0, &LengthError{Part: "payload", Value: total - MinFrameLen - hlen, Limit: MaxPayloadLen}
	}
	return total, nil
}

func checkMessageCRC(frame []byte) error {
	n := len(frame) - 4
	want := binary.BigEndian.Uint32(frame[n:])
	if got := crc32.Checksum(frame[:n], crcTable); want != got {
		return &ChecksumError{Part: "message", Want: want, Got: got}
	}
	return nil
}

// Verify checks a frame's lengths and both CRCs without reading it from a
// stream, e.g. for a frame that was buffered elsewhere.
func Verify(frame []byte) error {
	if len(frame) < MinFrameLen {
		return &LengthError{Part: "total", Value: uint32(len(frame)), Limit: MaxFrameLen}
	}
	total, err := checkPrelude(frame[:PreludeLen])
	if err != nil {
		return err
	}
	if int(total) != len(frame) {
		return &LengthError{Part: "total", Value: total, Limit: uint32(min(len(frame), MaxFrameLen))}
	}
	return checkMessageCRC(frame)
}

// Message is a parsed view of a frame. It aliases the frame's bytes: it is
// valid as long as the frame is not overwritten (for example by the next
// ReadFrame into the same buffer).
type Message struct {
	// Headers is the raw, already validated header block.
	Headers []byte
	// Payload is the message payload.
	Payload []byte
}

// Parse splits a frame into its headers and payload and validates the
// header block, so that lookups on the result cannot fail. It does not
// check CRCs (ReadFrame and Verify do) and does not copy.
func Parse(frame []byte) (Message, error) {
	if len(frame) < MinFrameLen {
		return Message{}, &LengthError{Part: "total", Value: uint32(len(frame)), Limit: MaxFrameLen}
	}
	total := binary.BigEndian.Uint32(frame[0:4])
	hlen := binary.BigEndian.Uint32(frame[4:8])
	if int64(total) != int64(len(frame)) {
		return Message{}, &LengthError{Part: "total", Value: total, Limit: uint32(min(len(frame), MaxFrameLen))}
	}
	if hlen > total-MinFrameLen {
		return Message{}, &LengthError{Part: "headers", Value: hlen, Limit: total - MinFrameLen}
	}
	m := Message{
		Headers: frame[PreludeLen : PreludeLen+hlen : PreludeLen+hlen],
		Payload: frame[PreludeLen+hlen : total-4 : total-4],
	}
	for h := m.Headers; len(h) > 0; {
		var err error
		if _, _, _, h, err = nextHeader(h); err != nil {
			return Message{}, err
		}
	}
	return m, nil
}

// nextHeader decodes the first header of h: its name, type, value (for
// strings and byte arrays, without the length prefix) and the rest of h.
func nextHeader(h []byte) (name []byte, typ byte, value, rest []byte, err error) {
	nlen := int(h[0])
	if nlen == 0 || len(h) < 1+nlen+1 {
		return nil, 0, nil, nil, ErrMalformedHeaders
	}
	name = h[1 : 1+nlen]
	typ = h[1+nlen]
	h = h[2+nlen:]
	var vlen int
	switch typ {
	case TypeTrue, TypeFalse:
		vlen = 0
	case TypeInt8:
		vlen = 1
	case TypeInt16:
		vlen = 2
	case TypeInt32:
		vlen = 4
	case TypeInt64, TypeTimestamp:
		vlen = 8
	case TypeUUID:
		vlen = 16
	case TypeBytes, TypeString:
		if len(h) < 2 {
			return nil, 0, nil, nil, ErrMalformedHeaders
		}
		vlen = int(binary.BigEndian.Uint16(h))
		h = h[2:]
	default:
		return nil, 0, nil, nil, ErrMalformedHeaders
	}
	if len(h) < vlen {
		return nil, 0, nil, nil, ErrMalformedHeaders
	}
	return name, typ, h[:vlen:vlen], h[vlen:], nil
}

// Header returns the raw value of the first header called name, with its
// type. For string and byte-array headers the value excludes the length
// prefix. The value aliases the frame.
func (m Message) Header(name string) (typ byte, value []byte, ok bool) {
	for h := m.Headers; len(h) > 0; {
		n, t, v, rest, err := nextHeader(h)
		if err != nil {
			// Parse validated the block; a hand-built Message may not be.
			return 0, nil, false
		}
		if string(n) == name {
			return t, v, true
		}
		h = rest
	}
	return 0, nil, false
}

// StringHeader returns the value of a string header as bytes aliasing the
// frame (no allocation). ok is false when the header is absent or not a
// string.
func (m Message) StringHeader(name string) (value []byte, ok bool) {
	t, v, ok := m.Header(name)
	if !ok || t != TypeString {
		return nil, false
	}
	return v, true
}

// HeaderIs reports whether the string header name equals value, without
// allocating.
func (m Message) HeaderIs(name, value string) bool {
	v, ok := m.StringHeader(name)
	return ok && string(v) == value
}

// MessageType returns the :message-type header ("event", "exception",
// "error"), or "" when absent.
func (m Message) MessageType() string { return m.stringOrEmpty(HeaderMessageType) }

// EventType returns the :event-type header, or "".
func (m Message) EventType() string { return m.stringOrEmpty(HeaderEventType) }

// ExceptionType returns the :exception-type header, or "".
func (m Message) ExceptionType() string { return m.stringOrEmpty(HeaderExceptionType) }

func (m Message) stringOrEmpty(name string) string {
	v, _ := m.StringHeader(name)
	// Bedrock's header values are a handful of short names; interning the
	// common ones avoids an allocation per frame on the streaming path.
	for _, s := range commonValues {
		if string(v) == s {
			return s
		}
	}
	return string(v)
}

var commonValues = [...]string{
	"", MessageTypeEvent, MessageTypeException, MessageTypeError,
	"chunk", "metadata", "messageStart", "contentBlockStart", "contentBlockDelta",
	"contentBlockStop", "messageStop",
}

// AppendFrame encodes a message with string headers (name, value pairs) and
// payload, appending it to dst. It is meant for tests and for simulators
// that emit Bedrock-shaped streams; it panics on odd pair counts or values
// over the protocol limits, which are programming errors.
func AppendFrame(dst []byte, payload []byte, headers ...string) []byte {
	if len(headers)%2 != 0 {
		panic("evstream.AppendFrame: headers must be name, value pairs")
	}
	hlen := 0
	for i := 0; i < len(headers); i += 2 {
		if len(headers[i]) == 0 || len(headers[i]) > 255 || len(headers[i+1]) > 1<<15-1 {
			panic("evstream.AppendFrame: header name or value too long")
		}
		hlen += 1 + len(headers[i]) + 1 + 2 + len(headers[i+1])
	}
	if hlen > MaxHeadersLen || len(payload) > MaxPayloadLen {
		panic("evstream.AppendFrame: message over protocol limits")
	}
	total := MinFrameLen + hlen + len(payload)
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(total))
	dst = binary.BigEndian.AppendUint32(dst, uint32(hlen))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:start+8], crcTable))
	for i := 0; i < len(headers); i += 2 {
		dst = append(dst, byte(len(headers[i])))
		dst = append(dst, headers[i]...)
		dst = append(dst, TypeString)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(headers[i+1])))
		dst = append(dst, headers[i+1]...)
	}
	dst = append(dst, payload...)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], crcTable))
}
