package cli

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/rules"
)

// `tollgate customers …`: customers through the admin API.

func customersGroup() group {
	return group{name: "customers", summary: "manage customers: who may call which models, within which limits", cmds: []subcommand{
		{name: "create", summary: "Create a customer", flags: customersCreate, examples: []string{
			`tollgate customers create --id acme --name "Acme Corp" --models "anthropic.*,amazon.*" --rpm 600 --tpm 200000`,
			`tollgate customers create --name "Trial" --models "*" --tier trial --tag team=growth --output json`,
		}},
		{name: "get", args: "ID", nargs: 1, summary: "Show a customer", flags: customersGet, examples: []string{
			"tollgate customers get acme",
		}},
		{name: "list", summary: "List customers in id order, one page or --all", flags: customersList, examples: []string{
			"tollgate customers list --status active",
			"tollgate customers list --tier gold --all --output json",
			"tollgate customers list --limit 50 --cursor <next_cursor from a previous page>",
		}},
		{name: "update", args: "ID", nargs: 1, summary: "Change some of a customer's fields (the others stay)", flags: customersUpdate, examples: []string{
			"tollgate customers update acme --rpm 1200",
			`tollgate customers update acme --models "anthropic.*" --version 4`,
		}},
		{name: "suspend", args: "ID", nargs: 1, summary: "Suspend a customer: its keys stop working within the regions' key cache TTL", flags: statusCmd((*adminclient.Client).SuspendCustomer), examples: []string{
			"tollgate customers suspend acme",
		}},
		{name: "reactivate", args: "ID", nargs: 1, summary: "Make a suspended customer active again", flags: statusCmd((*adminclient.Client).ReactivateCustomer), examples: []string{
			"tollgate customers reactivate acme",
		}},
		{name: "delete", args: "ID", nargs: 1, summary: "Soft-delete a customer and revoke all its keys (usage is kept)", flags: customersDelete, examples: []string{
			"tollgate customers delete acme --yes",
		}},
	}}
}

// customerFlags are the settable fields of a customer.
type customerFlags struct {
	name, contact, tier, status, models string
	rpm, tpm, monthlyTokens             int64
	monthlyCost                         float64
	tags                                kvFlag
}

func (c *customerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.name, "name", "", "display name")
	fs.StringVar(&c.contact, "contact", "", "contact, e.g. an e-mail address")
	fs.StringVar(&c.tier, "tier", "", "tier name (lower-case letters, digits, - and _)")
	fs.StringVar(&c.status, "status", "", "active or suspended")
	fs.StringVar(&c.models, "models", "", `comma-separated allowed model patterns: "anthropic.*,amazon.*", "*" for all, "" for none`)
	fs.Int64Var(&c.rpm, "rpm", 0, "requests per minute (0: no limit)")
	fs.Int64Var(&c.tpm, "tpm", 0, "tokens per minute (0: no limit)")
	fs.Int64Var(&c.monthlyTokens, "monthly-tokens", 0, "monthly token budget (0: no limit)")
	fs.Float64Var(&c.monthlyCost, "monthly-cost", 0, "monthly cost budget in USD (0: no limit)")
	fs.Var(&c.tags, "tag", "tag key=value; repeat for several (replaces all tags)")
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

var limitFlags = []string{"rpm", "tpm", "monthly-tokens", "monthly-cost"}

func customersCreate(fs *flag.FlagSet) func(context.Context, *adminEnv, []string) error {
	var cf customerFlags
	cf.register(fs)
	id := fs.String("id", "", "customer id (2-63 lower-case letters, digits, '-'); generated when empty")
	return func(ctx context.Context, a *adminEnv, _ []string) error {
		set := setFlags(fs)
		req := adminclient.CreateCustomerRequest{
			ID: *id, Name: cf.name, Contact: cf.contact, Status: cf.status, Tier: cf.tier, Tags: cf.tags.m,
		}
		if set["models"] {
			req.AllowedModels = csv(cf.models)
		}
		for _, n := range limitFlags {
			if set[n] {
				req.Limits = &rules.Limits{RequestsPerMinute: cf.rpm, TokensPerMinute: cf.tpm, MonthlyTokenBudget: cf.monthlyTokens, MonthlyCostBudgetUSD: cf.monthlyCost}
			}
		}
		c, err := a.client.CreateCustomer(ctx, req)
		if err != nil {
			return err
		}
		return a.printCustomer(c)
	}
}

func customersGet(fs *flag.FlagSet) func(context.Context, *adminEnv, []string) error {
	return func(ctx context.Context, a *adminEnv, args []string) error {
		c, err := a.client.GetCustomer(ctx, args[0])
		if err != nil {
			return err
		}
		return a.printCustomer(c)
	}
}

func customersList(fs *flag.FlagSet) func(context.Context, *adminEnv, []string) error {
	var l listFlags
	l.register(fs)
	status := fs.String("status", "", "only customers with this status: active, suspended or deleted")
	tier := fs.String("tier", "", "only customers of this tier")
	return func(ctx context.Context, a *adminEnv, _ []string) error {
		cs, next, err := list(ctx, a, l, "customers", func(ctx context.Context, o adminclient.ListOptions) ([]adminclient.Customer, string, error) {
			p, err := a.client.ListCustomers(ctx, adminclient.ListCustomersOptions{Status: *status, Tier: *tier, Limit: o.Limit, Cursor: o.Cursor})
			if err != nil {
				return nil, "", err
			}
			return p.Customers, p.NextCursor, nil
		})
		if err != nil {
			return err
		}
		if a.json {
			return a.emitJSON(adminclient.CustomerPage{Customers: cs, NextCursor: next})
		}
		rows := make([][]string, 0, len(cs))
		for _, c := range cs {
			rows = append(rows, []string{c.ID, c.Name, c.Status, dash(c.Tier), dash(strings.Join(c.AllowedModels, ",")),
				limit(c.Limits.RequestsPerMinute), limit(c.Limits.TokensPerMinute), strconv.FormatInt(c.Version, 10)})
		}
		if err := a.table("ID\tNAME\tSTATUS\tTIER\tMODELS\tRPM\tTPM\tVERSION", rows); err != nil {
			return err
		}
		a.moreHint(next)
		return nil
	}
}

