// Package cli is the `tollgate` command: one binary for the regional
// server, table bootstrap, and operator commands.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/regional/server"
)

const usageText = `tollgate — a multi-region gateway in front of Amazon Bedrock

Usage:
  tollgate <command> [flags]

Commands:
  serve       run a regional data-plane process
  bootstrap   create Tollgate's DynamoDB tables (idempotent)
  usage       show a customer's metered usage for a period
  customers   manage customers through the admin API
  keys        manage API keys through the admin API
  audit       read the admin API's audit log
  completion  print a bash or zsh completion script
  help        show this help

Run 'tollgate <command> -h' for a command's flags.

Examples:
  tollgate bootstrap --dynamodb-endpoint http://127.0.0.1:8000
  tollgate serve --region us-east-1 --tls-cert cert.pem --tls-key key.pem
  tollgate usage --customer acme --from 2026-12-01 --to 2026-12-31
  TOLLGATE_ENDPOINT=http://127.0.0.1:9443 TOLLGATE_ADMIN_TOKEN=… tollgate customers list
  source <(tollgate completion bash)
`

// ErrUsage marks a command-line mistake (exit code 2).
var ErrUsage = errors.New("usage error")

// Main runs the tollgate command with args (without the program name).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return ErrUsage
	}
	switch args[0] {
	case "serve":
		return server.Main(ctx, args[1:], stdout, stderr)
	case "bootstrap":
		return bootstrap(ctx, args[1:], stdout, stderr)
	case "usage":
		return usageCmd(ctx, args[1:], stdout, stderr)
	case "customers", "keys", "audit":
		for _, g := range adminGroups() {
			if g.name == args[0] {
				return runGroup(ctx, g, args[1:], stdout, stderr)
			}
		}
		return ErrUsage
	case "completion":
		return completionCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usageText)
		return nil
	default:
		fmt.Fprintf(stderr, "tollgate: unknown command %q\n\n%s", args[0], usageText)
		return ErrUsage
	}
}

// ddbFlags are the flags of commands that talk to DynamoDB directly.
type ddbFlags struct {
	endpoint, prefix, region string
}

func (d *ddbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.endpoint, "dynamodb-endpoint", os.Getenv("TOLLGATE_DYNAMODB_ENDPOINT"), "DynamoDB base URL override (local development)")
	fs.StringVar(&d.prefix, "table-prefix", envOr("TOLLGATE_TABLE_PREFIX", store.DefaultPrefix), "DynamoDB table-name prefix")
	fs.StringVar(&d.region, "region", envOr("AWS_REGION", "us-east-1"), "AWS region of the tables")
}

func (d *ddbFlags) store(ctx context.Context) (*store.Store, error) {
	opts := []func(*config.LoadOptions) error{config.WithRegion(d.region)}
	if d.endpoint != "" && os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		// Local endpoints only check the signature's shape.
		opts = append(opts, config.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local", Source: "tollgate-local"}, nil
		})))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if d.endpoint != "" {
			o.BaseEndpoint = aws.String(d.endpoint)
		}
	})
	return store.New(db, d.prefix), nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func bootstrap(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tollgate bootstrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d ddbFlags
	d.register(fs)
	if err := fs.Parse(args); err != nil {
		return ErrUsage
	}
	s, err := d.store(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := s.Bootstrap(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tables ready: %s, %s\n", s.Tables.Config, s.Tables.Usage)
	return nil
}
