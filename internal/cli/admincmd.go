package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
)

// The admin command groups (customers, keys, audit) share this machinery:
// a table of subcommands, the flags that reach the admin API, output as a
// table or JSON, transparent paging, and progress on stderr.

// subcommand is one `tollgate <group> <name>` command.
type subcommand struct {
	name string
	// args names the positional arguments in the usage line ("ID").
	args    string
	nargs   int
	summary string
	// examples are shown by -h, one per line.
	examples []string
	// flags registers the command's own flags and returns what runs it
	// with the positional arguments.
	flags func(fs *flag.FlagSet) func(ctx context.Context, a *adminEnv, args []string) error
}

// group is a command with subcommands.
type group struct {
	name, summary string
	cmds          []subcommand
}

// adminGroups are the command groups that talk to the admin API, in the
// order `tollgate help` and completion list them.
func adminGroups() []group { return []group{customersGroup(), keysGroup(), auditGroup()} }

// adminEnv is what a subcommand runs with.
type adminEnv struct {
	client         *adminclient.Client
	stdout, stderr io.Writer
	json           bool
	// progress shows listing progress on stderr: on a terminal, or
	// with --progress.
	progress bool
}

// commonFlags are the flags of every admin subcommand.
type commonFlags struct {
	endpoint, token, output string
	timeout                 time.Duration
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.endpoint, "endpoint", os.Getenv("TOLLGATE_ENDPOINT"), "admin API base URL, e.g. http://127.0.0.1:9443 (env TOLLGATE_ENDPOINT)")
	fs.StringVar(&c.token, "token", "", "admin token (env TOLLGATE_ADMIN_TOKEN, preferred: a flag is visible in the process list)")
	fs.StringVar(&c.output, "output", "table", "output format: table (for people) or json (for scripts)")
	fs.DurationVar(&c.timeout, "timeout", time.Minute, "bound on each API call")
}

// runGroup dispatches `tollgate <group> …`.
func runGroup(ctx context.Context, g group, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		groupUsage(stderr, g)
		return ErrUsage
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		groupUsage(stdout, g)
		return nil
	}
	var sc *subcommand
	for i := range g.cmds {
		if g.cmds[i].name == args[0] {
			sc = &g.cmds[i]
		}
	}
	if sc == nil {
		fmt.Fprintf(stderr, "tollgate %s: unknown command %q\n\n", g.name, args[0])
		groupUsage(stderr, g)
		return ErrUsage
	}
	name := "tollgate " + g.name + " " + sc.name
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf commonFlags
	cf.register(fs)
	run := sc.flags(fs)
	fs.Usage = func() { commandUsage(fs.Output(), name, sc, fs) }
	pos, err := parseInterleaved(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return ErrUsage
	}
	if len(pos) != sc.nargs {
		fmt.Fprintf(stderr, "%s: want %d argument(s) (%s), got %d\nRun '%s -h' for help.\n", name, sc.nargs, sc.args, len(pos), name)
		return ErrUsage
	}
	if cf.token == "" {
		cf.token = os.Getenv("TOLLGATE_ADMIN_TOKEN")
	}
	var problems []string
	if cf.endpoint == "" {
		problems = append(problems, "no admin endpoint: set TOLLGATE_ENDPOINT or --endpoint")
	}
	if cf.token == "" {
		problems = append(problems, "no admin token: set TOLLGATE_ADMIN_TOKEN or --token")
	}
	if cf.output != "table" && cf.output != "json" {
		problems = append(problems, fmt.Sprintf("--output must be table or json, got %q", cf.output))
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "%s: %s\n", name, strings.Join(problems, "; "))
		return ErrUsage
	}
	client, err := adminclient.New(cf.endpoint, cf.token, adminclient.Options{
		HTTPClient: &http.Client{Timeout: cf.timeout}, UserAgent: "tollgate-cli",
	})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ErrUsage
	}
	a := &adminEnv{client: client, stdout: stdout, stderr: stderr, json: cf.output == "json", progress: isTerminal(stderr)}
	return run(ctx, a, pos)
}

