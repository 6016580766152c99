package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/internal/store"
)

// usageCmd prints a customer's usage for a period, summed over every
// region's and writer's components.
func usageCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tollgate usage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d ddbFlags
	d.register(fs)
	customer := fs.String("customer", "", "customer id (required)")
	from := fs.String("from", "", "start, inclusive: 2006-01-02 or RFC 3339 (default: start of this month, UTC)")
	to := fs.String("to", "", "end, exclusive: 2006-01-02 or RFC 3339 (default: now)")
	output := fs.String("output", "table", "output format: table or json")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: tollgate usage --customer ID [--from DATE] [--to DATE] [--output table|json]\n\nExample:\n  tollgate usage --customer acme --from 2026-12-01 --to 2027-01-01\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return ErrUsage
	}
	if err := rules.ValidateCustomerID(*customer); err != nil {
		fmt.Fprintln(stderr, "tollgate usage: --customer:", err)
		return ErrUsage
	}
	now := time.Now().UTC()
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	end := now
	var err error
	if *from != "" {
		if start, err = parseWhen(*from); err != nil {
			fmt.Fprintln(stderr, "tollgate usage: --from:", err)
			return ErrUsage
		}
	}
	if *to != "" {
		if end, err = parseWhen(*to); err != nil {
			fmt.Fprintln(stderr, "tollgate usage: --to:", err)
			return ErrUsage
		}
	}
	if !end.After(start) {
		fmt.Fprintln(stderr, "tollgate usage: --to must be after --from")
		return ErrUsage
	}
	s, err := d.store(ctx)
	if err != nil {
		return err
	}
	total, comps, err := s.CustomerUsage(ctx, *customer, start, end)
	if err != nil {
		return fmt.Errorf("read usage of %q: %w", *customer, err)
	}
	byModel := map[string]*store.UsageCounts{}
	for i := range comps {
		m := comps[i].Model
		if byModel[m] == nil {
			byModel[m] = &store.UsageCounts{}
		}
		byModel[m].Add(&comps[i].UsageCounts)
	}
	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"customer_id": *customer, "from": start, "to": end,
			"total": total, "by_model": byModel, "components": len(comps),
		})
	}
	models := make([]string, 0, len(byModel))
	for m := range byModel {
		models = append(models, m)
	}
	sort.Strings(models)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(stdout, "usage of %s from %s to %s (%d components)\n", *customer, start.Format(time.RFC3339), end.Format(time.RFC3339), len(comps))
	fmt.Fprintln(tw, "MODEL\tREQUESTS\tERRORS\tINPUT\tOUTPUT\tCACHE READ\tCACHE WRITE\t")
	row := func(name string, c *store.UsageCounts) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", name, c.Requests, c.Errors, c.InputTokens, c.OutputTokens, c.CacheReadTokens, c.CacheWriteTokens)
	}
	for _, m := range models {
		row(m, byModel[m])
	}
	row("TOTAL", &total)
	return tw.Flush()
}

func parseWhen(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither 2006-01-02 nor RFC 3339", s)
	}
	return t.UTC(), nil
}
