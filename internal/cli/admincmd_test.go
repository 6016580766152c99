package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/localddb"
	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/regional/admin"
)

const cliToken = "cli-test-token-0123456789"

// adminServer serves the admin API against dynalite and returns its URL.
func adminServer(t *testing.T) string {
	t.Helper()
	ddb := localddb.StartT(t)
	s := store.New(ddb.Client(), "cli-")
	if err := s.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	toks, err := admin.ParseTokens("", cliToken)
	if err != nil {
		t.Fatal(err)
	}
	h, err := admin.New(admin.Config{Store: s, Tokens: toks})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// run runs the CLI in process.
func run(args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	err = Main(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

func TestAdminCommands(t *testing.T) {
	// The endpoint and token come from flags here; the environment must
	// not supply them.
	t.Setenv("TOLLGATE_ENDPOINT", "")
	t.Setenv("TOLLGATE_ADMIN_TOKEN", "")
	url := adminServer(t)
	conn := []string{"--endpoint", url, "--token", cliToken}
	cli := func(args ...string) (string, string, error) { return run(append(args, conn...)...) }

	for _, id := range []string{"c1", "c2", "c3", "c4", "c5"} {
		if out, stderr, err := cli("customers", "create", "--id", id, "--name", "Customer "+id, "--models", "anthropic.*", "--rpm", "60"); err != nil {
			t.Fatalf("create %s: %v\n%s%s", id, err, out, stderr)
		}
	}
	out, _, err := cli("customers", "get", "c1")
	if err != nil || !strings.Contains(out, "requests/minute:") || !strings.Contains(out, "anthropic.*") {
		t.Fatalf("get: %v\n%s", err, out)
	}

	// Paging: five customers in pages of two, with and without --all.
	out, stderr, err := cli("customers", "list", "--limit", "2", "--all", "--progress")
	if err != nil || strings.Count(out, "Customer c") != 5 || strings.Contains(stderr, "more results") || !strings.Contains(stderr, "fetched 4 customers (2 pages)") {
		t.Fatalf("list --all: %v\n%s\nstderr: %q", err, out, stderr)
	}
	out, stderr, err = cli("customers", "list", "--limit", "2")
	if err != nil || strings.Count(out, "Customer c") != 2 || !strings.Contains(stderr, "more results: add --all, or --cursor ") {
		t.Fatalf("list one page: %v\n%s\n%s", err, out, stderr)
	}
	out, _, err = cli("customers", "list", "--limit", "2", "--all", "--output", "json")
	var page adminclient.CustomerPage
	if err != nil || json.Unmarshal([]byte(out), &page) != nil || len(page.Customers) != 5 || page.NextCursor != "" {
		t.Fatalf("list json: %v\n%s", err, out)
	}

	// Keys: the secret is printed once; flags may follow arguments.
	out, _, err = cli("keys", "create", "c1", "--expires-in", "30d", "--output", "json")
	var created adminclient.CreatedKey
	if err != nil || json.Unmarshal([]byte(out), &created) != nil || !strings.HasPrefix(created.Secret, "tg_") {
		t.Fatalf("keys create: %v\n%s", err, out)
	}
	if out, _, err = cli("keys", "revoke", created.Key.Prefix); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("keys revoke: %v\n%s", err, out)
	}
	if out, _, err = cli("audit", "list", "--target", "customer:c1"); err != nil || !strings.Contains(out, "key.revoke") || !strings.Contains(out, "customer.create") {
		t.Fatalf("audit list: %v\n%s", err, out)
	}
	if out, _, err = cli("customers", "update", "c2", "--rpm", "120"); err != nil || !strings.Contains(out, "120") {
		t.Fatalf("update: %v\n%s", err, out)
	}

	// API errors: the API's type, message and fields; exit code 1.
	_, _, err = cli("customers", "create", "--id", "bad", "--name", "x", "--models", "a b", "--rpm", "-1")
	var ae *adminclient.Error
	if !errors.As(err, &ae) || errors.Is(err, ErrUsage) || ae.Type != "invalid_request" ||
		!strings.Contains(err.Error(), "allowed_models[0]") || !strings.Contains(err.Error(), "limits.requests_per_minute") {
		t.Fatalf("invalid customer: %v", err)
	}
	if _, _, err = cli("customers", "get", "ghost"); !adminclient.IsNotFound(err) || !strings.Contains(err.Error(), "not_found") {
		t.Fatalf("missing customer: %v", err)
	}
	if _, _, err = run("customers", "get", "c1", "--endpoint", url, "--token", "wrong-token"); !adminclient.IsType(err, "unauthorized") {
		t.Fatalf("wrong token: %v", err)
	}

	// Usage errors: exit code 2, nothing sent.
	for _, args := range [][]string{
		{"customers", "delete", "c3"}, // no --yes
		{"customers", "get"},          // missing ID
		{"customers", "frobnicate"},   // unknown subcommand
		{"customers", "update", "c2"}, // nothing to change
		{"keys", "rotate", "x", "--grace", "soon"},
		{"customers", "list", "--output", "yaml"},
	} {
		if _, stderr, err := cli(args...); !errors.Is(err, ErrUsage) || stderr == "" {
			t.Errorf("%v: err %v, stderr %q; want a usage error", args, err, stderr)
		}
	}
	if _, stderr, err := run("customers", "list"); !errors.Is(err, ErrUsage) || !strings.Contains(stderr, "TOLLGATE_ENDPOINT") {
		t.Errorf("no endpoint: %v %q", err, stderr)
	}
	if _, stderr, err := run("keys", "create", "-h"); err != nil || !strings.Contains(stderr, "Examples:") || !strings.Contains(stderr, "--expires-in") {
		t.Errorf("help: %v %q", err, stderr)
	}
}

func TestCompletion(t *testing.T) {
	out, _, err := run("completion", "bash")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"complete -F _tollgate tollgate", "serve bootstrap usage customers keys audit completion help", `"keys rotate")`, "--grace", `"customers list")`, "--all"} {
		if !strings.Contains(out, want) {
			t.Errorf("bash completion lacks %q", want)
		}
	}
	if out, _, err = run("completion", "zsh"); err != nil || !strings.HasPrefix(out, "#compdef tollgate") {
		t.Fatalf("zsh: %v", err)
	}
	if _, _, err = run("completion", "fish"); !errors.Is(err, ErrUsage) {
		t.Fatalf("fish: %v", err)
	}
}
