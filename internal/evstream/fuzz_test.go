package evstream_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/aws/smithy-go/eventstream"

	"github.com/tollgate-dev/tollgate/internal/evstream"
)

// FuzzReadFrame feeds arbitrary streams to ReadFrame and Parse. Neither may
// panic or allocate past the protocol limits, every frame ReadFrame returns
// must be exactly what smithy-go's decoder accepts, and the error must be
// one of the documented kinds. The seed corpus is in testdata/fuzz.
func FuzzReadFrame(f *testing.F) {
	f.Add(mustHex(f, vector))
	f.Add(evstream.AppendFrame(nil, []byte(`{"usage":{"inputTokens":3}}`), ":message-type", "event", ":event-type", "metadata"))
	f.Add([]byte{0, 0, 0, 16, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var buf []byte
		for {
			frame, err := evstream.ReadFrame(r, buf)
			if err != nil {
				var le *evstream.LengthError
				var ce *evstream.ChecksumError
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.As(err, &le) && !errors.As(err, &ce) {
					t.Fatalf("undocumented error %T %v", err, err)
				}
				return
			}
			buf = frame
			if err := evstream.Verify(frame); err != nil {
				t.Fatalf("ReadFrame returned a frame Verify refuses: %v", err)
			}
			m, perr := evstream.Parse(frame)
			sdk, serr := eventstream.NewDecoder().Decode(bytes.NewReader(frame), nil)
			if perr == nil {
				_ = m.EventType()
				_ = m.MessageType()
				_ = m.ExceptionType()
				if serr != nil {
					t.Fatalf("Parse accepted a frame smithy-go refuses: %v", serr)
				}
				if !bytes.Equal(sdk.Payload, m.Payload) {
					t.Fatal("payload differs from smithy-go's")
				}
				for _, h := range sdk.Headers {
					// With duplicate names both return the first one.
					if s, ok := sdk.Headers.Get(h.Name).(eventstream.StringValue); ok {
						if v, found := m.StringHeader(h.Name); !found || string(v) != string(s) {
							t.Fatalf("header %q: got %q %v, smithy-go %q", h.Name, v, found, s)
						}
					}
				}
			}
		}
	})
}
