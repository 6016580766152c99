package admin

import (
	"strings"
	"testing"
)

func TestParseTokens(t *testing.T) {
	h1, h2 := HashToken("first-token-0123456789"), HashToken("second-token-0123456789")
	toks, err := ParseTokens(" ci:"+h1+" ,"+strings.ToUpper(h2)+",", "dev-token-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 3 || toks[0].Name != "ci" || toks[1].Name != h2[:8] || !strings.HasPrefix(toks[2].Name, "dev-") {
		t.Fatalf("tokens %+v", toks)
	}
	for _, bad := range []string{"abc", h1 + "," + h1, "bad name:" + h1, h1[:63]} {
		if _, err := ParseTokens(bad); err == nil {
			t.Errorf("ParseTokens(%q) accepted", bad)
		}
	}
	const short = "short"
	_, err = ParseTokens("", short)
	if err == nil || strings.Contains(err.Error(), short) {
		t.Fatalf("short dev token: %v (must be refused without being echoed)", err)
	}
}

func TestAuthenticate(t *testing.T) {
	toks, err := ParseTokens("ci:" + HashToken("first-token-0123456789") + "," + HashToken("second-token-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"Bearer first-token-0123456789":                "ci",
		"bearer second-token-0123456789":               HashToken("second-token-0123456789")[:8],
		"Bearer first-token-012345678":                 "",
		"Basic first-token-0123456789":                 "",
		"first-token-0123456789":                       "",
		"Bearer ":                                      "",
		"Bearer " + strings.Repeat("x", maxTokenLen+1): "",
	}
	for hdr, want := range cases {
		actor, ok := authenticate(toks, hdr)
		if actor != want || ok != (want != "") {
			t.Errorf("authenticate(%.30q) = %q, %v; want %q", hdr, actor, ok, want)
		}
	}
}
