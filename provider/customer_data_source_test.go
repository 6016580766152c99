package provider

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// TestAccCustomerDataSourceNotFound checks the error for an unknown id; a
// found customer is read in TestAccCustomerResource.
func TestAccCustomerDataSourceNotFound(t *testing.T) {
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      `data "tollgate_customer" "x" { id = "` + uniqueID("tfacc-none") + `" }`,
				ExpectError: regexp.MustCompile(`Customer "tfacc-none-[a-z0-9]+" not found`),
			},
		},
	})
}
