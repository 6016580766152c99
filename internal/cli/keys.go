package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
)

// `tollgate keys …`: API keys through the admin API.

func keysGroup() group {
	return group{name: "keys", summary: "manage API keys: create (the secret is shown once), revoke, rotate, find expiring ones", cmds: []subcommand{
		{name: "create", args: "CUSTOMER", nargs: 1, summary: "Create a key for a customer and print its secret, shown this once", flags: keysCreate, examples: []string{
			`tollgate keys create acme --description "billing service" --expires-in 90d`,
			"tollgate keys create acme --expires-at 2027-01-31T00:00:00Z --output json | jq -r .secret",
		}},
		{name: "list", args: "CUSTOMER", nargs: 1, summary: "List a customer's keys, oldest first", flags: keysList, examples: []string{
			"tollgate keys list acme",
			"tollgate keys list acme --all --output json",
		}},
		{name: "get", args: "KEY_ID", nargs: 1, summary: "Show a key (never its secret)", flags: keysGet, examples: []string{
			"tollgate keys get tg_abcdefghijklmnop",
		}},
		{name: "revoke", args: "KEY_ID", nargs: 1, summary: "Revoke a key: regions refuse it within their key cache TTL", flags: keysRevoke, examples: []string{
			"tollgate keys revoke abcdefghijklmnop",
		}},
		{name: "rotate", args: "KEY_ID", nargs: 1, summary: "Replace a key: print the new secret; the old key works until the grace period ends", flags: keysRotate, examples: []string{
			"tollgate keys rotate abcdefghijklmnop --grace 48h",
			"tollgate keys rotate abcdefghijklmnop --grace 0s   # end the old key now",
		}},
		{name: "expiring", summary: "List active keys of every customer expiring soon (scans the configuration table)", flags: keysExpiring, examples: []string{
			"tollgate keys expiring --within 14d --all",
		}},
	}}
}

// keyID accepts a key id or its display prefix (tg_<id>).
func keyID(s string) string { return strings.TrimPrefix(s, "tg_") }

func keysCreate(fs *flag.FlagSet) func(context.Context, *adminEnv, []string) error {
	desc := fs.String("description", "", "what the key is for")
	in := fs.String("expires-in", "", `lifetime: a duration such as "720h" or "90d" (default: no expiry)`)
	at := fs.String("expires-at", "", "expiry as an RFC 3339 time, e.g. 2027-01-31T00:00:00Z")
	return func(ctx context.Context, a *adminEnv, args []string) error {
		if *in != "" {
			if _, err := adminclient.ParseDuration(*in); err != nil {
				return usageError(a.stderr, "tollgate keys create: --expires-in: %v", err)
			}
		}
		k, err := a.client.CreateKey(ctx, args[0], adminclient.CreateKeyRequest{Description: *desc, ExpiresIn: *in, ExpiresAt: *at})
		if err != nil {
			return err
		}
		if a.json {
			return a.emitJSON(k)
		}
		fmt.Fprintf(a.stdout, "secret (shown once; store it now): %s\n\n", k.Secret)
		return a.printKey(&k.Key)
	}
}

func keysList(fs *flag.FlagSet) func(context.Context, *adminEnv, []string) error {
	var l listFlags
	l.register(fs)
	return func(ctx context.Context, a *adminEnv, args []string) error {
		ks, next, err := list(ctx, a, l, "keys", func(ctx context.Context, o adminclient.ListOptions) ([]adminclient.Key, string, error) {
			p, err := a.client.ListKeys(ctx, args[0], o)
			if err != nil {
				return nil, "", err
			}
			return p.Keys, p.NextCursor, nil
		})
		if err != nil {
			return err
		}
		return a.printKeys(ks, next)
	}
}

func keysGet(fs *flag.FlagSet) func(context.Context, *adminEnv, []string) error {
	return func(ctx context.Context, a *adminEnv, args []string) error {
		k, err := a.client.GetKey(ctx, keyID(args[0]))
		if err != nil {
			return err
		}
		return a.printKey(k)
	}
}

