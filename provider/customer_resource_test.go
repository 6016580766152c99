package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/tollgate-dev/tollgate/internal/adminclient"
	"github.com/tollgate-dev/tollgate/internal/rules"
)

// TestAccCustomerResource creates a customer with every attribute, reads it
// back through the data source, imports it, updates it in place, and
// destroys it (soft delete).
func TestAccCustomerResource(t *testing.T) {
	id := uniqueID("tfacc-cus")
	const addr = "tollgate_customer.test"
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             checkCustomersDeleted(t, id),
		Steps: []resource.TestStep{
			{
				Config: fmt.Sprintf(`
resource "tollgate_customer" "test" {
  id             = %q
  name           = "Acme Corp"
  contact        = "ops@acme.example"
  tier           = "gold"
  allowed_models = ["anthropic.*", "amazon.*"]
  limits = {
    requests_per_minute     = 600
    monthly_cost_budget_usd = 12.5
  }
  tags = { team = "ml" }
}

data "tollgate_customer" "test" {
  id = tollgate_customer.test.id
}
`, id),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "id", id),
					resource.TestCheckResourceAttr(addr, "status", "active"),
					resource.TestCheckResourceAttr(addr, "version", "1"),
					resource.TestCheckResourceAttr(addr, "allowed_models.#", "2"),
					resource.TestCheckTypeSetElemAttr(addr, "allowed_models.*", "amazon.*"),
					resource.TestCheckResourceAttr(addr, "limits.requests_per_minute", "600"),
					resource.TestCheckResourceAttr(addr, "limits.tokens_per_minute", "0"),
					resource.TestCheckResourceAttr(addr, "limits.monthly_cost_budget_usd", "12.5"),
					resource.TestCheckResourceAttr(addr, "tags.team", "ml"),
					resource.TestCheckResourceAttrSet(addr, "created_at"),
					resource.TestCheckResourceAttrPair("data.tollgate_customer.test", "name", addr, "name"),
					resource.TestCheckResourceAttrPair("data.tollgate_customer.test", "limits.monthly_cost_budget_usd", addr, "limits.monthly_cost_budget_usd"),
					resource.TestCheckResourceAttrPair("data.tollgate_customer.test", "updated_at", addr, "updated_at"),
					func(*terraform.State) error {
						c, err := testAdmin(t).GetCustomer(context.Background(), id)
						if err != nil {
							return err
						}
						if c.Name != "Acme Corp" || c.Tier != "gold" || c.Limits.RequestsPerMinute != 600 || c.Tags["team"] != "ml" {
							return fmt.Errorf("API has %+v", c)
						}
						return nil
					},
				),
			},
			{
				ResourceName:      addr,
				ImportState:       true,
				ImportStateId:     id,
				ImportStateVerify: true,
			},
			{
				// In place: name, status, limits and tags change, contact and
				// tier go; the id and creation time stay.
				Config: fmt.Sprintf(`
resource "tollgate_customer" "test" {
  id             = %q
  name           = "Acme Corporation"
  status         = "suspended"
  allowed_models = ["anthropic.*"]
  limits = {
    tokens_per_minute = 200000
  }
}
`, id),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "id", id),
					resource.TestCheckResourceAttr(addr, "name", "Acme Corporation"),
					resource.TestCheckResourceAttr(addr, "status", "suspended"),
					resource.TestCheckResourceAttr(addr, "version", "2"),
					resource.TestCheckNoResourceAttr(addr, "contact"),
					resource.TestCheckNoResourceAttr(addr, "tier"),
					resource.TestCheckNoResourceAttr(addr, "tags.%"),
					resource.TestCheckResourceAttr(addr, "limits.requests_per_minute", "0"),
					resource.TestCheckResourceAttr(addr, "limits.tokens_per_minute", "200000"),
					func(*terraform.State) error {
						c, err := testAdmin(t).GetCustomer(context.Background(), id)
						if err != nil {
							return err
						}
						if c.Status != rules.CustomerSuspended || c.Version != 2 || c.Contact != "" || len(c.Tags) != 0 {
							return fmt.Errorf("API has %+v", c)
						}
						return nil
					},
				),
			},
			{
				ResourceName:      addr,
				ImportState:       true,
				ImportStateId:     id,
				ImportStateVerify: true,
			},
		},
	})
}

// checkCustomersDeleted is a CheckDestroy: each customer is soft-deleted.
func checkCustomersDeleted(t *testing.T, ids ...string) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		for _, rs := range s.RootModule().Resources {
			if rs.Type == "tollgate_customer" {
				ids = append(ids, rs.Primary.ID)
			}
		}
		for _, id := range ids {
			c, err := testAdmin(t).GetCustomer(context.Background(), id)
			if adminclient.IsNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			if c.Status != rules.CustomerDeleted {
				return fmt.Errorf("customer %s is %s after destroy", id, c.Status)
			}
		}
		return nil
	}
}

