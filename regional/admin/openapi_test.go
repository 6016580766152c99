package admin_test

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/regional/admin"
)

// openAPIRoutes reads the operations of an OpenAPI document with a line
// scanner (the module has no YAML parser): under the top-level "paths:",
// keys indented by two spaces are paths and keys indented by four that
// name an HTTP method are its operations.
func openAPIRoutes(t *testing.T, path string) []admin.Route {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	methods := map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true}
	var out []admin.Route
	inPaths, cur := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " ")
		if line == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		key, _, isKey := strings.Cut(strings.TrimSpace(line), ":")
		switch {
		case indent == 0:
			inPaths = line == "paths:"
		case !inPaths || !isKey:
		case indent == 2:
			cur = key
		case indent == 4 && methods[key]:
			out = append(out, admin.Route{Method: strings.ToUpper(key), Path: cur})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOpenAPIMatchesRoutes keeps docs/openapi/admin-v1.yaml and the
// operations the handler registers identical.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	key := func(r admin.Route) string { return r.Method + " " + r.Path }
	var doc, served []string
	for _, r := range openAPIRoutes(t, "../../docs/openapi/admin-v1.yaml") {
		doc = append(doc, key(r))
	}
	for _, r := range admin.Routes() {
		served = append(served, key(r))
	}
	slices.Sort(doc)
	slices.Sort(served)
	if len(doc) == 0 || !slices.Equal(doc, served) {
		t.Fatalf("the OpenAPI document and the handler disagree:\ndocument: %q\nserved:   %q", doc, served)
	}
}
