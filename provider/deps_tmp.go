// Temporary: pins the provider dependencies until the provider code lands.
package provider

import (
	_ "github.com/gruntwork-io/terratest/modules/terraform"
	_ "github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	_ "github.com/hashicorp/terraform-plugin-framework/providerserver"
	_ "github.com/hashicorp/terraform-plugin-framework/resource"
	_ "github.com/hashicorp/terraform-plugin-go/tfprotov6"
	_ "github.com/hashicorp/terraform-plugin-testing/helper/resource"
)
