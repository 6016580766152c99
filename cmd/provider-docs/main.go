// Command provider-docs writes the Terraform provider's documentation from
// its schema (see internal/providerdocs). `make docs` runs it; `make check`
// fails when the committed docs are stale.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/tollgate-dev/tollgate/internal/providerdocs"
	"github.com/tollgate-dev/tollgate/provider"
)

func main() {
	examples := flag.String("examples", "provider/examples", "examples directory")
	out := flag.String("out", "provider/docs", "output directory (replaced)")
	flag.Parse()
	server := providerserver.NewProtocol6(provider.New("dev")())()
	if err := providerdocs.Generate(context.Background(), server, "tollgate", *examples, *out); err != nil {
		fmt.Fprintln(os.Stderr, "provider-docs:", err)
		os.Exit(1)
	}
}