func customersUpdate(fs *flag.FlagSet) func(context.Context, *adminEnv, []string) error {
	var cf customerFlags
	cf.register(fs)
	version := fs.Int64("version", 0, "the version the change is based on (from 'customers get'); 0 reads the current one first")
	return func(ctx context.Context, a *adminEnv, args []string) error {
		set := setFlags(fs)
		var p adminclient.PatchCustomerRequest
		str := func(flagName string, v string) *string {
			if set[flagName] {
				return &v
			}
			return nil
		}
		p.Name, p.Contact, p.Tier, p.Status = str("name", cf.name), str("contact", cf.contact), str("tier", cf.tier), str("status", cf.status)
		if set["models"] {
			m := csv(cf.models)
			p.AllowedModels = &m
		}
		if set["tag"] {
			p.Tags = &cf.tags.m
		}
		var lp adminclient.LimitsPatch
		if set["rpm"] {
			lp.RequestsPerMinute = &cf.rpm
		}
		if set["tpm"] {
			lp.TokensPerMinute = &cf.tpm
		}
		if set["monthly-tokens"] {
			lp.MonthlyTokenBudget = &cf.monthlyTokens
		}
		if set["monthly-cost"] {
			lp.MonthlyCostBudgetUSD = &cf.monthlyCost
		}
		if lp != (adminclient.LimitsPatch{}) {
			p.Limits = &lp
		}
		if p == (adminclient.PatchCustomerRequest{}) {
			return usageError(a.stderr, "tollgate customers update: nothing to change; give at least one of --name, --contact, --tier, --status, --models, --tag, --rpm, --tpm, --monthly-tokens, --monthly-cost")
		}
		p.Version = *version
		if p.Version == 0 {
			// Read-modify-write: the update is still conditional on
			// the version read here, so a concurrent change is a 409.
			cur, err := a.client.GetCustomer(ctx, args[0])
			if err != nil {
				return err
			}
			p.Version = cur.Version
		}
		c, err := a.client.PatchCustomer(ctx, args[0], p)
		if err != nil {
			return err
		}
		return a.printCustomer(c)
	}
}

// statusCmd builds suspend and reactivate.
func statusCmd(op func(*adminclient.Client, context.Context, string, int64) (*adminclient.Customer, error)) func(*flag.FlagSet) func(context.Context, *adminEnv, []string) error {
	return func(fs *flag.FlagSet) func(context.Context, *adminEnv, []string) error {
		version := fs.Int64("version", 0, "apply only to this version (0: whatever is current)")
		return func(ctx context.Context, a *adminEnv, args []string) error {
			c, err := op(a.client, ctx, args[0], *version)
			if err != nil {
				return err
			}
			return a.printCustomer(c)
		}
	}
}

func customersDelete(fs *flag.FlagSet) func(context.Context, *adminEnv, []string) error {
	version := fs.Int64("version", 0, "delete only this version (0: whatever is current)")
	yes := fs.Bool("yes", false, "confirm: the customer's keys are revoked, which cannot be undone")
	return func(ctx context.Context, a *adminEnv, args []string) error {
		if !*yes {
			return usageError(a.stderr, "tollgate customers delete: add --yes to confirm (the customer is kept as deleted, its usage stays, and every key of it is revoked for good)")
		}
		c, err := a.client.DeleteCustomer(ctx, args[0], *version)
		if err != nil {
			return err
		}
		return a.printCustomer(c)
	}
}

func (a *adminEnv) printCustomer(c *adminclient.Customer) error {
	if a.json {
		return a.emitJSON(c)
	}
	var tags []string
	for _, k := range slices.Sorted(maps.Keys(c.Tags)) {
		tags = append(tags, k+"="+c.Tags[k])
	}
	models := strings.Join(c.AllowedModels, ", ")
	if models == "" {
		models = "(none)"
	}
	return a.fields(
		"id", c.ID, "name", c.Name, "contact", c.Contact, "status", c.Status, "tier", c.Tier,
		"allowed models", models,
		"requests/minute", limit(c.Limits.RequestsPerMinute),
		"tokens/minute", limit(c.Limits.TokensPerMinute),
		"monthly tokens", limit(c.Limits.MonthlyTokenBudget),
		"monthly cost", costLimit(c.Limits.MonthlyCostBudgetUSD),
		"tags", strings.Join(tags, ", "),
		"version", strconv.FormatInt(c.Version, 10),
		"created", c.CreatedAt.UTC().Format(time.RFC3339),
		"updated", c.UpdatedAt.UTC().Format(time.RFC3339),
	)
}

func limit(v int64) string {
	if v == 0 {
		return "unlimited"
	}
	return strconv.FormatInt(v, 10)
}

func costLimit(v float64) string {
	if v == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%.2f USD", v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
