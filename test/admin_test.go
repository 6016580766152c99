package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/rules"
	"github.com/tollgate-dev/tollgate/internal/stack"
	"github.com/tollgate-dev/tollgate/regional/apierror"
)

// converseStatus calls Converse in a region with key and returns the status
// and, for an error, its type.
func converseStatus(t *testing.T, s *stack.Stack, region, key string) (int, apierror.Type) {
	t.Helper()
	resp, body := rawPost(t, s, region, "/model/"+rules.EscapeModelID(model)+"/converse", key,
		`{"messages":[{"role":"user","content":[{"text":"hello"}]}]}`, nil)
	if resp.StatusCode == 200 {
		return 200, ""
	}
	var eb apierror.Body
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("status %d with a body that is not the error JSON: %s", resp.StatusCode, body)
	}
	return resp.StatusCode, eb.Type
}

// expectOK fails unless key works in every region.
func expectOK(t *testing.T, s *stack.Stack, key string) {
	t.Helper()
	for _, r := range s.Regions {
		if status, typ := converseStatus(t, s, r.Region, key); status != 200 {
			t.Fatalf("%s: %d %s, want 200", r.Region, status, typ)
		}
	}
}

// expectRefusedWithin polls every region until key is refused with want,
// and fails if that takes longer than bound.
func expectRefusedWithin(t *testing.T, s *stack.Stack, key string, want apierror.Type, bound time.Duration) {
	t.Helper()
	start := time.Now()
	for _, r := range s.Regions {
		for {
			status, typ := converseStatus(t, s, r.Region, key)
			if typ == want {
				break
			}
			if status == 200 && time.Since(start) < bound {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			t.Fatalf("%s after %v: %d %s, want %s within %v", r.Region, time.Since(start).Round(time.Millisecond), status, typ, want, bound)
		}
	}
}

// TestAdminAPIEndToEnd drives the admin API of two regional processes and
// checks its effect on their data planes, then the CLI binary against the
// same stack. The key cache TTL is 1s, so a change must reach both data
// planes within about a second.
func TestAdminAPIEndToEnd(t *testing.T) {
	const ttl = time.Second
	s := startStack(t, "--key-cache-ttl", ttl.String())
	ctx := context.Background()
	east, err := s.AdminClient("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	west, err := s.AdminClient("us-west-2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := east.CreateCustomer(ctx, adminclient.CreateCustomerRequest{ID: "e2e", Name: "End to end", AllowedModels: []string{"anthropic.*"}}); err != nil {
		t.Fatal(err)
	}
	newKey := func(t *testing.T, r adminclient.CreateKeyRequest) *adminclient.CreatedKey {
		t.Helper()
		k, err := east.CreateKey(ctx, "e2e", r)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}

	t.Run("revoked key stops in both regions within the TTL", func(t *testing.T) {
		k := newKey(t, adminclient.CreateKeyRequest{Description: "to revoke"})
		expectOK(t, s, k.Secret) // now cached in both regions
		// Revoked through the other region's admin API: every region
		// serves the admin API against its replica.
		if _, err := west.RevokeKey(ctx, k.Key.ID); err != nil {
			t.Fatal(err)
		}
		expectRefusedWithin(t, s, k.Secret, apierror.KeyRevoked, ttl+2*time.Second)
	})

	t.Run("a revocation takes effect at once in the region that made it", func(t *testing.T) {
		k := newKey(t, adminclient.CreateKeyRequest{Description: "revoke here"})
		c := sdkClient(t, s, "us-west-2", k.Secret)
		if _, err := c.Converse(ctx, converseInput(model, "cache me", 0)); err != nil {
			t.Fatal(err)
		}
		if _, err := west.RevokeKey(ctx, k.Key.ID); err != nil {
			t.Fatal(err)
		}
		// No waiting: the admin API dropped the key from its own
		// process's cache.
		_, err := c.Converse(ctx, converseInput(model, "and now?", 0))
		var ad *types.AccessDeniedException
		if !errors.As(err, &ad) || !strings.Contains(ad.ErrorMessage(), "was revoked") {
			t.Fatalf("revoked key still served by the revoking region: %v", err)
		}
	})

	// Expiry and rotation both wait a few seconds: run them side by side.
	t.Run("time", func(t *testing.T) {
		t.Run("expired key is refused with key_expired", func(t *testing.T) {
			t.Parallel()
			k := newKey(t, adminclient.CreateKeyRequest{ExpiresIn: "2s"})
			expectOK(t, s, k.Secret)
			time.Sleep(time.Until(*k.Key.ExpiresAt))
			expectRefusedWithin(t, s, k.Secret, apierror.KeyExpired, time.Second)
		})
		t.Run("rotation: both keys work during the grace period, then only the new one", func(t *testing.T) {
			t.Parallel()
			old := newKey(t, adminclient.CreateKeyRequest{Description: "to rotate"})
			expectOK(t, s, old.Secret)
			rot, err := west.RotateKey(ctx, old.Key.ID, adminclient.RotateKeyRequest{GracePeriod: "3s"})
			if err != nil {
				t.Fatal(err)
			}
			if rot.Previous.ReplacedBy != rot.Key.ID || rot.Key.CustomerID != "e2e" {
				t.Fatalf("rotation %+v", rot)
			}
			expectOK(t, s, old.Secret)
			expectOK(t, s, rot.Secret)
			time.Sleep(time.Until(*rot.Previous.ExpiresAt))
			// The old key's expiry was read with the rotation (at most
			// one TTL after it), so it is refused as soon as it passes.
			expectRefusedWithin(t, s, old.Secret, apierror.KeyExpired, ttl+time.Second)
			expectOK(t, s, rot.Secret)
		})
	})

	t.Run("demo seeded through the admin API", func(t *testing.T) {
		d, err := stack.SeedDemo(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		expectOK(t, s, d.Key)
		recs, err := east.ListAudit(ctx, adminclient.ListAuditOptions{Target: "customer:demo"})
		if err != nil || len(recs.Records) != 2 || recs.Records[0].Actor != "stack" {
			t.Fatalf("demo audit: %+v %v", recs, err)
		}
	})

	t.Run("CLI", func(t *testing.T) {
		testCLI(t, s)
	})
}

// tollgateCLI runs the built tollgate binary against a region's admin API
// and returns stdout, stderr and the exit code.
func tollgateCLI(t *testing.T, s *stack.Stack, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "TOLLGATE_ENDPOINT="+s.Regions[0].AdminURL, "TOLLGATE_ADMIN_TOKEN="+s.AdminToken,
		// A race-enabled binary otherwise sleeps a second at exit.
		"GORACE=atexit_sleep_ms=0")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &ee):
		return stdout.String(), stderr.String(), ee.ExitCode()
	}
	t.Fatalf("run tollgate %v: %v", args, err)
	return "", "", -1
}

