package bedrocksim

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/smithy-go/encoding/httpbinding"
	"github.com/aws/smithy-go/eventstream"
)

// The 115-byte chunk event of the wire reference (bedrock-wire.md, A3).
const wireTestVector = "00000073" + "0000004b" + "3a5edd6e" +
	"0d" + "3a6d6573736167652d74797065" + "07" + "0005" + "6576656e74" +
	"0b" + "3a6576656e742d74797065" + "07" + "0005" + "6368756e6b" +
	"0d" + "3a636f6e74656e742d74797065" + "07" + "0010" + "6170706c69636174696f6e2f6a736f6e" +
	"7b226279746573223a2265794a68496a6f7866513d3d227d" +
	"70012291"

func TestEventStreamTestVector(t *testing.T) {
	want, err := hex.DecodeString(wireTestVector)
	if err != nil || len(want) != 115 {
		t.Fatalf("vector: %d bytes, %v", len(want), err)
	}
	// Build the frame the way the handler does: chunkFrame then the writer.
	f := chunkFrame(json.RawMessage(`{"a":1}`))
	payload, err := json.Marshal(f.payload)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&buf, eventMessage(f.eventType, payload)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("encoded\n%x\nwant\n%x", buf.Bytes(), want)
	}
	// And back through the SDK's decoder.
	msg, err := eventstream.NewDecoder().Decode(bytes.NewReader(want), nil)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Headers.Get(eventstream.EventTypeHeader).String() != "chunk" || string(msg.Payload) != string(payload) {
		t.Errorf("decoded %v %s", msg.Headers, msg.Payload)
	}
}

// signedLikeRequest carries an Authorization header that passes the scope
// check (signatures are only verified when Config.Credentials is set).
func signedLikeRequest(region, path, body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20250101/"+region+"/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	req.Header.Set("X-Amz-Date", "20250101T000000Z")
	return req
}

