package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/rules"
)

var (
	_ datasource.DataSource              = &CustomersDataSource{}
	_ datasource.DataSourceWithConfigure = &CustomersDataSource{}
)

// NewCustomersDataSource is the tollgate_customers data source.
func NewCustomersDataSource() datasource.DataSource { return &CustomersDataSource{} }

// CustomersDataSource lists customers, walking every page of the listing.
type CustomersDataSource struct {
	client *adminclient.Client
}

// CustomersDataSourceModel is the listing's filters and result.
type CustomersDataSourceModel struct {
	Status    types.String `tfsdk:"status"`
	Tier      types.String `tfsdk:"tier"`
	PageSize  types.Int64  `tfsdk:"page_size"`
	IDs       types.List   `tfsdk:"ids"`
	Customers types.List   `tfsdk:"customers"`
}

func (d *CustomersDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_customers"
}

func (d *CustomersDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Lists customers in id order, optionally filtered by status and tier (without a status filter, deleted customers are listed too), following the listing's cursor to the last page. " +
			"Listings are eventually consistent: a customer changed a moment ago may show its previous state.",
		Attributes: map[string]schema.Attribute{
			"status": schema.StringAttribute{
				Optional: true, Description: "Only customers with this status: `active`, `suspended` or `deleted`.",
				Validators: []validator.String{stringvalidator.OneOf(rules.CustomerActive, rules.CustomerSuspended, rules.CustomerDeleted)},
			},
			"tier": schema.StringAttribute{
				Optional: true, Description: "Only customers of this tier.",
				Validators: []validator.String{tier()},
			},
			"page_size": schema.Int64Attribute{
				Optional: true, Description: "Customers per API request, 1 to 1000; default 1000. The result is the same whatever the size.",
				Validators: []validator.Int64{int64validator.Between(1, 1000)},
			},
			"ids": schema.ListAttribute{
				Computed: true, ElementType: types.StringType, Description: "Ids of the customers listed, in order.",
			},
			"customers": schema.ListNestedAttribute{
				Computed: true, Description: "The customers, in id order.",
				NestedObject: schema.NestedAttributeObject{Attributes: customerDataAttributes(false)},
			},
		},
	}
}

func (d *CustomersDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *CustomersDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m CustomersDataSourceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	o := adminclient.ListCustomersOptions{Status: m.Status.ValueString(), Tier: m.Tier.ValueString(), Limit: 1000}
	if !m.PageSize.IsNull() {
		o.Limit = int(m.PageSize.ValueInt64())
	}
	ids := []string{}
	customers := []CustomerResourceModel{}
	for c, err := range d.client.Customers(ctx, o) {
		if err != nil {
			resp.Diagnostics.AddError("Cannot list customers", err.Error())
			return
		}
		cm, diags := customerModel(ctx, &c, nil)
		resp.Diagnostics.Append(diags...)
		if resp.Diagnostics.HasError() {
			return
		}
		ids = append(ids, c.ID)
		customers = append(customers, cm)
	}
	var diags diag.Diagnostics
	m.IDs, diags = types.ListValueFrom(ctx, types.StringType, ids)
	resp.Diagnostics.Append(diags...)
	m.Customers, diags = types.ListValueFrom(ctx, types.ObjectType{AttrTypes: customerAttrTypes}, customers)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
