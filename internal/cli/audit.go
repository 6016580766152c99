package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
)

// `tollgate audit …`: the admin API's audit log.

func auditGroup() group {
	return group{name: "audit", summary: "read the audit log of changes made through the admin API", cmds: []subcommand{
		{name: "list", summary: "List audit records, newest first", flags: auditList, examples: []string{
			"tollgate audit list --limit 20",
			"tollgate audit list --target customer:acme --all",
			"tollgate audit list --target key:abcdefghijklmnop --output json",
		}},
	}}
}

func auditList(fs *flag.FlagSet) func(context.Context, *adminEnv, []string) error {
	var l listFlags
	l.register(fs)
	target := fs.String("target", "", `only records of "customer:<id>" (with its keys) or "key:<key id>"`)
	return func(ctx context.Context, a *adminEnv, _ []string) error {
		rs, next, err := list(ctx, a, l, "records", func(ctx context.Context, o adminclient.ListOptions) ([]adminclient.AuditRecord, string, error) {
			p, err := a.client.ListAudit(ctx, adminclient.ListAuditOptions{Target: *target, Limit: o.Limit, Cursor: o.Cursor})
			if err != nil {
				return nil, "", err
			}
			return p.Records, p.NextCursor, nil
		})
		if err != nil {
			return err
		}
		if a.json {
			return a.emitJSON(adminclient.AuditPage{Records: rs, NextCursor: next})
		}
		rows := make([][]string, 0, len(rs))
		for _, r := range rs {
			rows = append(rows, []string{r.Time.UTC().Format(time.RFC3339), r.Actor, r.Action, r.TargetType + ":" + r.TargetID,
				fmt.Sprintf("%d→%d", r.OldVersion, r.NewVersion), dash(r.Region), r.RequestID})
		}
		if err := a.table("TIME\tACTOR\tACTION\tTARGET\tVERSION\tREGION\tREQUEST ID", rows); err != nil {
			return err
		}
		a.moreHint(next)
		return nil
	}
}
