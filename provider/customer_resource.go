package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/float64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/objectdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/rules"
)

var (
	_ resource.Resource                = &CustomerResource{}
	_ resource.ResourceWithConfigure   = &CustomerResource{}
	_ resource.ResourceWithImportState = &CustomerResource{}
)

// NewCustomerResource is the tollgate_customer resource.
func NewCustomerResource() resource.Resource { return &CustomerResource{} }

// CustomerResource manages one customer.
type CustomerResource struct {
	client *adminclient.Client
}

// CustomerResourceModel is a customer in plan and state; the customer data
// sources use it too.
type CustomerResourceModel struct {
	ID            types.String `tfsdk:"id"`
	Name          types.String `tfsdk:"name"`
	Contact       types.String `tfsdk:"contact"`
	Status        types.String `tfsdk:"status"`
	Tier          types.String `tfsdk:"tier"`
	AllowedModels types.Set    `tfsdk:"allowed_models"`
	Limits        types.Object `tfsdk:"limits"`
	Tags          types.Map    `tfsdk:"tags"`
	Version       types.Int64  `tfsdk:"version"`
	CreatedAt     types.String `tfsdk:"created_at"`
	UpdatedAt     types.String `tfsdk:"updated_at"`
}

// LimitsModel is the limits object.
type LimitsModel struct {
	RequestsPerMinute    types.Int64   `tfsdk:"requests_per_minute"`
	TokensPerMinute      types.Int64   `tfsdk:"tokens_per_minute"`
	MonthlyTokenBudget   types.Int64   `tfsdk:"monthly_token_budget"`
	MonthlyCostBudgetUSD types.Float64 `tfsdk:"monthly_cost_budget_usd"`
}

var limitsAttrTypes = map[string]attr.Type{
	"requests_per_minute":     types.Int64Type,
	"tokens_per_minute":       types.Int64Type,
	"monthly_token_budget":    types.Int64Type,
	"monthly_cost_budget_usd": types.Float64Type,
}

func limitsValue(l rules.Limits) types.Object {
	return types.ObjectValueMust(limitsAttrTypes, map[string]attr.Value{
		"requests_per_minute":     types.Int64Value(l.RequestsPerMinute),
		"tokens_per_minute":       types.Int64Value(l.TokensPerMinute),
		"monthly_token_budget":    types.Int64Value(l.MonthlyTokenBudget),
		"monthly_cost_budget_usd": types.Float64Value(l.MonthlyCostBudgetUSD),
	})
}

func (r *CustomerResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_customer"
}

