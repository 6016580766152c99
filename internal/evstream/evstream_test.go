package evstream_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/smithy-go/eventstream"

	"github.com/tollgate-dev/tollgate/internal/evstream"
)

// vector is the 115-byte chunk event from bedrock-wire.md A3, verified
// against the SDK.
const vector = "00000073" + "0000004b" + "3a5edd6e" +
	"0d3a6d6573736167652d747970650700056576656e74" +
	"0b3a6576656e742d747970650700056368756e6b" +
	"0d3a636f6e74656e742d74797065070010" + "6170706c69636174696f6e2f6a736f6e" +
	"7b226279746573223a2265794a68496a6f7866513d3d227d" +
	"70012291"

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func encode(t testing.TB, m eventstream.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestVector(t *testing.T) {
	raw := mustHex(t, vector)
	if len(raw) != 115 {
		t.Fatalf("vector is %d bytes", len(raw))
	}
	frame, err := evstream.ReadFrame(bytes.NewReader(raw), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(frame, raw) {
		t.Fatal("frame differs from input")
	}
	m, err := evstream.Parse(frame)
	if err != nil {
		t.Fatal(err)
	}
	if m.MessageType() != "event" || m.EventType() != "chunk" || string(m.Payload) != `{"bytes":"eyJhIjoxfQ=="}` {
		t.Fatalf("got %q %q %q", m.MessageType(), m.EventType(), m.Payload)
	}
	if ct, ok := m.StringHeader(":content-type"); !ok || string(ct) != "application/json" {
		t.Fatalf("content-type %q %v", ct, ok)
	}
	if m.ExceptionType() != "" {
		t.Fatal("unexpected exception type")
	}
	if got := evstream.AppendFrame(nil, m.Payload, ":message-type", "event", ":event-type", "chunk", ":content-type", "application/json"); !bytes.Equal(got, raw) {
		t.Fatalf("AppendFrame:\n%x\nwant\n%x", got, raw)
	}
}

// TestRoundTripSmithy reads frames written by the SDK's encoder, with every
// header type, and checks the SDK's decoder accepts what AppendFrame writes.
func TestRoundTripSmithy(t *testing.T) {
	msgs := []eventstream.Message{
		{},
		{Payload: []byte("x")},
		{Headers: eventstream.Headers{
			{Name: ":message-type", Value: eventstream.StringValue("event")},
			{Name: ":event-type", Value: eventstream.StringValue("metadata")},
			{Name: "b", Value: eventstream.BoolValue(true)},
			{Name: "f", Value: eventstream.BoolValue(false)},
			{Name: "i8", Value: eventstream.Int8Value(-3)},
			{Name: "i16", Value: eventstream.Int16Value(300)},
			{Name: "i32", Value: eventstream.Int32Value(1 << 20)},
			{Name: "i64", Value: eventstream.Int64Value(1 << 40)},
			{Name: "bytes", Value: eventstream.BytesValue([]byte{0, 1, 2})},
			{Name: "uuid", Value: eventstream.UUIDValue{1, 2, 3}},
		}, Payload: []byte(`{"usage":{"inputTokens":1}}`)},
		{Headers: eventstream.Headers{
			{Name: ":message-type", Value: eventstream.StringValue("exception")},
			{Name: ":exception-type", Value: eventstream.StringValue("throttlingException")},
		}, Payload: bytes.Repeat([]byte("p"), 70_000)},
	}
	var stream bytes.Buffer
	for _, m := range msgs {
		stream.Write(encode(t, m))
	}
	r := bufio.NewReader(&stream)
	var buf []byte
	for i, want := range msgs {
		frame, err := evstream.ReadFrame(r, buf)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		buf = frame
		if !bytes.Equal(frame, encode(t, want)) {
			t.Fatalf("frame %d not forwarded byte for byte", i)
		}
		m, err := evstream.Parse(frame)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(m.Payload, want.Payload) {
			t.Fatalf("frame %d payload differs", i)
		}
		for _, h := range want.Headers {
			if _, _, ok := m.Header(h.Name); !ok {
				t.Fatalf("frame %d header %s missing", i, h.Name)
			}
			if s, isStr := h.Value.(eventstream.StringValue); isStr && !m.HeaderIs(h.Name, string(s)) {
				t.Fatalf("frame %d header %s != %s", i, h.Name, s)
			}
		}
		if i == 3 && (m.MessageType() != "exception" || m.ExceptionType() != "throttlingException") {
			t.Fatalf("exception headers: %q %q", m.MessageType(), m.ExceptionType())
		}
	}
	if _, err := evstream.ReadFrame(r, buf); err != io.EOF {
		t.Fatalf("end of stream: %v, want io.EOF", err)
	}

	// And the other way: the SDK decodes what AppendFrame writes.
	frame := evstream.AppendFrame(nil, []byte("hello"), ":message-type", "event", ":event-type", "chunk")
	got, err := eventstream.NewDecoder().Decode(bytes.NewReader(frame), nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Payload) != "hello" || got.Headers.Get(":event-type").String() != "chunk" {
		t.Fatalf("SDK decoded %+v", got)
	}
}

func TestReadFrameErrors(t *testing.T) {
	good := mustHex(t, vector)
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x40
		return b
	}
	withPrelude := func(total, hlen uint32) []byte {
		// A prelude with a valid CRC but impossible lengths.
		f := evstream.AppendFrame(nil, nil)
		f[0], f[1], f[2], f[3] = byte(total>>24), byte(total>>16), byte(total>>8), byte(total)
		f[4], f[5], f[6], f[7] = byte(hlen>>24), byte(hlen>>16), byte(hlen>>8), byte(hlen)
		return reCRCPrelude(f)
	}
	tests := []struct {
		name  string
		input []byte
		check func(error) bool
	}{
		{"empty", nil, func(err error) bool { return err == io.EOF }},
		{"half prelude", good[:5], func(err error) bool { return err == io.ErrUnexpectedEOF }},
		{"truncated body", good[:100], func(err error) bool { return err == io.ErrUnexpectedEOF }},
		{"prelude crc", flip(9), isChecksum("prelude")},
		{"length bit flip", flip(2), isChecksum("prelude")},
		{"payload bit flip", flip(90), isChecksum("message")},
		{"message crc", flip(113), isChecksum("message")},
		{"total too small", withPrelude(15, 0), isLength("total")},
		{"total too big", withPrelude(evstream.MaxFrameLen+1, 0), isLength("total")},
		{"headers past end", withPrelude(40, 30), isLength("headers")},
		{"headers too big", withPrelude(evstream.MaxFrameLen, evstream.MaxHeadersLen+1), isLength("headers")},
		{"payload too big", withPrelude(evstream.MaxFrameLen, 0), isLength("payload")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := evstream.ReadFrame(bytes.NewReader(tt.input), nil)
			if !tt.check(err) {
				t.Fatalf("got %v (%T)", err, err)
			}
		})
	}
}

