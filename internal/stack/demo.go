package stack

import (
	"context"
	"fmt"
	"io"

	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/internal/store"
)

// Demo is the customer and key the local stack seeds.
type Demo struct {
	CustomerID string
	Key        string
}

// DemoModel is the model the printed examples call.
const DemoModel = "anthropic.claude-3-5-sonnet-20240620-v1:0"

// SeedDemo creates the demo customer and a fresh key for it.
func SeedDemo(ctx context.Context, s *Stack) (Demo, error) {
	c := &store.Customer{
		ID: "demo", Name: "Demo customer", Contact: "demo@example.com",
		Status: rules.CustomerActive, Tier: "standard",
		AllowedModels: []string{"anthropic.*", "amazon.*", "meta.*"},
		Limits:        rules.Limits{RequestsPerMinute: 600, TokensPerMinute: 200_000},
	}
	if err := s.Store.PutCustomer(ctx, c); err != nil {
		return Demo{}, err
	}
	secret, k, err := store.NewKey(c.ID, "make demo", nil)
	if err != nil {
		return Demo{}, err
	}
	if err := s.Store.PutKey(ctx, k); err != nil {
		return Demo{}, err
	}
	return Demo{CustomerID: c.ID, Key: secret}, nil
}

// PrintBanner tells a person what runs where and how to call it.
func PrintBanner(w io.Writer, s *Stack, d Demo, logPath string) {
	fmt.Fprintf(w, "\nTollgate local stack is up.\n\n")
	fmt.Fprintf(w, "  dynalite (DynamoDB)   %s  tables %s, %s\n", s.DDB.Endpoint, s.Store.Tables.Config, s.Store.Tables.Usage)
	fmt.Fprintf(w, "  simulator control     %s  (GET /counters, PUT /faults/{region})\n", s.Sim.ControlURL())
	for _, r := range s.Regions {
		fmt.Fprintf(w, "  region %-14s data plane %s  ops %s  Bedrock sim %s\n", r.Region, r.URL, r.OpsURL, s.Sim.URL(r.Region))
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
	fmt.Fprintf(w, "Press Ctrl-C to stop.\n")
}