func (r *CustomerResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	limit := func(desc string, max int64) schema.Int64Attribute {
		return schema.Int64Attribute{
			Optional: true, Computed: true, Default: int64default.StaticInt64(0),
			Description: fmt.Sprintf("%s; 0 (the default) means no limit, at most %d.", desc, max),
		}
	}
	resp.Schema = schema.Schema{
		Description: "A Tollgate customer: who may call which Bedrock models, within which limits. " +
			"Destroying it soft-deletes the customer (its id stays taken) and revokes all its keys.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Optional: true, Computed: true,
				Description: "Customer id: 2 to 63 lower-case letters, digits and '-'. Generated (`cus-…`) when left out. Changing it replaces the customer; a deleted customer's id cannot be used again.",
				Validators:  []validator.String{customerID()},
				PlanModifiers: []planmodifier.String{
					stringplanmodifier.UseStateForUnknown(),
					stringplanmodifier.RequiresReplace(),
				},
			},
			"name": schema.StringAttribute{
				Required:    true,
				Description: "Display name.",
				Validators:  []validator.String{text("name", rules.MaxNameLen)},
			},
			"contact": schema.StringAttribute{
				Optional:    true,
				Description: "Free-text contact, typically an e-mail address.",
				Validators:  []validator.String{text("contact", rules.MaxContactLen)},
			},
			"status": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString(rules.CustomerActive),
				Description: "`active` (the default) or `suspended`. A suspended customer's keys are refused.",
				Validators:  []validator.String{stringvalidator.OneOf(rules.CustomerActive, rules.CustomerSuspended)},
			},
			"tier": schema.StringAttribute{
				Optional:    true,
				Description: fmt.Sprintf("Tier name: at most %d lower-case letters, digits, '-' and '_'.", rules.MaxTierLen),
				Validators:  []validator.String{tier()},
			},
			"allowed_models": schema.SetAttribute{
				Required: true, ElementType: types.StringType,
				Description: "Model patterns the customer may call, `*` matching any run of characters (`anthropic.*`, or `*` for every model). An empty set allows nothing. A set, so that order never shows as a difference.",
				Validators: []validator.Set{
					setvalidator.SizeAtMost(rules.MaxModelPatterns),
					setvalidator.ValueStringsAre(modelPattern()),
				},
			},
			"limits": schema.SingleNestedAttribute{
				Optional: true, Computed: true,
				Default:     objectdefault.StaticValue(limitsValue(rules.Limits{})),
				Description: "Rate limits and budgets; every limit defaults to 0, no limit.",
				Validators:  []validator.Object{limitsValidator{}},
				Attributes: map[string]schema.Attribute{
					"requests_per_minute":  limit("Requests per minute", rules.MaxRequestsPerMinute),
					"tokens_per_minute":    limit("Tokens per minute", rules.MaxTokensPerMinute),
					"monthly_token_budget": limit("Tokens per calendar month", rules.MaxMonthlyTokenBudget),
					"monthly_cost_budget_usd": schema.Float64Attribute{
						Optional: true, Computed: true, Default: float64default.StaticFloat64(0),
						Description: fmt.Sprintf("Cost per calendar month in USD; 0 (the default) means no limit, at most %d.", rules.MaxMonthlyCostBudgetUSD),
					},
				},
			},
			"tags": schema.MapAttribute{
				Optional: true, ElementType: types.StringType,
				Description: fmt.Sprintf("Free-form labels, at most %d.", rules.MaxTags),
				Validators:  []validator.Map{tagsValidator{}},
			},
			"version": schema.Int64Attribute{
				Computed:    true,
				Description: "Record version: 1 at creation, one more with each change. Updates are sent with the version last read, so a change made meanwhile outside Terraform is detected instead of overwritten.",
			},
			"created_at": schema.StringAttribute{
				Computed: true, Description: "Creation time, RFC 3339.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"updated_at": schema.StringAttribute{
				Computed: true, Description: "Time of the last change, RFC 3339.",
			},
		},
	}
}

