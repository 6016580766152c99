package bedrocksim

import (
	"encoding/json"
	"net/http"

	"github.com/aws/smithy-go/eventstream"
)

// EventStreamContentType is the Content-Type of streamed responses.
const EventStreamContentType = "application/vnd.amazon.eventstream"

// eventMessage builds an event frame. The header order (:message-type,
// :event-type, :content-type) is the one Bedrock uses and the one the wire
// reference's test vector pins.
func eventMessage(eventType string, payload []byte) eventstream.Message {
	var m eventstream.Message
	m.Headers.Set(eventstream.MessageTypeHeader, eventstream.StringValue(eventstream.EventMessageType))
	m.Headers.Set(eventstream.EventTypeHeader, eventstream.StringValue(eventType))
	m.Headers.Set(eventstream.ContentTypeHeader, eventstream.StringValue("application/json"))
	m.Payload = payload
	return m
}

// exceptionFrame builds a modelled-exception frame; exceptionType is the
// union member name, e.g. "modelStreamErrorException".
func exceptionFrame(exceptionType, message string) eventstream.Message {
	payload, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{message})
	var m eventstream.Message
	m.Headers.Set(eventstream.MessageTypeHeader, eventstream.StringValue(eventstream.ExceptionMessageType))
	m.Headers.Set(eventstream.ExceptionTypeHeader, eventstream.StringValue(exceptionType))
	m.Headers.Set(eventstream.ContentTypeHeader, eventstream.StringValue("application/json"))
	m.Payload = payload
	return m
}

// streamWriter writes event-stream frames to a response, flushing after
// each so clients see every event as it is produced.
type streamWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	enc *eventstream.Encoder
}

// startStream sends the 200 and the stream headers.
func startStream(w http.ResponseWriter, extra map[string]string) (*streamWriter, error) {
	h := w.Header()
	h.Set("Content-Type", EventStreamContentType)
	for k, v := range extra {
		h.Set(k, v)
	}
	w.WriteHeader(http.StatusOK)
	s := &streamWriter{w: w, rc: http.NewResponseController(w), enc: eventstream.NewEncoder()}
	return s, s.rc.Flush()
}

func (s *streamWriter) write(m eventstream.Message) error {
	if err := s.enc.Encode(s.w, m); err != nil {
		return err
	}
	return s.rc.Flush()
}

// event marshals v as the JSON payload of an event frame.
func (s *streamWriter) event(eventType string, v any) error {
	payload, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.write(eventMessage(eventType, payload))
}

func (s *streamWriter) exception(exceptionType, message string) error {
	return s.write(exceptionFrame(exceptionType, message))
}