func reCRCPrelude(f []byte) []byte {
	sum := crc32IEEE(f[:8])
	f[8], f[9], f[10], f[11] = byte(sum>>24), byte(sum>>16), byte(sum>>8), byte(sum)
	return f
}

func isChecksum(part string) func(error) bool {
	return func(err error) bool {
		var ce *evstream.ChecksumError
		return errors.As(err, &ce) && ce.Part == part
	}
}

func isLength(part string) func(error) bool {
	return func(err error) bool {
		var le *evstream.LengthError
		return errors.As(err, &le) && le.Part == part
	}
}

func TestParseMalformedHeaders(t *testing.T) {
	// A header block with a string whose length runs past the block.
	hdr := []byte{2, 'a', 'b', evstream.TypeString, 0, 9, 'x'}
	frame := buildRaw(hdr, nil)
	if err := evstream.Verify(frame); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if _, err := evstream.Parse(frame); !errors.Is(err, evstream.ErrMalformedHeaders) {
		t.Fatalf("Parse: %v", err)
	}
	for _, hdr := range [][]byte{
		{0, evstream.TypeTrue},          // empty name
		{1, 'a', 42},                    // unknown type
		{1, 'a', evstream.TypeInt64, 1}, // short value
		{1, 'a'},                        // missing type
	} {
		if _, err := evstream.Parse(buildRaw(hdr, nil)); !errors.Is(err, evstream.ErrMalformedHeaders) {
			t.Fatalf("Parse(%v): %v", hdr, err)
		}
	}
}

// buildRaw frames an arbitrary header block with correct lengths and CRCs.
func buildRaw(headers, payload []byte) []byte {
	total := evstream.MinFrameLen + len(headers) + len(payload)
	f := make([]byte, 12, total)
	put32(f[0:], uint32(total))
	put32(f[4:], uint32(len(headers)))
	put32(f[8:], crc32IEEE(f[:8]))
	f = append(f, headers...)
	f = append(f, payload...)
	var c [4]byte
	put32(c[:], crc32IEEE(f))
	return append(f, c[:]...)
}

func TestParseAllocs(t *testing.T) {
	frame := mustHex(t, vector)
	allocs := testing.AllocsPerRun(100, func() {
		m, err := evstream.Parse(frame)
		if err != nil || m.EventType() != "chunk" || !m.HeaderIs(":content-type", "application/json") {
			t.Fatal("bad parse")
		}
	})
	if allocs != 0 {
		t.Fatalf("Parse + lookups allocate %v times", allocs)
	}
}

func TestReadFrameReusesBuffer(t *testing.T) {
	raw := mustHex(t, vector)
	stream := strings.Repeat(string(raw), 3)
	r := strings.NewReader(stream)
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(1, func() {
		r.Reset(stream)
		for {
			f, err := evstream.ReadFrame(r, buf)
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			buf = f
		}
	})
	if allocs != 0 {
		t.Fatalf("ReadFrame with a large enough buffer allocates %v times", allocs)
	}
}

func BenchmarkReadFrameParse(b *testing.B) {
	frame := evstream.AppendFrame(nil, bytes.Repeat([]byte("a"), 200), ":message-type", "event", ":event-type", "contentBlockDelta", ":content-type", "application/json")
	r := bytes.NewReader(frame)
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(frame)
		f, err := evstream.ReadFrame(r, buf)
		if err != nil {
			b.Fatal(err)
		}
		m, err := evstream.Parse(f)
		if err != nil || m.EventType() != "contentBlockDelta" {
			b.Fatal("bad frame")
		}
	}
}
