// Package stack runs Tollgate's local multi-region stack: dynalite, the
// Bedrock simulator with one listener per region, and one real `tollgate
// serve` process per region, all on loopback. `make demo` and the
// cross-component tests in test/ both use it, so what a newcomer runs is what
// the tests exercise.
package stack

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/bedrocksim"
	"github.com/tollgate-dev/tollgate/internal/devcert"
	"github.com/tollgate-dev/tollgate/internal/localddb"
	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/regional/admin"
)

// Options configure a stack. Zero values mean the documented defaults.
type Options struct {
	// Regions served; default us-east-1 and us-west-2.
	Regions []string
	// Dir keeps TLS files and each region's write-ahead log. Required.
	Dir string
	// Binary is the tollgate executable; see Build.
	Binary string
	// TablePrefix of the DynamoDB tables; default "tollgate-".
	TablePrefix string
	// Logs receives the regional processes' output; nil discards it.
	Logs io.Writer
	// ServeArgs are extra `tollgate serve` flags for every region.
	ServeArgs []string
	// Sim tunes the simulator (Regions is overwritten).
	Sim bedrocksim.Config
	// InstancesPerRegion is the number of `tollgate serve` processes per
	// region, as behind a load balancer; default 1. Regions holds the
	// first of each region, Instances all of them.
	InstancesPerRegion int
}

// Stack is a running local stack.
type Stack struct {
	DDB     *localddb.Server
	Sim     *bedrocksim.Sim
	Store   *store.Store
	TLS     devcert.Files
	Regions []*Regional
	// AdminToken is accepted by every region's admin API; the regions
	// only get its SHA-256.
	AdminToken string
	opts       Options
	// extra holds each region's instances after the first.
	extra map[string][]*Regional
}

// Regional is one `tollgate serve` process.
type Regional struct {
	Region string
	// URL is the HTTPS data-plane base URL; OpsURL serves health and
	// metrics.
	URL, OpsURL string
	// AdminURL is the plain-HTTP admin API base URL.
	AdminURL string
	WALDir   string
	args     []string
	opts     *Options

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Build compiles ./cmd/tollgate into dir and returns the binary's path. It
// must run inside the module.
func Build(ctx context.Context, dir string, race bool) (string, error) {
	out := filepath.Join(dir, "tollgate")
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	args = append(args, "github.com/tollgate-dev/tollgate/cmd/tollgate")
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build tollgate: %w", err)
	}
	return out, nil
}

// Start brings the stack up and returns once every region is ready.
func Start(ctx context.Context, o Options) (*Stack, error) {
	if len(o.Regions) == 0 {
		o.Regions = []string{"us-east-1", "us-west-2"}
	}
	if o.TablePrefix == "" {
		o.TablePrefix = store.DefaultPrefix
	}
	if o.Dir == "" || o.Binary == "" {
		return nil, errors.New("stack: Dir and Binary are required")
	}
	s := &Stack{opts: o}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	var err error
	if s.TLS, err = devcert.Ensure(filepath.Join(o.Dir, "tls")); err != nil {
		return nil, fmt.Errorf("TLS files: %w", err)
	}
	if s.DDB, err = localddb.Start(ctx, localddb.Options{}); err != nil {
		return nil, err
	}
	s.Store = store.New(s.DDB.Client(), o.TablePrefix)
	if err := s.Store.Bootstrap(ctx); err != nil {
		return nil, err
	}
	if s.AdminToken, err = newAdminToken(); err != nil {
		return nil, err
	}
	simCfg := o.Sim
	simCfg.Regions = o.Regions
	if simCfg.Credentials == nil {
		// The simulator recomputes every SigV4 signature with these, so
		// the tests prove Tollgate signs exactly as the AWS SDKs do.
		simCfg.Credentials = map[string]string{LocalAccessKeyID: LocalSecretKey}
	}
	if s.Sim, err = bedrocksim.Start(simCfg); err != nil {
		return nil, err
	}
	for _, region := range o.Regions {
		r, err := s.startRegional(ctx, region)
		if err != nil {
			return nil, err
		}
		s.Regions = append(s.Regions, r)
		for n := 1; n < o.InstancesPerRegion; n++ {
			x, err := s.startInstance(ctx, region, n)
			if err != nil {
				return nil, err
			}
			if s.extra == nil {
				s.extra = map[string][]*Regional{}
			}
			s.extra[region] = append(s.extra[region], x)
		}
	}
	ok = true
	return s, nil
}

// Region returns the regional process of a region.
func (s *Stack) Region(name string) *Regional {
	for _, r := range s.Regions {
		if r.Region == name {
			return r
		}
	}
	return nil
}

// Instances returns every process of a region, the one Region returns
// first.
func (s *Stack) Instances(region string) []*Regional {
	r := s.Region(region)
	if r == nil {
		return nil
	}
	return append([]*Regional{r}, s.extra[region]...)
}

func (s *Stack) startRegional(ctx context.Context, region string) (*Regional, error) {
	return s.startInstance(ctx, region, 0)
}