// decodeAll decodes every frame with the SDK's decoder, which checks both
// CRCs and every length.
func decodeAll(t *testing.T, b []byte) []eventstream.Message {
	t.Helper()
	var msgs []eventstream.Message
	r := bytes.NewReader(b)
	dec := eventstream.NewDecoder()
	for r.Len() > 0 {
		m, err := dec.Decode(r, nil)
		if err != nil {
			t.Fatalf("frame %d: %v", len(msgs), err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func header(m eventstream.Message, name string) string {
	if v := m.Headers.Get(name); v != nil {
		return v.String()
	}
	return ""
}

func TestStreamFramesDecode(t *testing.T) {
	sim, err := Start(Config{Regions: []string{"us-east-1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	h, _ := sim.Handler("us-east-1")

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, signedLikeRequest("us-east-1", "/model/anthropic.claude-v2%3A1/converse-stream",
		`{"messages":[{"role":"user","content":[{"text":"sim:tokens=2"}]}]}`))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != EventStreamContentType {
		t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var got []string
	for _, m := range decodeAll(t, rec.Body.Bytes()) {
		if header(m, ":message-type") != "event" || header(m, ":content-type") != "application/json" || !json.Valid(m.Payload) {
			t.Errorf("bad frame %v %s", m.Headers, m.Payload)
		}
		got = append(got, header(m, ":event-type")+string(m.Payload))
	}
	want := []string{
		`messageStart{"role":"assistant"}`,
		`contentBlockDelta{"contentBlockIndex":0,"delta":{"text":"tok1"}}`,
		`contentBlockDelta{"contentBlockIndex":0,"delta":{"text":" tok2"}}`,
		`contentBlockStop{"contentBlockIndex":0}`,
		`messageStop{"stopReason":"end_turn"}`,
		`metadata{"usage":{"inputTokens":4,"outputTokens":2,"totalTokens":6},"metrics":{"latencyMs":1}}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("frames:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A cut InvokeModelWithResponseStream: chunks, then the exception frame.
	sim.SetFault("us-east-1", Fault{FailMidStreamAfter: 1, MidStreamException: "internalServerException"})
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, signedLikeRequest("us-east-1", "/model/anthropic.claude-v2%3A1/invoke-with-response-stream",
		`{"anthropic_version":"bedrock-2023-05-31","max_tokens":9,"messages":[{"role":"user","content":"hi"}]}`))
	msgs := decodeAll(t, rec.Body.Bytes())
	last := msgs[len(msgs)-1]
	if len(msgs) != 4 || header(last, ":message-type") != "exception" ||
		header(last, ":exception-type") != "internalServerException" || !strings.Contains(string(last.Payload), `"message"`) {
		t.Fatalf("%d frames, last %v %s", len(msgs), last.Headers, last.Payload)
	}
	var chunk struct{ Bytes string }
	if err := json.Unmarshal(msgs[2].Payload, &chunk); err != nil {
		t.Fatal(err)
	}
	inner, err := base64.StdEncoding.DecodeString(chunk.Bytes)
	if err != nil || string(inner) != `{"delta":{"text":"tok1","type":"text_delta"},"index":0,"type":"content_block_delta"}` {
		t.Errorf("chunk bytes %s, %v", inner, err)
	}
}

func TestParseModelPath(t *testing.T) {
	for _, tc := range []struct {
		path, model, op string
	}{
		{"/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse", "anthropic.claude-3-5-sonnet-20240620-v1:0", OpConverse},
		{"/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse-stream", "anthropic.claude-3-5-sonnet-20240620-v1:0", OpConverseStream},
		{"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.x%3A0/invoke",
			"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x:0", OpInvokeModel},
		{"/model/m/invoke-with-response-stream", "m", OpInvokeModelWithResponseStream},
		{"/model/%zz/invoke", "", ""},
		{"/model/x/invoke/", "", ""},
		{"/model/x/Invoke", "", ""},
		{"model/x/invoke", "", ""},
		{"/model/%2F/invoke", "/", OpInvokeModel},
	} {
		m, op, err := ParseModelPath(tc.path)
		if tc.op == "" {
			if !errors.Is(err, ErrUnknownOperation) {
				t.Errorf("%s: got %q %q %v, want ErrUnknownOperation", tc.path, m, op, err)
			}
			continue
		}
		if err != nil || m != tc.model || op != tc.op {
			t.Errorf("%s: got %q %q %v", tc.path, m, op, err)
		}
	}
}

// FuzzParseModelPath checks that any model ID, escaped the way the SDK
// escapes a URI label, routes back to itself, and that no input panics.
func FuzzParseModelPath(f *testing.F) {
	for _, seed := range []string{
		"anthropic.claude-3-5-sonnet-20240620-v1:0",
		"us.anthropic.claude-3-5-sonnet-20241022-v2:0",
		"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
		"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
		"a b/c%d?e#f", "ü", "%2F", "",
	} {
		f.Add(seed, "converse")
	}
	f.Add("x", "invoke-with-response-stream")
	f.Fuzz(func(t *testing.T, modelID, suffix string) {
		path := "/model/" + httpbinding.EscapePath(modelID, true) + "/" + suffix
		got, op, err := ParseModelPath(path)
		_, known := opBySuffix[suffix]
		switch {
		case modelID == "" || !known:
			if err == nil {
				t.Fatalf("%q: accepted as %q %q", path, got, op)
			}
		case err != nil || got != modelID || op != opBySuffix[suffix]:
			t.Fatalf("%q: got %q %q %v, want %q", path, got, op, err, modelID)
		}
		// Raw, unescaped input must not panic either, and resolving
		// whatever comes out must not panic.
		if m, _, err := ParseModelPath(suffix); err == nil {
			_, _ = resolveModel(m, "us-east-1")
		}
		_, _ = resolveModel(modelID, "us-east-1")
	})
}

func TestResolveModel(t *testing.T) {
	for id, wantProvider := range map[string]string{
		"anthropic.claude-3-haiku-20240307-v1:0":                                   "anthropic",
		"apac.anthropic.claude-3-haiku-20240307-v1:0":                              "anthropic",
		"amazon.titan-text-express-v1":                                             "amazon",
		"meta.llama3-70b-instruct-v1:0":                                            "meta",
		"mistral.mistral-large-2402-v1:0":                                          "mistral",
		"cohere.command-r-plus-v1:0":                                               "cohere",
		"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc": "",
	} {
		m, e := resolveModel(id, "us-east-1")
		if e != nil || m.Provider != wantProvider {
			t.Errorf("%s: %+v %v", id, m, e)
		}
	}
	for _, id := range []string{"", "gpt-4", "anthropic.", "xx.anthropic.claude", "arn:aws:bedrock:us-east-1::inference-profile/us.x",
		"arn:aws:bedrock:us-east-1:123456789012:foundation-model/anthropic.x"} {
		if _, e := resolveModel(id, "us-east-1"); e == nil || e.Type != ExcValidation {
			t.Errorf("%q accepted", id)
		}
	}
}

func TestCheckScope(t *testing.T) {
	const good = "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"
	for _, tc := range []struct {
		name, auth, date, wantMsg string
	}{
		{"ok", good, "20250101T120000Z", ""},
		{"missing", "", "20250101T120000Z", "Missing Authentication Token"},
		{"bearer", "Bearer k", "20250101T120000Z", "Bearer"},
		{"other region", strings.Replace(good, "us-east-1", "us-west-2", 1), "20250101T120000Z", "valid region"},
		{"other service", strings.Replace(good, "/bedrock/", "/s3/", 1), "20250101T120000Z", "correct service"},
		{"no signature", strings.Replace(good, ", Signature=abc", "", 1), "20250101T120000Z", "'Signature'"},
		{"short scope", "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1, SignedHeaders=host, Signature=abc", "20250101T120000Z", "'Credential'"},
		{"date mismatch", good, "20250102T000000Z", "Date in Credential scope"},
		{"no date", good, "", "Date in Credential scope"},
	} {
		req := httptest.NewRequest(http.MethodPost, "/model/x/converse", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		if tc.date != "" {
			req.Header.Set("X-Amz-Date", tc.date)
		}
		a, e := checkScope(req, "us-east-1")
		switch {
		case tc.wantMsg == "" && (e != nil || a.AccessKeyID != "AKID" || a.Signature != "abc"):
			t.Errorf("%s: %+v %v", tc.name, a, e)
		case tc.wantMsg != "" && (e == nil || e.Type != ExcAccessDenied || !strings.Contains(e.Message, tc.wantMsg)):
			t.Errorf("%s: got %v, want AccessDenied containing %q", tc.name, e, tc.wantMsg)
		}
	}
}
