package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/rules"
)

var (
	_ resource.Resource                = &APIKeyResource{}
	_ resource.ResourceWithConfigure   = &APIKeyResource{}
	_ resource.ResourceWithImportState = &APIKeyResource{}
)

// NewAPIKeyResource is the tollgate_api_key resource.
func NewAPIKeyResource() resource.Resource { return &APIKeyResource{} }

// APIKeyResource manages one API key. Keys cannot change: every input
// replaces the key, and destroying it revokes it.
type APIKeyResource struct {
	client *adminclient.Client
}

// APIKeyResourceModel is a key in plan and state.
type APIKeyResourceModel struct {
	ID               types.String `tfsdk:"id"`
	CustomerID       types.String `tfsdk:"customer_id"`
	Description      types.String `tfsdk:"description"`
	ExpiresAt        types.String `tfsdk:"expires_at"`
	ExpiresIn        types.String `tfsdk:"expires_in"`
	RotationTriggers types.Map    `tfsdk:"rotation_triggers"`
	Secret           types.String `tfsdk:"secret"`
	Prefix           types.String `tfsdk:"prefix"`
	Last4            types.String `tfsdk:"last4"`
	Status           types.String `tfsdk:"status"`
	CreatedAt        types.String `tfsdk:"created_at"`
}

func (r *APIKeyResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_api_key"
}

func (r *APIKeyResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		Description: "An API key of a customer. The secret is known only at creation and kept in the state (sensitive). " +
			"Keys never change in place: changing any argument, or any value of `rotation_triggers`, creates a new key; " +
			"with `lifecycle { create_before_destroy = true }` the new key exists before the old one is revoked. " +
			"Destroying the key revokes it. A key revoked or expired outside Terraform is planned for re-creation.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				Computed: true, Description: "Key id (16 characters); the secret starts with `tg_<id>_`.",
				PlanModifiers: keep,
			},
			"customer_id": schema.StringAttribute{
				Required: true, Description: "Id of the customer the key belongs to.",
				Validators:    []validator.String{customerID()},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"description": schema.StringAttribute{
				Optional: true, Description: "What the key is for.",
				Validators:    []validator.String{text("description", rules.MaxDescriptionLen)},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"expires_at": schema.StringAttribute{
				Optional: true, Computed: true,
				Description: "Expiry time, RFC 3339; must be in the future at creation, within 3650 days. " +
					"Computed when `expires_in` is used; null when the key does not expire.",
				Validators: []validator.String{rfc3339()},
				PlanModifiers: []planmodifier.String{
					stringplanmodifier.UseStateForUnknown(),
					stringplanmodifier.RequiresReplaceIfConfigured(),
				},
			},
			"expires_in": schema.StringAttribute{
				Optional: true,
				Description: "Lifetime from creation: a Go duration (`720h`) or whole days (`90d`), at most `3650d`. " +
					"Evaluated once, at creation; `expires_at` then holds the time. Changing it replaces the key. Not read back by import.",
				Validators: []validator.String{
					keyLifetime(),
					stringvalidator.ConflictsWith(path.MatchRoot("expires_at")),
				},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"rotation_triggers": schema.MapAttribute{
				Optional: true, ElementType: types.StringType,
				Description:   "Arbitrary values that, when changed, replace the key (like `keepers`): e.g. `{ rotated = time_rotating.k.id }`. Not read back by import.",
				PlanModifiers: []planmodifier.Map{mapplanmodifier.RequiresReplace()},
			},
			"secret": schema.StringAttribute{
				Computed: true, Sensitive: true,
				Description:   "The key to present as bearer token. Known only when Terraform creates the key: null after import.",
				PlanModifiers: keep,
			},
			"prefix": schema.StringAttribute{
				Computed: true, Description: "`tg_<id>`, the part of the key that may be shown.", PlanModifiers: keep,
			},
			"last4": schema.StringAttribute{
				Computed: true, Description: "The key's last four characters.", PlanModifiers: keep,
			},
			"status": schema.StringAttribute{
				Computed: true, Description: "`active`; a revoked key is removed from the state and planned for re-creation.", PlanModifiers: keep,
			},
			"created_at": schema.StringAttribute{
				Computed: true, Description: "Creation time, RFC 3339.", PlanModifiers: keep,
			},
		},
	}
}

