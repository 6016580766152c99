// Package localddb starts dynalite, an in-memory server speaking the DynamoDB
// HTTP API, on a free loopback port. The local stack and the integration
// tests use it so that Tollgate's real DynamoDB client code runs against a
// real wire protocol; only the endpoint differs from production.
//
// dynalite is installed with npm from the repository's package.json into
// node_modules/ (scripts/deps.sh does it). Set TOLLGATE_DYNALITE to the path
// of dynalite's cli.js to use another copy.
package localddb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Server is a running dynalite process.
type Server struct {
	// Endpoint is the base URL to give the DynamoDB client.
	Endpoint string
	// Port is the loopback port it listens on.
	Port int

	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	once  sync.Once
	err   error
}

// Options tune Start. The zero value picks a free port.
type Options struct {
	// Port to listen on; 0 lets the kernel pick a free one.
	Port int
	// Stdout and Stderr receive dynalite's output; nil discards it.
	Stdout, Stderr *os.File
}

// FindCLI returns the path of dynalite's cli.js: $TOLLGATE_DYNALITE, or
// node_modules/dynalite/cli.js in the first parent directory of the working
// directory that has one.
func FindCLI() (string, error) {
	if p := os.Getenv("TOLLGATE_DYNALITE"); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "node_modules", "dynalite", "cli.js")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("dynalite not found: run scripts/deps.sh (npm ci) at the repository root, or set TOLLGATE_DYNALITE")
		}
		dir = parent
	}
}

// FreePort asks the kernel for a free loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launcher runs dynalite's own server code (the module that its cli.js
// wraps) on a port the kernel picks, and prints that port. Letting the
// kernel pick at bind time is what makes parallel test packages safe: a
// port chosen beforehand can be taken by another package's dynalite before
// this one binds it, and the two would then share one server.
//
// It also exits when its standard input closes, which happens when the Go
// process that started it dies, however it dies. (SysProcAttr.Pdeathsig
// would fire when the starting OS thread exits, which the Go runtime may do
// while the process lives on: dynalite then vanished in the middle of tests.)
const launcher = `const s = require(process.argv[1])({createTableMs: 0, deleteTableMs: 0, updateTableMs: 0});
s.on('error', e => { console.error(e.message); process.exit(1) });
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
s.listen(Number(process.argv[2]), '127.0.0.1', () => console.log('tollgate-dynalite-port ' + s.address().port));`

// Start launches dynalite in memory and returns once ListTables answers.
func Start(ctx context.Context, opts Options) (*Server, error) {
	cli, err := FindCLI()
	if err != nil {
		return nil, err
	}
	index := filepath.Join(filepath.Dir(cli), "index.js")
	cmd := exec.Command("node", "-e", launcher, index, strconv.Itoa(opts.Port))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// The write end stays open in this process for its whole life.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if opts.Stderr != nil {
		cmd.Stderr = opts.Stderr
	}
	// Own process group, so stopping it never leaves a node child behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	s := &Server{cmd: cmd, done: make(chan struct{}), stdin: stdin}
	portc := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var p int
			if _, err := fmt.Sscanf(sc.Text(), "tollgate-dynalite-port %d", &p); err == nil {
				portc <- p
			} else if opts.Stdout != nil {
				fmt.Fprintln(opts.Stdout, sc.Text())
			}
		}
		close(portc)
	}()
	go func() { s.err = cmd.Wait(); close(s.done) }()

	select {
	case p, ok := <-portc:
		if !ok {
			<-s.done
			return nil, fmt.Errorf("dynalite exited before listening: %v", s.err)
		}
		s.Port = p
	case <-ctx.Done():
		s.Stop()
		return nil, ctx.Err()
	case <-time.After(20 * time.Second):
		s.Stop()
		return nil, errors.New("dynalite did not start listening within 20s")
	}
	s.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", s.Port)

	client := s.Client()
	deadline := time.Now().Add(20 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := client.ListTables(cctx, &dynamodb.ListTablesInput{})
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("dynalite exited before answering: %v", s.err)
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("dynalite on port %d did not answer ListTables within 20s: %v", s.Port, err)
		}
	}
}

// Client returns a DynamoDB client for this server with dummy static
// credentials (dynalite checks the signature's shape only).
func (s *Server) Client() *dynamodb.Client {
	return NewClient(s.Endpoint)
}

// NewClient returns a DynamoDB client for a local endpoint.
func NewClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider("local", "local", ""),
		RetryMaxAttempts: 1,
	})
}

// Stop kills dynalite and waits for it to exit. It is safe to call twice.
func (s *Server) Stop() {
	s.once.Do(func() {
		_ = s.stdin.Close()
		if s.cmd.Process != nil {
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		}
		<-s.done
	})
}

// Pause stops the process (SIGSTOP) so that calls to it hang, as when
// DynamoDB is unreachable; Resume continues it. Used by outage drills.
func (s *Server) Pause() error  { return syscall.Kill(-s.cmd.Process.Pid, syscall.SIGSTOP) }
func (s *Server) Resume() error { return syscall.Kill(-s.cmd.Process.Pid, syscall.SIGCONT) }

// StartT starts dynalite for a test and stops it when the test ends. It
// fails the test (never skips) when dynalite cannot start: CI installs it.
func StartT(t testing.TB) *Server {
	t.Helper()
	s, err := Start(context.Background(), Options{Stderr: os.Stderr})
	if err != nil {
		t.Fatalf("localddb: %v", err)
	}
	t.Cleanup(func() {
		select {
		case <-s.done:
			// Gone before the test ended (and not paused): say so, so a
			// "connection refused" in the test has its cause next to it.
			t.Errorf("localddb: dynalite on port %d exited during the test: %v", s.Port, s.err)
		default:
		}
		s.Stop()
	})
	return s
}
