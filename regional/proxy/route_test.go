package proxy

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/rules"
)

func TestParseRoute(t *testing.T) {
	cases := []struct {
		path  string
		op    Operation
		model string
		err   error
	}{
		{"/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse", OpConverse, "anthropic.claude-3-haiku-20240307-v1:0", nil},
		{"/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse-stream", OpConverseStream, "us.anthropic.claude-3-5-sonnet-20241022-v2:0", nil},
		{"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.x%3A0/invoke", OpInvokeModel, "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x:0", nil},
		{"/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x:0/invoke-with-response-stream", OpInvokeModelWithResponseStream, "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x:0", nil},
		{"/model/anthropic.x/chat", OpUnknown, "", ErrUnknownOperation},
		{"/models/anthropic.x/converse", OpUnknown, "", ErrUnknownOperation},
		{"/model//converse", OpUnknown, "", ErrUnknownOperation},
		{"/model/converse", OpUnknown, "", ErrUnknownOperation},
		{"/model/..%2F..%2Fetc/converse", OpConverse, "", ErrBadModelID},
		{"/model/a%20b/converse", OpConverse, "", ErrBadModelID},
		{"/model/a%zz/converse", OpConverse, "", ErrBadModelID},
		{"/model/x%2Fy/converse", OpConverse, "", ErrBadModelID},
	}
	for _, c := range cases {
		op, model, err := ParseRoute(c.path)
		if op != c.op || model != c.model || !errors.Is(err, c.err) {
			t.Errorf("ParseRoute(%q) = %v, %q, %v; want %v, %q, %v", c.path, op, model, err, c.op, c.model, c.err)
		}
	}
}

func TestEscapeModelIDRoundTrips(t *testing.T) {
	for _, id := range []string{"anthropic.claude-3-haiku-20240307-v1:0", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x:0"} {
		esc := rules.EscapeModelID(id)
		if strings.ContainsAny(esc, ":/") {
			t.Fatalf("%q not escaped: %q", id, esc)
		}
		op, got, err := ParseRoute("/model/" + esc + "/converse")
		if err != nil || got != id || op != OpConverse {
			t.Fatalf("round trip of %q: %q %v", id, got, err)
		}
	}
}

func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{
		"/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
		"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x%3A0/invoke",
		"/model/../converse", "/model/%00/invoke", "/", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		op, model, err := ParseRoute(path)
		if err != nil {
			return
		}
		if op == OpUnknown || model == "" {
			t.Fatalf("accepted %q as %v %q", path, op, model)
		}
		// What we accept must survive a trip through our own escaping.
		op2, model2, err := ParseRoute("/model/" + rules.EscapeModelID(model) + "/" + op.PathSuffix())
		if err != nil || op2 != op || model2 != model {
			t.Fatalf("re-escaped %q does not parse back: %v", model, err)
		}
		if _, err := url.Parse("https://h/model/" + rules.EscapeModelID(model) + "/x"); err != nil {
			t.Fatalf("escaped id makes a bad URL: %v", err)
		}
	})
}
