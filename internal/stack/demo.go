package stack

import (
	"context"
	"fmt"
	"io"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/rules"
)

// Demo is the customer and key the local stack seeds.
type Demo struct {
	CustomerID string
	Key        string
}

// DemoModel is the model the printed examples call.
const DemoModel = "anthropic.claude-3-5-sonnet-20240620-v1:0"

// SeedDemo creates the demo customer and a fresh key for it through the
// first region's admin API, as an operator would.
func SeedDemo(ctx context.Context, s *Stack) (Demo, error) {
	c, err := s.AdminClient(s.Regions[0].Region)
	if err != nil {
		return Demo{}, err
	}
	cu, err := c.CreateCustomer(ctx, adminclient.CreateCustomerRequest{
		ID: "demo", Name: "Demo customer", Contact: "demo@example.com", Tier: "standard",
		AllowedModels: []string{"anthropic.*", "amazon.*", "meta.*"},
		Limits:        &rules.Limits{RequestsPerMinute: 600, TokensPerMinute: 200_000},
	})
	if err != nil {
		return Demo{}, fmt.Errorf("create the demo customer: %w", err)
	}
	k, err := c.CreateKey(ctx, cu.ID, adminclient.CreateKeyRequest{Description: "make demo"})
	if err != nil {
		return Demo{}, fmt.Errorf("create the demo key: %w", err)
	}
	return Demo{CustomerID: cu.ID, Key: k.Secret}, nil
}

// PrintBanner tells a person what runs where and how to call it.
func PrintBanner(w io.Writer, s *Stack, d Demo, logPath string) {
	fmt.Fprintf(w, "\nTollgate local stack is up.\n\n")
	fmt.Fprintf(w, "  dynalite (DynamoDB)   %s  tables %s, %s\n", s.DDB.Endpoint, s.Store.Tables.Config, s.Store.Tables.Usage)
	fmt.Fprintf(w, "  simulator control     %s  (GET /counters, PUT /faults/{region})\n", s.Sim.ControlURL())
	for _, r := range s.Regions {
		fmt.Fprintf(w, "  region %-14s data plane %s  ops %s  admin %s  Bedrock sim %s\n", r.Region, r.URL, r.OpsURL, r.AdminURL, s.Sim.URL(r.Region))
	}
	fmt.Fprintf(w, "  regional logs         %s\n", logPath)
	fmt.Fprintf(w, "  TLS: clients trust    %s\n\n", s.TLS.CA)
	fmt.Fprintf(w, "Demo customer %q, API key (shown once):\n  %s\n\n", d.CustomerID, d.Key)
	r := s.Regions[0]
	fmt.Fprintf(w, "Call Converse with curl:\n")
	fmt.Fprintf(w, "  curl --cacert %s -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n", s.TLS.CA, d.Key)
	fmt.Fprintf(w, "    %s/model/%s/converse \\\n", r.URL, rules.EscapeModelID(DemoModel))
	fmt.Fprintf(w, "    -d '{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"Hello from the demo\"}]}]}'\n\n")
	fmt.Fprintf(w, "Or with any AWS SDK (Go shown; Python/JS read the same variables):\n")
	fmt.Fprintf(w, "  export AWS_BEARER_TOKEN_BEDROCK=%s AWS_REGION=%s AWS_CA_BUNDLE=%s\n", d.Key, r.Region, s.TLS.CA)
	fmt.Fprintf(w, "  client := bedrockruntime.NewFromConfig(cfg, func(o *bedrockruntime.Options) { o.BaseEndpoint = aws.String(%q) })\n\n", r.URL)
	fmt.Fprintf(w, "Manage customers and keys with the CLI (admin token valid for this run only):\n")
	fmt.Fprintf(w, "  export TOLLGATE_ENDPOINT=%s TOLLGATE_ADMIN_TOKEN=%s\n", r.AdminURL, s.AdminToken)
	fmt.Fprintf(w, "  %[1]s customers list\n  %[1]s keys create %[2]s --expires-in 30d\n  %[1]s usage --customer %[2]s --dynamodb-endpoint %[3]s\n\n", s.opts.Binary, d.CustomerID, s.DDB.Endpoint)
	fmt.Fprintf(w, "Press Ctrl-C to stop.\n")
}