func keysRevoke(fs *flag.FlagSet) func(context.Context, *adminEnv, []string) error {
	return func(ctx context.Context, a *adminEnv, args []string) error {
		k, err := a.client.RevokeKey(ctx, keyID(args[0]))
		if err != nil {
			return err
		}
		return a.printKey(k)
	}
}

func keysRotate(fs *flag.FlagSet) func(context.Context, *adminEnv, []string) error {
	grace := fs.String("grace", "", `how long the old key keeps working: "24h" (default), "7d", "0s" to end it now`)
	desc := fs.String("description", "", "the new key's description (default: the old key's)")
	return func(ctx context.Context, a *adminEnv, args []string) error {
		if *grace != "" {
			if _, err := adminclient.ParseDuration(*grace); err != nil {
				return usageError(a.stderr, "tollgate keys rotate: --grace: %v", err)
			}
		}
		r, err := a.client.RotateKey(ctx, keyID(args[0]), adminclient.RotateKeyRequest{GracePeriod: *grace, Description: *desc})
		if err != nil {
			return err
		}
		if a.json {
			return a.emitJSON(r)
		}
		fmt.Fprintf(a.stdout, "new secret (shown once; store it now): %s\n\n", r.Secret)
		if err := a.printKey(&r.Key); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "\nold key %s now expires at %s\n", r.Previous.Prefix, timeOrDash(r.Previous.ExpiresAt))
		return nil
	}
}

func keysExpiring(fs *flag.FlagSet) func(context.Context, *adminEnv, []string) error {
	var l listFlags
	l.register(fs)
	within := fs.String("within", "7d", `window: a duration such as "7d" or "48h"`)
	return func(ctx context.Context, a *adminEnv, _ []string) error {
		if _, err := adminclient.ParseDuration(*within); err != nil {
			return usageError(a.stderr, "tollgate keys expiring: --within: %v", err)
		}
		ks, next, err := list(ctx, a, l, "keys", func(ctx context.Context, o adminclient.ListOptions) ([]adminclient.Key, string, error) {
			p, err := a.client.ExpiringKeys(ctx, *within, o)
			if err != nil {
				return nil, "", err
			}
			return p.Keys, p.NextCursor, nil
		})
		if err != nil {
			return err
		}
		return a.printKeys(ks, next)
	}
}

func (a *adminEnv) printKeys(ks []adminclient.Key, next string) error {
	if a.json {
		return a.emitJSON(adminclient.KeyPage{Keys: ks, NextCursor: next})
	}
	rows := make([][]string, 0, len(ks))
	for _, k := range ks {
		rows = append(rows, []string{k.ID, k.CustomerID, k.Prefix + "…" + k.Last4, k.Status, timeOrDash(k.ExpiresAt), dash(k.ReplacedBy), dash(k.Description)})
	}
	if err := a.table("ID\tCUSTOMER\tKEY\tSTATUS\tEXPIRES\tREPLACED BY\tDESCRIPTION", rows); err != nil {
		return err
	}
	a.moreHint(next)
	return nil
}

func (a *adminEnv) printKey(k *adminclient.Key) error {
	if a.json {
		return a.emitJSON(k)
	}
	exp := "never"
	if k.ExpiresAt != nil {
		exp = timeOrDash(k.ExpiresAt)
	}
	revoked := ""
	if k.RevokedAt != nil {
		revoked = timeOrDash(k.RevokedAt)
	}
	return a.fields(
		"id", k.ID, "customer", k.CustomerID, "key", k.Prefix+"…"+k.Last4, "status", k.Status,
		"description", k.Description, "expires", exp, "revoked", revoked, "replaced by", k.ReplacedBy,
		"version", strconv.FormatInt(k.Version, 10), "created", k.CreatedAt.UTC().Format(time.RFC3339),
	)
}