// TestAccCustomerDrift changes and deletes a customer and its key outside
// Terraform and checks the plans: an update of what changed, re-creation
// of what is gone.
func TestAccCustomerDrift(t *testing.T) {
	const cus, key = "tollgate_customer.drift", "tollgate_api_key.drift"
	config := `
resource "tollgate_customer" "drift" {
  name           = "Drift"
  allowed_models = ["*"]
  limits         = { requests_per_minute = 10 }
}

resource "tollgate_api_key" "drift" {
  customer_id = tollgate_customer.drift.id
}
`
	var customerID, keyID string
	ctx := context.Background()
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             checkCustomersDeleted(t),
		Steps: []resource.TestStep{
			{
				Config: config,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestMatchResourceAttr(cus, "id", regexp.MustCompile(`^cus-`)),
					func(s *terraform.State) error {
						customerID = s.RootModule().Resources[cus].Primary.ID
						keyID = s.RootModule().Resources[key].Primary.ID
						return nil
					},
				),
			},
			{
				// Edited and revoked outside Terraform.
				PreConfig: func() {
					c := testAdmin(t)
					name, rpm := "Edited elsewhere", int64(99)
					if _, err := c.PatchCustomer(ctx, customerID, adminclient.PatchCustomerRequest{
						Name: &name, Limits: &adminclient.LimitsPatch{RequestsPerMinute: &rpm}, Version: 1,
					}); err != nil {
						t.Fatal(err)
					}
					if _, err := c.SuspendCustomer(ctx, customerID, 0); err != nil {
						t.Fatal(err)
					}
					if _, err := c.RevokeKey(ctx, keyID); err != nil {
						t.Fatal(err)
					}
				},
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(cus, plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction(key, plancheck.ResourceActionCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(cus, "name", "Drift"),
					resource.TestCheckResourceAttr(cus, "status", "active"),
					resource.TestCheckResourceAttr(cus, "limits.requests_per_minute", "10"),
					resource.TestCheckResourceAttr(cus, "version", "4"),
					func(s *terraform.State) error {
						if s.RootModule().Resources[cus].Primary.ID != customerID {
							return fmt.Errorf("customer was replaced")
						}
						if s.RootModule().Resources[key].Primary.ID == keyID {
							return fmt.Errorf("key was not re-created")
						}
						return nil
					},
				),
			},
			{
				// Deleted outside Terraform: its id stays taken, so a new
				// customer (with a new generated id) and key are planned.
				PreConfig: func() {
					if _, err := testAdmin(t).DeleteCustomer(ctx, customerID, 0); err != nil {
						t.Fatal(err)
					}
				},
				Config: config,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(cus, plancheck.ResourceActionCreate),
					plancheck.ExpectResourceAction(key, plancheck.ResourceActionCreate),
				}},
				Check: func(s *terraform.State) error {
					if s.RootModule().Resources[cus].Primary.ID == customerID {
						return fmt.Errorf("customer id %s reused", customerID)
					}
					customerID = s.RootModule().Resources[cus].Primary.ID
					return nil
				},
			},
			{
				// Changed outside Terraform between plan and apply: the
				// update carries the version read, so it is refused (409)
				// instead of silently overwriting the other change.
				Config: strings.Replace(config, `"Drift"`, `"Drift 2"`, 1),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(cus, plancheck.ResourceActionUpdate),
					sideEffect(func() error {
						tier := "changed-meanwhile"
						_, err := testAdmin(t).PatchCustomer(ctx, customerID, adminclient.PatchCustomerRequest{Tier: &tier, Version: 1})
						return err
					}),
				}},
				ExpectError: regexp.MustCompile(`Customer changed outside Terraform(.|\n)*version 1`),
			},
		},
	})
}

// sideEffect is a plan check that changes something between plan and
// apply (the harness applies the saved plan without refreshing).
type sideEffect func() error

func (f sideEffect) CheckPlan(_ context.Context, _ plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	resp.Error = f()
}

// TestAccCustomerValidation checks that values internal/rules refuses fail
// the plan, before anything is sent.
func TestAccCustomerValidation(t *testing.T) {
	step := func(attrs, want string) resource.TestStep {
		return resource.TestStep{
			Config: `
resource "tollgate_customer" "bad" {
  name = "Bad"
` + attrs + `
}
`,
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(want),
		}
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			step(`allowed_models = ["anthropic..claude"]`, `model pattern "anthropic..claude"`),
			step(`allowed_models = ["has space"]`, `Invalid model pattern`),
			step(`allowed_models = ["*"]
  limits = { requests_per_minute = 1000001 }`, `requests_per_minute must be between 0 \(no limit\) and 1000000`),
			step(`allowed_models = ["*"]
  limits = { monthly_cost_budget_usd = -1 }`, `monthly_cost_budget_usd must be between 0`),
			step(`allowed_models = ["*"]
  id = "Not_Valid"`, `only lower-case letters, digits and '-'`),
			step(`allowed_models = ["*"]
  status = "deleted"`, `value must be one of`),
			step(`allowed_models = ["*"]
  tier = "Gold!"`, `Invalid tier`),
		},
	})
}
