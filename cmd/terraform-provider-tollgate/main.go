// Command terraform-provider-tollgate is the Terraform provider of Tollgate:
// it manages customers and API keys through the admin API.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/tollgate-dev/tollgate/provider"
)

// version is set by the release build (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run the provider with support for debuggers like delve")
	flag.Parse()

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: "registry.terraform.io/tollgate-dev/tollgate",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}
