// Package provider is the Terraform provider of Tollgate. It manages
// customers and API keys through the admin API (docs/admin-api.md) with
// internal/adminclient, and validates plans with internal/rules, the same
// rules the admin API enforces.
package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
)

// Environment variables read when the provider block leaves an attribute
// out.
const (
	EnvEndpoint   = "TOLLGATE_ENDPOINT"
	EnvAdminToken = "TOLLGATE_ADMIN_TOKEN"
	EnvCACertFile = "TOLLGATE_CA_CERT_FILE"
)

var _ provider.Provider = &tollgateProvider{}

// New returns a constructor of the provider, as providerserver.Serve and
// the acceptance tests' factories want it.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &tollgateProvider{version: version} }
}

type tollgateProvider struct {
	version string
}

// TollgateProviderModel is the provider block.
type TollgateProviderModel struct {
	Endpoint           types.String `tfsdk:"endpoint"`
	AdminToken         types.String `tfsdk:"admin_token"`
	CACertPEM          types.String `tfsdk:"ca_cert_pem"`
	CACertFile         types.String `tfsdk:"ca_cert_file"`
	InsecureSkipVerify types.Bool   `tfsdk:"insecure_skip_verify"`
}

func (p *tollgateProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "tollgate"
	resp.Version = p.version
}

func (p *tollgateProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Manages Tollgate customers and API keys through a region's admin API. " +
			"Send every change to one region's endpoint: version checks hold within a region.",
		Attributes: map[string]schema.Attribute{
			"endpoint": schema.StringAttribute{
				Optional:    true,
				Description: "Base URL of a region's admin API, e.g. `https://admin.us-east-1.tollgate.example`. Defaults to the `" + EnvEndpoint + "` environment variable.",
			},
			"admin_token": schema.StringAttribute{
				Optional:    true,
				Sensitive:   true,
				Description: "Admin API bearer token. Defaults to the `" + EnvAdminToken + "` environment variable.",
			},
			"ca_cert_pem": schema.StringAttribute{
				Optional:    true,
				Description: "PEM certificates of a private CA to trust, in addition to the system roots, for an HTTPS endpoint.",
				Validators:  []validator.String{stringvalidator.ConflictsWith(path.MatchRoot("ca_cert_file"))},
			},
			"ca_cert_file": schema.StringAttribute{
				Optional:    true,
				Description: "Path of a PEM file of private CA certificates to trust, in addition to the system roots. Defaults to the `" + EnvCACertFile + "` environment variable.",
			},
			"insecure_skip_verify": schema.BoolAttribute{
				Optional:    true,
				Description: "Skip verification of the endpoint's TLS certificate. For local experiments only; default false.",
			},
		},
	}
}

func (p *tollgateProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg TollgateProviderModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	unknown := func(v interface{ IsUnknown() bool }, attr, env string) {
		if v.IsUnknown() {
			detail := "The value of " + attr + " is not known until apply, but the provider must be configured during plan. " +
				"Set it to a value known at plan time"
			if env != "" {
				detail += ", or leave it out and set the " + env + " environment variable"
			}
			resp.Diagnostics.AddAttributeError(path.Root(attr), "Unknown Tollgate provider "+attr, detail+".")
		}
	}
	unknown(cfg.Endpoint, "endpoint", EnvEndpoint)
	unknown(cfg.AdminToken, "admin_token", EnvAdminToken)
	unknown(cfg.CACertPEM, "ca_cert_pem", "")
	unknown(cfg.CACertFile, "ca_cert_file", EnvCACertFile)
	unknown(cfg.InsecureSkipVerify, "insecure_skip_verify", "")
	if resp.Diagnostics.HasError() {
		return
	}

	endpoint := valueOrEnv(cfg.Endpoint, EnvEndpoint)
	token := valueOrEnv(cfg.AdminToken, EnvAdminToken)
	caFile := valueOrEnv(cfg.CACertFile, EnvCACertFile)
	caPEM := cfg.CACertPEM.ValueString()
	if endpoint == "" {
		resp.Diagnostics.AddAttributeError(path.Root("endpoint"), "Missing Tollgate endpoint",
			"Set endpoint in the provider block or the "+EnvEndpoint+" environment variable to the admin API's base URL.")
	}
	if token == "" {
		resp.Diagnostics.AddAttributeError(path.Root("admin_token"), "Missing Tollgate admin token",
			"Set admin_token in the provider block or the "+EnvAdminToken+" environment variable.")
	}
	if caPEM != "" && !cfg.CACertFile.IsNull() {
		resp.Diagnostics.AddAttributeError(path.Root("ca_cert_pem"), "Conflicting CA settings", "Set ca_cert_pem or ca_cert_file, not both.")
	}
	if resp.Diagnostics.HasError() {
		return
	}

	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caPEM == "" && caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("ca_cert_file"), "Cannot read the CA certificate file", err.Error())
			return
		}
		caPEM = string(b)
	}
	if caPEM != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(caPEM)) {
			attr := "ca_cert_pem"
			if cfg.CACertPEM.IsNull() {
				attr = "ca_cert_file"
			}
			resp.Diagnostics.AddAttributeError(path.Root(attr), "Invalid CA certificates", "No PEM certificate could be parsed.")
			return
		}
		tlsCfg.RootCAs = pool
	}
	if cfg.InsecureSkipVerify.ValueBool() {
		tlsCfg.InsecureSkipVerify = true // #nosec G402 -- explicit opt-in
		resp.Diagnostics.AddAttributeWarning(path.Root("insecure_skip_verify"), "TLS verification disabled",
			"The Tollgate admin endpoint's certificate is not verified: anyone in the network path can read the admin token. Use ca_cert_pem or ca_cert_file instead.")
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsCfg

	client, err := adminclient.New(endpoint, token, adminclient.Options{
		HTTPClient: &http.Client{Transport: transport, Timeout: 60 * time.Second},
		UserAgent:  "terraform-provider-tollgate/" + p.version,
	})
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("endpoint"), "Invalid Tollgate provider configuration", err.Error())
		return
	}
	resp.ResourceData = client
	resp.DataSourceData = client
}

func (p *tollgateProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{NewCustomerResource, NewAPIKeyResource}
}

func (p *tollgateProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{NewCustomerDataSource, NewCustomersDataSource}
}

// valueOrEnv is the configured value, or the environment variable's when
// the attribute is null.
func valueOrEnv(v types.String, env string) string {
	if !v.IsNull() {
		return v.ValueString()
	}
	return os.Getenv(env)
}

// clientFrom is the admin client the provider passed to a resource or data
// source; nil (with no diagnostic) before the provider is configured.
func clientFrom(data any, diags interface {
	AddError(summary, detail string)
}) *adminclient.Client {
	if data == nil {
		return nil
	}
	c, ok := data.(*adminclient.Client)
	if !ok {
		diags.AddError("Unexpected provider data", "Expected *adminclient.Client; this is a bug in the provider.")
		return nil
	}
	return c
}
