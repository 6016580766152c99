package providerdocs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/tollgate-dev/tollgate/internal/providerdocs"
	"github.com/tollgate-dev/tollgate/provider"
)

func TestGenerateFromTheProviderSchema(t *testing.T) {
	out := t.TempDir()
	server := providerserver.NewProtocol6(provider.New("test")())()
	if err := providerdocs.Generate(context.Background(), server, "tollgate", "../../provider/examples", out); err != nil {
		t.Fatal(err)
	}
	read := func(rel string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(out, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	key := read("resources/api_key.md")
	for _, want := range []string{
		"# tollgate_api_key (Resource)",
		"- `customer_id` (String)",                  // required
		"- `secret` (String, Sensitive)",            // read-only and sensitive
		"terraform import tollgate_api_key.billing", // the import example
		"```terraform\nresource \"tollgate_api_key\"",
	} {
		if !strings.Contains(key, want) {
			t.Errorf("api_key.md lacks %q", want)
		}
	}
	customer := read("resources/customer.md")
	if !strings.Contains(customer, `<a id="nestedatt--limits"></a>`) || !strings.Contains(customer, "- `requests_per_minute` (Number)") {
		t.Error("customer.md lacks the nested limits schema")
	}
	if i, j := strings.Index(customer, "### Required"), strings.Index(customer, "### Read-Only"); i < 0 || j < i {
		t.Error("customer.md groups are missing or out of order")
	}
	for _, rel := range []string{"index.md", "data-sources/customer.md", "data-sources/customers.md"} {
		if !strings.Contains(read(rel), "## Schema") {
			t.Errorf("%s has no schema section", rel)
		}
	}
}