// startInstance starts instance n of a region; each has its own ports and
// write-ahead log (instance 0 keeps wal/<region>).
// startInstance starts one instance on free ports. A port is chosen
// before the process binds it, so another process may take it in between;
// the start is then retried on new ports.
func (s *Stack) startInstance(ctx context.Context, region string, n int) (*Regional, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var r *Regional
		if r, err = s.tryInstance(ctx, region, n); err == nil || !errors.Is(err, errExitedAtStart) {
			return r, err
		}
	}
	return nil, err
}

func (s *Stack) tryInstance(ctx context.Context, region string, n int) (*Regional, error) {
	port, err := localddb.FreePort()
	if err != nil {
		return nil, err
	}
	ops, err := localddb.FreePort()
	if err != nil {
		return nil, err
	}
	adm, err := localddb.FreePort()
	if err != nil {
		return nil, err
	}
	r := &Regional{
		Region:   region,
		URL:      "https://127.0.0.1:" + strconv.Itoa(port),
		OpsURL:   "http://127.0.0.1:" + strconv.Itoa(ops),
		AdminURL: "http://127.0.0.1:" + strconv.Itoa(adm),
		WALDir:   filepath.Join(s.opts.Dir, "wal", instanceDir(region, n)),
		opts:     &s.opts,
	}
	var others, endpoints []string
	for _, o := range s.opts.Regions {
		endpoints = append(endpoints, o+"="+s.Sim.URL(o))
		if o != region {
			others = append(others, o)
		}
	}
	r.args = append([]string{"serve",
		"--region", region,
		"--listen", "127.0.0.1:" + strconv.Itoa(port),
		"--ops-listen", "127.0.0.1:" + strconv.Itoa(ops),
		"--tls-cert", s.TLS.Cert, "--tls-key", s.TLS.Key,
		"--bedrock-endpoint", s.Sim.URL(region),
		"--dynamodb-endpoint", s.DDB.Endpoint,
		"--table-prefix", s.opts.TablePrefix,
		"--wal-dir", r.WALDir,
		"--bedrock-endpoints", strings.Join(endpoints, ","),
		"--failover-regions", strings.Join(others, ","),
		"--admin-listen", "127.0.0.1:" + strconv.Itoa(adm),
		"--admin-token-hashes", "stack:" + admin.HashToken(s.AdminToken),
	}, s.opts.ServeArgs...)
	return r, r.Start(ctx)
}

// Start (re)starts the process and waits until /readyz answers 200.
func (r *Regional) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cmd := exec.Command(r.opts.Binary, r.args...)
	cmd.Env = append(os.Environ(),
		// The simulator checks SigV4's shape; these static credentials
		// stand in for the default chain of a real deployment.
		"AWS_ACCESS_KEY_ID="+LocalAccessKeyID, "AWS_SECRET_ACCESS_KEY="+LocalSecretKey,
		"AWS_EC2_METADATA_DISABLED=true")
	if r.opts.Logs != nil {
		cmd.Stdout, cmd.Stderr = r.opts.Logs, r.opts.Logs
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", r.Region, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.cmd, r.done = cmd, done

	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		resp, err := client.Get(r.OpsURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("tollgate serve for %s: %w (see its log)", r.Region, errExitedAtStart)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
	return fmt.Errorf("tollgate serve for %s not ready after 30s", r.Region)
}

// The static AWS credentials of the local stack: regional processes sign
// with them, and the simulator verifies signatures against them.
const (
	LocalAccessKeyID = "AKIDLOCAL"
	LocalSecretKey   = "local-secret"
)

var errExitedAtStart = errors.New("exited during start-up")

// Kill sends SIGKILL (a crash) and waits for the process to be gone.
func (r *Regional) Kill() { r.signal(syscall.SIGKILL) }

// Stop sends SIGTERM (drain and flush) and waits for the exit.
func (r *Regional) Stop() { r.signal(syscall.SIGTERM) }

func (r *Regional) signal(sig syscall.Signal) {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	<-done
}

// Close stops everything.
func (s *Stack) Close() {
	for _, r := range s.Regions {
		r.Stop()
	}
	for _, rs := range s.extra {
		for _, r := range rs {
			r.Stop()
		}
	}
	if s.Sim != nil {
		_ = s.Sim.Close()
	}
	if s.DDB != nil {
		s.DDB.Stop()
	}
}

// HTTPClient trusts the stack's local CA.
func (s *Stack) HTTPClient() (*http.Client, error) {
	pool, err := devcert.Pool(s.TLS.CA)
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool}
	t.MaxIdleConnsPerHost = 256
	return &http.Client{Transport: t}, nil
}

// AdminClient is an admin API client of a region, with the stack's token.
func (s *Stack) AdminClient(region string) (*adminclient.Client, error) {
	r := s.Region(region)
	if r == nil {
		return nil, fmt.Errorf("stack: no region %q", region)
	}
	return adminclient.New(r.AdminURL, s.AdminToken, adminclient.Options{})
}

// newAdminToken returns a random admin token (256 bits, hex).
func newAdminToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

func instanceDir(region string, n int) string {
	if n == 0 {
		return region
	}
	return region + "-" + strconv.Itoa(n)
}
