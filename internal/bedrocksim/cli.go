package bedrocksim

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
)

// Main is the bedrock-sim command: it parses args, starts the simulator,
// prints the endpoints to stdout, logs requests to stderr and runs until ctx
// ends. A -h/--help request returns flag.ErrHelp after printing usage.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, opts, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	switch opts.logFormat {
	case "console":
		cfg.Logger = zerolog.New(zerolog.ConsoleWriter{Out: stderr, NoColor: !isTerminal(stderr)}).With().Timestamp().Logger()
	default:
		cfg.Logger = zerolog.New(stderr).With().Timestamp().Logger()
	}
	sim, err := Start(cfg)
	if err != nil {
		return err
	}
	defer sim.Close()
	if opts.caOut != "" {
		if err := os.WriteFile(opts.caOut, sim.CertificatePEM(), 0o644); err != nil {
			return fmt.Errorf("write --ca-out: %w", err)
		}
	}
	if err := printEndpoints(stdout, sim, opts.logFormat); err != nil {
		return err
	}
	<-ctx.Done()
	return sim.Close()
}

// isTerminal tells whether w is a character device, where colours help;
// in files and pipes they are noise.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

type cliOptions struct {
	logFormat string
	caOut     string
}

// parseFlags turns args into a Config, reporting every problem at once.
func parseFlags(args []string, stderr io.Writer) (Config, cliOptions, error) {
	fs := flag.NewFlagSet("bedrock-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		regions     = fs.String("regions", "us-east-1,us-west-2", "comma-separated regions, one listener each")
		addr        = fs.String("addr", "127.0.0.1", "host the listeners bind to")
		portBase    = fs.Int("port-base", 0, "region i listens on port-base+i; 0 = free ports")
		controlPort = fs.Int("control-port", 0, "control API port; 0 = a free port")
		useTLS      = fs.Bool("tls", false, "serve HTTPS with an in-memory self-signed certificate")
		caOut       = fs.String("ca-out", "", "with --tls, write the certificate (PEM) to this file")
		logFormat   = fs.String("log-format", "json", "json or console; also selects the endpoint banner format")
		faultSpecs  []string
		credentials = map[string]string{}
		errs        []error
	)
	fs.Func("fault", "REGION=SPEC, repeatable; SPEC e.g. throttle:0.5,delay=100ms or refuse (see docs/simulator.md)", func(v string) error {
		faultSpecs = append(faultSpecs, v)
		return nil
	})
	fs.Func("credentials", "AKID:SECRET, repeatable; verify SigV4 signatures with these keys", func(v string) error {
		id, secret, ok := strings.Cut(v, ":")
		if !ok || id == "" || secret == "" {
			return errors.New("want AKID:SECRET")
		}
		credentials[id] = secret
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return Config{}, cliOptions{}, err
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %q", fs.Args()))
	}
	cfg := Config{Addr: *addr, TLS: *useTLS, Credentials: credentials, Faults: map[string]Fault{}}
	for _, r := range strings.Split(*regions, ",") {
		if r = strings.TrimSpace(r); r != "" {
			cfg.Regions = append(cfg.Regions, r)
		}
	}
	if *portBase < 0 || *portBase+len(cfg.Regions) > 65536 {
		errs = append(errs, fmt.Errorf("--port-base %d: out of range", *portBase))
	} else if *portBase > 0 {
		cfg.Ports = map[string]int{}
		for i, r := range cfg.Regions {
			cfg.Ports[r] = *portBase + i
		}
	}
	if *controlPort < 0 || *controlPort > 65535 {
		errs = append(errs, fmt.Errorf("--control-port %d: out of range", *controlPort))
	} else {
		cfg.ControlAddr = net.JoinHostPort(*addr, strconv.Itoa(*controlPort))
	}
	if *logFormat != "json" && *logFormat != "console" {
		errs = append(errs, fmt.Errorf("--log-format %q: want json or console", *logFormat))
	}
	if *caOut != "" && !*useTLS {
		errs = append(errs, errors.New("--ca-out needs --tls"))
	}
	// Several --fault flags for one region merge in order: later items win.
	specs := map[string][]string{}
	for _, v := range faultSpecs {
		r, spec, ok := strings.Cut(v, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("--fault %q: want REGION=SPEC", v))
			continue
		}
		specs[r] = append(specs[r], spec)
	}
	for r, ss := range specs {
		f, err := ParseFaultSpec(strings.Join(ss, ","))
		if err != nil {
			errs = append(errs, fmt.Errorf("--fault %s: %w", r, err))
			continue
		}
		cfg.Faults[r] = f
	}
	if _, err := cfg.withDefaults(); err != nil {
		errs = append(errs, err)
	}
	return cfg, cliOptions{logFormat: *logFormat, caOut: *caOut}, errors.Join(errs...)
}

// Banner is the JSON line bedrock-sim prints on stdout once it listens.
type Banner struct {
	Regions map[string]string `json:"regions"`
	Control string            `json:"control"`
	TLS     bool              `json:"tls"`
}

func printEndpoints(w io.Writer, sim *Sim, format string) error {
	b := Banner{Regions: map[string]string{}, Control: sim.ControlURL(), TLS: sim.CertPool() != nil}
	for _, r := range sim.Regions() {
		b.Regions[r] = sim.URL(r)
	}
	if format == "json" {
		return json.NewEncoder(w).Encode(b)
	}
	var sb strings.Builder
	for _, r := range sim.Regions() {
		fmt.Fprintf(&sb, "region  %-16s %s\n", r, b.Regions[r])
	}
	fmt.Fprintf(&sb, "control %-16s %s\n", "", b.Control)
	_, err := io.WriteString(w, sb.String())
	return err
}
