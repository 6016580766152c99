package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
)

var (
	_ datasource.DataSource              = &CustomerDataSource{}
	_ datasource.DataSourceWithConfigure = &CustomerDataSource{}
)

// NewCustomerDataSource is the tollgate_customer data source.
func NewCustomerDataSource() datasource.DataSource { return &CustomerDataSource{} }

// CustomerDataSource reads one customer by id.
type CustomerDataSource struct {
	client *adminclient.Client
}

// CustomerDataSourceModel has the resource's attributes.
type CustomerDataSourceModel = CustomerResourceModel

// customerAttrTypes is the object type of a customer, for the customers
// listing.
var customerAttrTypes = map[string]attr.Type{
	"id":             types.StringType,
	"name":           types.StringType,
	"contact":        types.StringType,
	"status":         types.StringType,
	"tier":           types.StringType,
	"allowed_models": types.SetType{ElemType: types.StringType},
	"limits":         types.ObjectType{AttrTypes: limitsAttrTypes},
	"tags":           types.MapType{ElemType: types.StringType},
	"version":        types.Int64Type,
	"created_at":     types.StringType,
	"updated_at":     types.StringType,
}

// customerDataAttributes are a customer's attributes in a data source, all
// computed but the id of the single-customer data source.
func customerDataAttributes(idRequired bool) map[string]schema.Attribute {
	id := schema.StringAttribute{Computed: true, Description: "Customer id."}
	if idRequired {
		id = schema.StringAttribute{Required: true, Description: "Customer id.", Validators: []validator.String{customerID()}}
	}
	return map[string]schema.Attribute{
		"id":             id,
		"name":           schema.StringAttribute{Computed: true, Description: "Display name."},
		"contact":        schema.StringAttribute{Computed: true, Description: "Contact; null when empty."},
		"status":         schema.StringAttribute{Computed: true, Description: "`active`, `suspended` or `deleted`."},
		"tier":           schema.StringAttribute{Computed: true, Description: "Tier; null when empty."},
		"allowed_models": schema.SetAttribute{Computed: true, ElementType: types.StringType, Description: "Allowed model patterns."},
		"limits": schema.SingleNestedAttribute{
			Computed: true, Description: "Rate limits and budgets; 0 means no limit.",
			Attributes: map[string]schema.Attribute{
				"requests_per_minute":     schema.Int64Attribute{Computed: true},
				"tokens_per_minute":       schema.Int64Attribute{Computed: true},
				"monthly_token_budget":    schema.Int64Attribute{Computed: true},
				"monthly_cost_budget_usd": schema.Float64Attribute{Computed: true},
			},
		},
		"tags":       schema.MapAttribute{Computed: true, ElementType: types.StringType, Description: "Tags; null when none."},
		"version":    schema.Int64Attribute{Computed: true, Description: "Record version."},
		"created_at": schema.StringAttribute{Computed: true, Description: "Creation time, RFC 3339."},
		"updated_at": schema.StringAttribute{Computed: true, Description: "Time of the last change, RFC 3339."},
	}
}

func (d *CustomerDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_customer"
}

func (d *CustomerDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Reads one customer by id, whatever its status (a deleted customer reads with status `deleted`).",
		Attributes:  customerDataAttributes(true),
	}
}

func (d *CustomerDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *CustomerDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg CustomerDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	c, err := d.client.GetCustomer(ctx, cfg.ID.ValueString())
	if err != nil {
		summary := "Cannot read the customer"
		if adminclient.IsNotFound(err) {
			summary = fmt.Sprintf("Customer %q not found", cfg.ID.ValueString())
		}
		resp.Diagnostics.AddError(summary, err.Error())
		return
	}
	state, diags := customerModel(ctx, c, nil)
	resp.Diagnostics.Append(diags...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}
