package provider

import (
	"context"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	brtypes "github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/auth/bearer"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	fwprovider "github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	fwresource "github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/stack"
)

// testStack is the local stack the acceptance tests run against: one
// region, keys cached for 1s so that a revocation is seen quickly. It is
// only started when TF_ACC is set.
var testStack *stack.Stack

// testRegion is the stack's only region.
const testRegion = "us-east-1"

// testModel is a model the Bedrock simulator serves.
const testModel = "anthropic.claude-3-5-sonnet-20240620-v1:0"

func TestMain(m *testing.M) {
	if os.Getenv(resource.EnvTfAcc) == "" {
		os.Exit(m.Run())
	}
	os.Exit(runWithStack(m))
}

func runWithStack(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tollgate-provider-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The provider is what is tested here, not the server, so the server
	// is built without the race detector to keep the package fast.
	bin, err := stack.Build(ctx, dir, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logPath := filepath.Join(dir, "regional.log")
	logs, err := os.Create(logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer logs.Close()
	testStack, err = stack.Start(ctx, stack.Options{
		Regions:   []string{testRegion},
		Dir:       dir,
		Binary:    bin,
		Logs:      logs,
		ServeArgs: []string{"--key-cache-ttl", "1s"},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testStack.Close()
	os.Setenv(EnvEndpoint, testStack.Region(testRegion).AdminURL)
	os.Setenv(EnvAdminToken, testStack.AdminToken)
	code := m.Run()
	if code != 0 {
		if b, err := os.ReadFile(logPath); err == nil {
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			fmt.Fprintf(os.Stderr, "regional log (tail):\n%s\n", b)
		}
	}
	return code
}

// testAccProtoV6ProviderFactories run the provider in the test process.
var testAccProtoV6ProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	"tollgate": providerserver.NewProtocol6WithError(New("test")()),
}

// testAdmin is an admin client of the stack, for checks and for changes
// made "outside Terraform".
func testAdmin(t *testing.T) *adminclient.Client {
	t.Helper()
	c, err := testStack.AdminClient(testRegion)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// uniqueID is a customer id no other test (or earlier run) uses: the
// stack is shared and deleted ids stay taken.
func uniqueID(prefix string) string {
	return prefix + "-" + strings.ToLower(rand.Text()[:8])
}

// converse calls Converse through the stack's data plane with key as
// bearer token, with the official SDK.
func converse(key string) error {
	hc, err := testStack.HTTPClient()
	if err != nil {
		return err
	}
	c := bedrockruntime.New(bedrockruntime.Options{
		Region:                  testRegion,
		BaseEndpoint:            aws.String(testStack.Region(testRegion).URL),
		HTTPClient:              hc,
		BearerAuthTokenProvider: bearer.StaticTokenProvider{Token: bearer.Token{Value: key}},
		AuthSchemePreference:    []string{"httpBearerAuth"},
		RetryMaxAttempts:        1,
	})
	_, err = c.Converse(context.Background(), &bedrockruntime.ConverseInput{
		ModelId: aws.String(testModel),
		Messages: []brtypes.Message{{
			Role:    brtypes.ConversationRoleUser,
			Content: []brtypes.ContentBlock{&brtypes.ContentBlockMemberText{Value: "hello from terraform"}},
		}},
	})
	return err
}

// awaitRefused polls until the data plane refuses key with
// AccessDeniedException; the regions cache keys for 1s.
func awaitRefused(key string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := converse(key)
		var ad *brtypes.AccessDeniedException
		if errors.As(err, &ad) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("key %s… still not refused after 5s: last answer %v", key[:10], err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestProviderSchemas checks every schema is well-formed, without Terraform.
func TestProviderSchemas(t *testing.T) {
	ctx := context.Background()
	p := New("test")()
	var presp fwprovider.SchemaResponse
	p.Schema(ctx, fwprovider.SchemaRequest{}, &presp)
	if presp.Diagnostics.HasError() {
		t.Fatalf("provider schema: %v", presp.Diagnostics)
	}
	for _, f := range p.Resources(ctx) {
		r := f()
		var m fwresource.MetadataResponse
		r.Metadata(ctx, fwresource.MetadataRequest{ProviderTypeName: "tollgate"}, &m)
		var s fwresource.SchemaResponse
		r.Schema(ctx, fwresource.SchemaRequest{}, &s)
		if d := s.Schema.ValidateImplementation(ctx); s.Diagnostics.HasError() || d.HasError() {
			t.Errorf("%s schema: %v %v", m.TypeName, s.Diagnostics, d)
		}
	}
	for _, f := range p.DataSources(ctx) {
		ds := f()
		var m datasource.MetadataResponse
		ds.Metadata(ctx, datasource.MetadataRequest{ProviderTypeName: "tollgate"}, &m)
		var s datasource.SchemaResponse
		ds.Schema(ctx, datasource.SchemaRequest{}, &s)
		if d := s.Schema.ValidateImplementation(ctx); s.Diagnostics.HasError() || d.HasError() {
			t.Errorf("%s schema: %v %v", m.TypeName, s.Diagnostics, d)
		}
	}
}

// TestAccProviderConfig checks that bad provider settings fail the plan
// with a diagnostic on the attribute.
func TestAccProviderConfig(t *testing.T) {
	const ds = `
data "tollgate_customers" "all" {}
`
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      `provider "tollgate" { endpoint = "ftp://example.com" }` + ds,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`Invalid Tollgate provider configuration`),
			},
			{
				Config:      `provider "tollgate" { ca_cert_pem = "not a certificate" }` + ds,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`Invalid CA certificates`),
			},
			{
				Config:      `provider "tollgate" { admin_token = "wrong" }` + ds,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`unauthorized`),
			},
			{
				// The endpoint is only known after apply.
				Config: `
resource "terraform_data" "ep" { input = "http://127.0.0.1:1" }
provider "tollgate" { endpoint = terraform_data.ep.output }
` + ds,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`Unknown Tollgate provider endpoint`),
			},
		},
	})
}

// TestAccProviderTLS reaches the admin API through an HTTPS endpoint whose
// certificate only a private CA vouches for: refused without the CA,
// accepted with ca_cert_pem or ca_cert_file.
func TestAccProviderTLS(t *testing.T) {
	if testStack == nil {
		t.Skip("acceptance test: set TF_ACC=1")
	}
	target, err := url.Parse(testStack.Region(testRegion).AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(srv.Close)
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte(caPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(provider string) string {
		return provider + `
data "tollgate_customers" "all" {}
`
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      config(fmt.Sprintf(`provider "tollgate" { endpoint = %q }`, srv.URL)),
				ExpectError: regexp.MustCompile(`certificate`),
			},
			{
				Config: config(fmt.Sprintf(`provider "tollgate" {
  endpoint    = %q
  ca_cert_pem = %q
}`, srv.URL, caPEM)),
				Check: resource.TestCheckResourceAttrSet("data.tollgate_customers.all", "ids.#"),
			},
			{
				Config: config(fmt.Sprintf(`provider "tollgate" {
  endpoint     = %q
  ca_cert_file = %q
}`, srv.URL, caFile)),
				Check: resource.TestCheckResourceAttrSet("data.tollgate_customers.all", "ids.#"),
			},
		},
	})
}
