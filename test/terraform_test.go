package test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/gruntwork-io/terratest/modules/terraform"
)

// TestTerraformExampleCustomers applies terraform/examples/customers with
// the real terraform binary and the provider installed through a CLI
// configuration file (dev_overrides, as provider/README.md tells users),
// checks the outputs against the admin API and the data plane, checks
// that a second plan is empty, and destroys.
func TestTerraformExampleCustomers(t *testing.T) {
	if _, err := exec.LookPath("terraform"); err != nil {
		t.Fatal("terraform is not on PATH: scripts/deps.sh installs it")
	}
	pluginDir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(pluginDir, "terraform-provider-tollgate"), "github.com/tollgate-dev/tollgate/cmd/terraform-provider-tollgate")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build provider: %v", err)
	}
	cliConfig := filepath.Join(t.TempDir(), "terraformrc")
	if err := os.WriteFile(cliConfig, fmt.Appendf(nil, `provider_installation {
  dev_overrides {
    "registry.terraform.io/tollgate-dev/tollgate" = %q
  }
  direct {}
}
`, pluginDir), 0o644); err != nil {
		t.Fatal(err)
	}

	s := startStack(t, "--key-cache-ttl", "1s")
	region := s.Regions[0]
	// A copy, so that Terraform's state and lock files stay out of the tree.
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../terraform/examples/customers")); err != nil {
		t.Fatal(err)
	}
	opts := terraform.WithDefaultRetryableErrors(t, &terraform.Options{
		TerraformDir: dir,
		Vars:         map[string]any{"id_prefix": "tt-"},
		EnvVars: map[string]string{
			"TF_CLI_CONFIG_FILE":   cliConfig,
			"TOLLGATE_ENDPOINT":    region.AdminURL,
			"TOLLGATE_ADMIN_TOKEN": s.AdminToken,
			"CHECKPOINT_DISABLE":   "1",
		},
		NoColor: true,
	})
	destroyed := false
	defer func() {
		if !destroyed {
			terraform.Destroy(t, opts)
		}
	}()
	// With dev_overrides there is nothing to install: apply directly, as
	// Terraform recommends for overridden providers.
	terraform.Apply(t, opts)

	ids := terraform.OutputMap(t, opts, "customer_ids")
	if ids["acme"] != "tt-acme" || ids["globex"] != "tt-globex" {
		t.Fatalf("customer_ids = %v", ids)
	}
	ctx := context.Background()
	adm, err := s.AdminClient(region.Region)
	if err != nil {
		t.Fatal(err)
	}
	c, err := adm.GetCustomer(ctx, "tt-acme")
	if err != nil || c.Name != "Acme Corp" || c.Limits.RequestsPerMinute != 1200 {
		t.Fatalf("customer in the API: %+v, %v", c, err)
	}
	secrets := terraform.OutputMap(t, opts, "key_secrets")
	if _, err := sdkClient(t, s, region.Region, secrets["acme"]).Converse(ctx, converseInput(model, "from terraform", 0)); err != nil {
		t.Fatalf("a key created by terraform apply does not authenticate: %v", err)
	}

	if code := terraform.PlanExitCode(t, opts); code != 0 {
		t.Fatalf("second plan is not empty (exit code %d)", code)
	}

	terraform.Destroy(t, opts)
	destroyed = true
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := sdkClient(t, s, region.Region, secrets["acme"]).Converse(ctx, converseInput(model, "after destroy", 0))
		var ad *types.AccessDeniedException
		if errors.As(err, &ad) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("key still works after terraform destroy: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