func (r *APIKeyResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.client = clientFrom(req.ProviderData, &resp.Diagnostics)
}

// fill sets the attributes the API returns. expires_at keeps prior's
// spelling when it names the same instant, so "2027-01-31T01:00:00+01:00"
// in the configuration is no difference from the API's UTC.
func (m *APIKeyResourceModel) fill(k *adminclient.Key) {
	m.ID = types.StringValue(k.ID)
	m.CustomerID = types.StringValue(k.CustomerID)
	m.Description = optString(k.Description)
	m.Prefix = types.StringValue(k.Prefix)
	m.Last4 = types.StringValue(k.Last4)
	m.Status = types.StringValue(k.Status)
	m.CreatedAt = types.StringValue(formatTime(k.CreatedAt))
	switch {
	case k.ExpiresAt == nil:
		m.ExpiresAt = types.StringNull()
	case sameInstant(m.ExpiresAt, *k.ExpiresAt):
	default:
		m.ExpiresAt = types.StringValue(formatTime(*k.ExpiresAt))
	}
}

func sameInstant(v types.String, t time.Time) bool {
	if v.IsNull() || v.IsUnknown() {
		return false
	}
	p, err := time.Parse(time.RFC3339Nano, v.ValueString())
	return err == nil && p.Equal(t)
}

func (r *APIKeyResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan APIKeyResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ck, err := r.client.CreateKey(ctx, plan.CustomerID.ValueString(), adminclient.CreateKeyRequest{
		Description: plan.Description.ValueString(),
		ExpiresAt:   plan.ExpiresAt.ValueString(), // unknown when not configured: ""
		ExpiresIn:   plan.ExpiresIn.ValueString(),
	})
	if err != nil {
		resp.Diagnostics.AddError("Cannot create the API key", err.Error())
		return
	}
	plan.fill(&ck.Key)
	plan.Secret = types.StringValue(ck.Secret)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *APIKeyResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state APIKeyResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	id := state.ID.ValueString()
	k, err := r.client.GetKey(ctx, id)
	switch {
	case adminclient.IsNotFound(err):
		resp.Diagnostics.AddWarning("API key not found",
			fmt.Sprintf("API key %q no longer exists; it is removed from the state and will be planned for creation.", id))
		resp.State.RemoveResource(ctx)
		return
	case err != nil:
		resp.Diagnostics.AddError("Cannot read the API key", err.Error())
		return
	case k.Status == rules.KeyRevoked:
		resp.Diagnostics.AddWarning("API key revoked outside Terraform",
			fmt.Sprintf("API key %q (%s…%s) was revoked outside Terraform; it is removed from the state and a new key will be planned.", id, k.Prefix, k.Last4))
		resp.State.RemoveResource(ctx)
		return
	case k.ExpiresAt != nil && !k.ExpiresAt.After(time.Now()):
		resp.Diagnostics.AddWarning("API key expired",
			fmt.Sprintf("API key %q (%s…%s) expired at %s; it is removed from the state and a new key will be planned.", id, k.Prefix, k.Last4, formatTime(*k.ExpiresAt)))
		resp.State.RemoveResource(ctx)
		return
	}
	state.fill(k)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// Update is only reached for changes that need no API call (every input
// replaces the key); it keeps the computed values.
func (r *APIKeyResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan APIKeyResourceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *APIKeyResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state APIKeyResourceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if _, err := r.client.RevokeKey(ctx, state.ID.ValueString()); err != nil && !adminclient.IsNotFound(err) {
		resp.Diagnostics.AddError("Cannot revoke the API key", err.Error())
	}
}

func (r *APIKeyResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if !rules.ValidKeyID(req.ID) {
		resp.Diagnostics.AddError("Invalid API key id to import",
			fmt.Sprintf("%q is not a key id: want the 16 characters after tg_ (the id attribute, not the secret)", req.ID))
		return
	}
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}