func testCLI(t *testing.T, s *stack.Stack) {
	run := func(want int, args ...string) (string, string) {
		t.Helper()
		out, errOut, code := tollgateCLI(t, s, args...)
		if code != want {
			t.Fatalf("tollgate %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out, errOut
	}
	for i := 1; i <= 5; i++ {
		run(0, "customers", "create", "--id", fmt.Sprintf("cli-%d", i), "--name", fmt.Sprintf("CLI customer %d", i),
			"--models", "anthropic.*", "--tier", "cli", "--rpm", "100000")
	}

	// Five customers in pages of two: every one, once, in id order.
	out, _ := run(0, "customers", "list", "--tier", "cli", "--limit", "2", "--all")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("list --all printed:\n%s", out)
	}
	for i, l := range lines[1:] {
		if !strings.HasPrefix(l, fmt.Sprintf("cli-%d ", i+1)) {
			t.Fatalf("row %d is %q", i+1, l)
		}
	}
	out, errOut := run(0, "customers", "list", "--tier", "cli", "--limit", "2", "--output", "json")
	var page adminclient.CustomerPage
	if err := json.Unmarshal([]byte(out), &page); err != nil || len(page.Customers) != 2 || page.NextCursor == "" || errOut != "" {
		t.Fatalf("one JSON page: %v\n%s\nstderr %s", err, out, errOut)
	}

	// A key created and revoked with the CLI.
	out, _ = run(0, "keys", "create", "cli-1", "--description", "cli", "--output", "json")
	var k adminclient.CreatedKey
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		t.Fatal(err)
	}
	expectOK(t, s, k.Secret)
	out, _ = run(0, "keys", "revoke", k.Key.Prefix)
	if !strings.Contains(out, "revoked") {
		t.Fatalf("revoke printed:\n%s", out)
	}
	expectRefusedWithin(t, s, k.Secret, apierror.KeyRevoked, 3*time.Second)
	out, _ = run(0, "audit", "list", "--target", "key:"+k.Key.ID)
	if !strings.Contains(out, "key.revoke") || !strings.Contains(out, "key.create") || !strings.Contains(out, "stack") {
		t.Fatalf("audit printed:\n%s", out)
	}

	// Errors: the API's type and message with exit 1; usage errors exit 2.
	_, errOut = run(1, "customers", "get", "nobody")
	if !strings.Contains(errOut, "not_found") || !strings.Contains(errOut, `customer "nobody" not found`) {
		t.Fatalf("not found printed: %s", errOut)
	}
	_, errOut = run(1, "customers", "create", "--id", "cli-1", "--name", "again", "--models", "*")
	if !strings.Contains(errOut, "conflict") {
		t.Fatalf("duplicate printed: %s", errOut)
	}
	_, errOut = run(1, "customers", "update", "cli-2", "--rpm", "-5")
	if !strings.Contains(errOut, "limits.requests_per_minute") {
		t.Fatalf("invalid update printed: %s", errOut)
	}
	run(2, "customers", "delete", "cli-3")
	run(2, "keys", "frobnicate")
	run(0, "customers", "delete", "cli-3", "--yes")
}