func (r *CustomerResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// customerFields are the mutable fields of a plan, as the API wants them.
type customerFields struct {
	models []string
	limits rules.Limits
	tags   map[string]string
}

func (m *CustomerResourceModel) fields(ctx context.Context) (customerFields, diag.Diagnostics) {
	var f customerFields
	var diags diag.Diagnostics
	f.models = []string{} // never null: [] allows nothing
	diags.Append(m.AllowedModels.ElementsAs(ctx, &f.models, false)...)
	if !m.Limits.IsNull() && !m.Limits.IsUnknown() {
		var l LimitsModel
		diags.Append(m.Limits.As(ctx, &l, basetypes.ObjectAsOptions{})...)
		f.limits = rules.Limits{
			RequestsPerMinute:    l.RequestsPerMinute.ValueInt64(),
			TokensPerMinute:      l.TokensPerMinute.ValueInt64(),
			MonthlyTokenBudget:   l.MonthlyTokenBudget.ValueInt64(),
			MonthlyCostBudgetUSD: l.MonthlyCostBudgetUSD.ValueFloat64(),
		}
	}
	if !m.Tags.IsNull() && !m.Tags.IsUnknown() {
		diags.Append(m.Tags.ElementsAs(ctx, &f.tags, false)...)
	}
	return f, diags
}

// customerModel is a customer as the API returned it. The API does not
// tell empty from absent for contact, tier and tags, so an empty value
// stays as prior had it (null or empty) and is null otherwise: no phantom
// differences after apply, refresh or import.
func customerModel(ctx context.Context, c *adminclient.Customer, prior *CustomerResourceModel) (CustomerResourceModel, diag.Diagnostics) {
	var diags diag.Diagnostics
	m := CustomerResourceModel{
		ID:        types.StringValue(c.ID),
		Name:      types.StringValue(c.Name),
		Contact:   optString(c.Contact),
		Status:    types.StringValue(c.Status),
		Tier:      optString(c.Tier),
		Limits:    limitsValue(c.Limits),
		Version:   types.Int64Value(c.Version),
		CreatedAt: types.StringValue(formatTime(c.CreatedAt)),
		UpdatedAt: types.StringValue(formatTime(c.UpdatedAt)),
	}
	models := c.AllowedModels
	if models == nil {
		models = []string{}
	}
	var d diag.Diagnostics
	m.AllowedModels, d = types.SetValueFrom(ctx, types.StringType, models)
	diags.Append(d...)
	if len(c.Tags) > 0 {
		m.Tags, d = types.MapValueFrom(ctx, types.StringType, c.Tags)
		diags.Append(d...)
	} else {
		m.Tags = types.MapNull(types.StringType)
		if prior != nil && !prior.Tags.IsNull() && !prior.Tags.IsUnknown() && len(prior.Tags.Elements()) == 0 {
			m.Tags = prior.Tags
		}
	}
	return m, diags
}

func optString(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (r *CustomerResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan CustomerResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	f, diags := plan.fields(ctx)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	c, err := r.client.CreateCustomer(ctx, adminclient.CreateCustomerRequest{
		ID:            plan.ID.ValueString(), // unknown when not configured: ""
		Name:          plan.Name.ValueString(),
		Contact:       plan.Contact.ValueString(),
		Status:        plan.Status.ValueString(),
		Tier:          plan.Tier.ValueString(),
		AllowedModels: f.models,
		Limits:        &f.limits,
		Tags:          f.tags,
	})
	if err != nil {
		summary := "Cannot create the customer"
		if adminclient.IsConflict(err) {
			summary = "Customer id already taken"
			err = fmt.Errorf("%w\nCustomer ids stay taken after deletion: choose another id, or leave id out to have one generated", err)
		}
		resp.Diagnostics.AddError(summary, err.Error())
		return
	}
	state, diags := customerModel(ctx, c, &plan)
	resp.Diagnostics.Append(diags...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *CustomerResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var prior CustomerResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	c, err := r.client.GetCustomer(ctx, prior.ID.ValueString())
	switch {
	case adminclient.IsNotFound(err):
		resp.Diagnostics.AddWarning("Customer not found",
			fmt.Sprintf("Customer %q no longer exists; it is removed from the state and will be planned for creation.", prior.ID.ValueString()))
		resp.State.RemoveResource(ctx)
		return
	case err != nil:
		resp.Diagnostics.AddError("Cannot read the customer", err.Error())
		return
	case c.Status == rules.CustomerDeleted:
		resp.Diagnostics.AddWarning("Customer deleted outside Terraform",
			fmt.Sprintf("Customer %q was deleted outside Terraform; it is removed from the state. Its id stays taken, so re-creating it with the same id will fail: change or remove id.", c.ID))
		resp.State.RemoveResource(ctx)
		return
	}
	state, diags := customerModel(ctx, c, &prior)
	resp.Diagnostics.Append(diags...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *CustomerResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, prior CustomerResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	f, diags := plan.fields(ctx)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	id := prior.ID.ValueString()
	c, err := r.client.UpdateCustomer(ctx, id, adminclient.UpdateCustomerRequest{
		Name:          plan.Name.ValueString(),
		Contact:       plan.Contact.ValueString(),
		Status:        plan.Status.ValueString(),
		Tier:          plan.Tier.ValueString(),
		AllowedModels: f.models,
		Limits:        &f.limits,
		Tags:          f.tags,
		Version:       prior.Version.ValueInt64(),
	})
	if err != nil {
		if adminclient.IsConflict(err) {
			resp.Diagnostics.AddError("Customer changed outside Terraform",
				fmt.Sprintf("Customer %q is no longer at version %d, the version Terraform last read, so the update was refused and nothing changed. "+
					"Run terraform plan again: the refresh reads the current version and shows what this configuration would change.\n\n%v",
					id, prior.Version.ValueInt64(), err))
			return
		}
		resp.Diagnostics.AddError("Cannot update the customer", err.Error())
		return
	}
	state, diags := customerModel(ctx, c, &plan)
	resp.Diagnostics.Append(diags...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *CustomerResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var prior CustomerResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// Destroy means gone whatever changed since the last read, so the
	// deletion names no version (updates do, see Update).
	_, err := r.client.DeleteCustomer(ctx, prior.ID.ValueString(), 0)
	if err != nil && !adminclient.IsNotFound(err) {
		resp.Diagnostics.AddError("Cannot delete the customer", err.Error())
	}
}

func (r *CustomerResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if err := rules.ValidateCustomerID(req.ID); err != nil {
		resp.Diagnostics.AddError("Invalid customer id to import", err.Error())
		return
	}
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}
