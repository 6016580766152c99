package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestJSONByDefault(t *testing.T) {
	var b bytes.Buffer
	l, err := New(&b, "", "", "regional")
	if err != nil {
		t.Fatal(err)
	}
	l.Info().Str("k", "v").Msg("hello")
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %s", b.String())
	}
	if m["component"] != "regional" || m["message"] != "hello" || m["time"] == nil {
		t.Fatalf("%v", m)
	}
}

func TestConsoleAndLevels(t *testing.T) {
	var b bytes.Buffer
	l, err := New(&b, FormatConsole, "warn", "")
	if err != nil {
		t.Fatal(err)
	}
	l.Info().Msg("hidden")
	l.Warn().Msg("shown")
	if strings.Contains(b.String(), "hidden") || !strings.Contains(b.String(), "shown") || strings.HasPrefix(b.String(), "{") {
		t.Fatalf("%q", b.String())
	}
	if _, err := New(&b, "xml", "", ""); err == nil {
		t.Fatal("unknown format accepted")
	}
	if _, err := New(&b, "", "loud", ""); err == nil {
		t.Fatal("unknown level accepted")
	}
}