// parseInterleaved parses flags that may come before, between or after
// the positional arguments ("keys list acme --all"), which flag.Parse
// alone stops at.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// usageError reports a bad argument or flag value (exit code 2).
func usageError(stderr io.Writer, format string, args ...any) error {
	fmt.Fprintf(stderr, format+"\n", args...)
	return ErrUsage
}

func groupUsage(w io.Writer, g group) {
	fmt.Fprintf(w, "tollgate %s — %s\n\nUsage:\n  tollgate %s <command> [flags]\n\nCommands:\n", g.name, g.summary, g.name)
	for _, c := range g.cmds {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'tollgate %s <command> -h' for a command's flags and examples.\n", g.name)
	fmt.Fprintf(w, "Every command reads the admin endpoint and token from TOLLGATE_ENDPOINT and\nTOLLGATE_ADMIN_TOKEN (or --endpoint and --token).\n")
}

func commandUsage(w io.Writer, name string, sc *subcommand, fs *flag.FlagSet) {
	args := ""
	if sc.args != "" {
		args = " " + sc.args
	}
	fmt.Fprintf(w, "Usage: %s%s [flags]\n\n%s.\n", name, args, sc.summary)
	if len(sc.examples) > 0 {
		fmt.Fprintf(w, "\nExamples:\n")
		for _, e := range sc.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	fmt.Fprintf(w, "\nFlags:\n")
	fs.PrintDefaults()
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// emitJSON writes v as indented JSON.
func (a *adminEnv) emitJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows under a header, aligned.
func (a *adminEnv) table(header string, rows [][]string) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// fields writes "name: value" lines, aligned, skipping empty values.
func (a *adminEnv) fields(kv ...string) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", kv[i], kv[i+1])
		}
	}
	return tw.Flush()
}

// listFlags page through a listing.
type listFlags struct {
	limit    int
	all      bool
	cursor   string
	progress bool
}

func (l *listFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&l.limit, "limit", 100, "page size, 1 to 1000: without --all, the most items shown")
	fs.BoolVar(&l.all, "all", false, "fetch every page")
	fs.StringVar(&l.cursor, "cursor", "", "continue a listing where a previous one stopped")
	fs.BoolVar(&l.progress, "progress", false, "show progress on stderr even when it is not a terminal")
}

// list fetches the first page, or every page with --all, and returns the
// items with the cursor of what remains ("" when nothing does). With
// progress on, it reports on stderr as pages arrive.
func list[T any](ctx context.Context, a *adminEnv, l listFlags, what string, fetch func(ctx context.Context, o adminclient.ListOptions) ([]T, string, error)) ([]T, string, error) {
	var items []T
	cursor := l.cursor
	a.progress = a.progress || l.progress
	defer a.progressDone()
	for page := 1; ; page++ {
		got, next, err := fetch(ctx, adminclient.ListOptions{Limit: l.limit, Cursor: cursor})
		if err != nil {
			return nil, "", err
		}
		items = append(items, got...)
		if next == "" || !l.all {
			return items, next, nil
		}
		a.progressf("fetched %d %s (%d pages)…", len(items), what, page)
		cursor = next
	}
}

// progressf shows a one-line status on stderr, overwritten by the next.
func (a *adminEnv) progressf(format string, args ...any) {
	if a.progress {
		fmt.Fprintf(a.stderr, "\r\033[K"+format, args...)
	}
}

func (a *adminEnv) progressDone() {
	if a.progress {
		fmt.Fprint(a.stderr, "\r\033[K")
	}
}

// moreHint tells a person how to see the rest of a listing.
func (a *adminEnv) moreHint(next string) {
	if next != "" && !a.json {
		fmt.Fprintf(a.stderr, "more results: add --all, or --cursor %s\n", next)
	}
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// csv splits a comma-separated flag value, dropping empty items.
func csv(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// kvFlag is a repeatable key=value flag.
type kvFlag struct {
	m   map[string]string
	set bool
}

func (k *kvFlag) String() string { return "" }

func (k *kvFlag) Set(v string) error {
	key, val, ok := strings.Cut(v, "=")
	if !ok || key == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	if k.m == nil {
		k.m = map[string]string{}
	}
	k.m[key] = val
	k.set = true
	return nil
}
