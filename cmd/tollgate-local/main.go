// Command tollgate-local runs the local multi-region stack (`make demo`):
// dynalite, the Bedrock simulator, one regional Tollgate per region, and a
// demo customer with an API key. Ctrl-C stops everything.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/tollgate-dev/tollgate/internal/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "tollgate-local:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	dir, err := filepath.Abs(".local")
	if err != nil {
		return err
	}
	// dynalite keeps its tables in memory, so each run starts from empty
	// tables; usage logs left by an earlier run would replay into them.
	if err := os.RemoveAll(filepath.Join(dir, "wal")); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		return err
	}
	fmt.Println("building tollgate …")
	bin, err := stack.Build(ctx, filepath.Join(dir, "bin"), false)
	if err != nil {
		return err
	}
	logPath := filepath.Join(dir, "regional.log")
	logs, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logs.Close()
	fmt.Println("starting dynalite, the Bedrock simulator and two regions …")
	s, err := stack.Start(ctx, stack.Options{Dir: dir, Binary: bin, Logs: logs, ServeArgs: []string{"--log-format", "console"}})
	if err != nil {
		return err
	}
	defer s.Close()
	demo, err := stack.SeedDemo(ctx, s)
	if err != nil {
		return err
	}
	stack.PrintBanner(os.Stdout, s, demo, logPath)
	<-ctx.Done()
	fmt.Println("\nstopping (draining regions, flushing usage) …")
	return nil
}
