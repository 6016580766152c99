package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// TestAccCustomersDataSource lists customers by tier and status with a
// page size of 1, so the data source must follow the cursor across pages.
func TestAccCustomersDataSource(t *testing.T) {
	tier := uniqueID("t") // a tier no other test uses
	const ds = "data.tollgate_customers.tier"
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             checkCustomersDeleted(t),
		Steps: []resource.TestStep{
			{
				Config: fmt.Sprintf(`
resource "tollgate_customer" "c" {
  count          = 3
  id             = "%[1]s-${count.index}"
  name           = "Listed ${count.index}"
  tier           = %[1]q
  status         = count.index == 2 ? "suspended" : "active"
  allowed_models = ["amazon.*"]
  tags           = { n = tostring(count.index) }
}

data "tollgate_customers" "tier" {
  tier       = %[1]q
  page_size  = 1
  depends_on = [tollgate_customer.c]
}

data "tollgate_customers" "suspended" {
  tier       = %[1]q
  status     = "suspended"
  depends_on = [tollgate_customer.c]
}
`, tier),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(ds, "ids.#", "3"),
					resource.TestCheckResourceAttr(ds, "ids.0", tier+"-0"),
					resource.TestCheckResourceAttr(ds, "ids.2", tier+"-2"),
					resource.TestCheckResourceAttr(ds, "customers.#", "3"),
					resource.TestCheckResourceAttr(ds, "customers.1.name", "Listed 1"),
					resource.TestCheckResourceAttr(ds, "customers.1.tags.n", "1"),
					resource.TestCheckResourceAttr(ds, "customers.1.allowed_models.#", "1"),
					resource.TestCheckResourceAttr(ds, "customers.1.limits.requests_per_minute", "0"),
					resource.TestCheckResourceAttr("data.tollgate_customers.suspended", "ids.#", "1"),
					resource.TestCheckResourceAttr("data.tollgate_customers.suspended", "customers.0.id", tier+"-2"),
					resource.TestCheckResourceAttr("data.tollgate_customers.suspended", "customers.0.status", "suspended"),
				),
			},
		},
	})
}
