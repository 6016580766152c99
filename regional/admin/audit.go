package admin

import (
	"net/http"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/internal/store"
)

// audit records a change that was just made. There are no transactions, so
// the record is a separate write right after the change: if it fails (or
// the process dies in between), the change stands without its record. The
// failure is logged at error level with every field of the record, so the
// log holds what the table lacks, and counted in
// tollgate_admin_audit_failures_total. The change is not reported as
// failed: it happened, and a retry would not be idempotent.
func (c *call) audit(action, targetType, targetID, customerID string, oldVersion, newVersion int64) {
	r := &store.AuditRecord{
		Time: c.now, Actor: c.info.actor, Action: action,
		TargetType: targetType, TargetID: targetID, CustomerID: customerID,
		OldVersion: oldVersion, NewVersion: newVersion,
		RequestID: c.info.id, Seq: c.auditSeq, Region: c.h.cfg.Region,
	}
	c.auditSeq++
	if c.h.cfg.OnChange != nil {
		c.h.cfg.OnChange(targetType, targetID, customerID)
	}
	if err := c.h.cfg.Store.PutAudit(c.ctx, r); err != nil {
		c.h.metrics.auditFailures.Inc()
		c.h.cfg.Logger.Error().Err(err).Str("request_id", r.RequestID).Int("seq", r.Seq).Str("actor", r.Actor).
			Str("action", action).Str("target_type", targetType).Str("target_id", targetID).
			Str("customer_id", customerID).Int64("old_version", oldVersion).Int64("new_version", newVersion).
			Time("time", r.Time).Msg("audit record not written; the change itself was applied")
	}
}

func auditView(r *store.AuditRecord) adminclient.AuditRecord {
	return adminclient.AuditRecord{
		ID: r.ID, Time: r.Time, Actor: r.Actor, Action: r.Action,
		TargetType: r.TargetType, TargetID: r.TargetID, CustomerID: r.CustomerID,
		OldVersion: r.OldVersion, NewVersion: r.NewVersion, RequestID: r.RequestID, Region: r.Region,
	}
}

// listAudit lists audit records, newest first, optionally of one target:
// target=customer:<id> (the customer's records and its keys') or
// target=key:<id>.
func (h *Handler) listAudit(c *call) (int, any, error) {
	q, err := c.query("target", "limit", "cursor")
	if err != nil {
		return 0, nil, err
	}
	var f fieldErrors
	o := pageOptions(q, &f)
	var filter store.AuditFilter
	if t := q.Get("target"); t != "" {
		typ, id, _ := strings.Cut(t, ":")
		switch typ {
		case store.AuditTargetCustomer:
			f.customerID("target", id)
		case store.AuditTargetKey:
			if !rules.ValidKeyID(id) {
				f.add("target", "%q is not a key id", id)
			}
		default:
			f.add("target", `must be "customer:<id>" or "key:<key id>", got %q`, t)
		}
		filter = store.AuditFilter{TargetType: typ, TargetID: id}
	}
	if err := f.err("the query"); err != nil {
		return 0, nil, err
	}
	rs, next, err := h.cfg.Store.ListAudit(c.ctx, filter, o)
	if err != nil {
		return 0, nil, err
	}
	page := adminclient.AuditPage{Records: make([]adminclient.AuditRecord, 0, len(rs)), NextCursor: next}
	for i := range rs {
		page.Records = append(page.Records, auditView(&rs[i]))
	}
	return http.StatusOK, page, nil
}
