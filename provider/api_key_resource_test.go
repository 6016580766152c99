package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/tollgate-dev/tollgate/internal/rules"
)

func apiKeyConfig(customerID, trigger string) string {
	return fmt.Sprintf(`
resource "tollgate_customer" "k" {
  id             = %q
  name           = "Key owner"
  allowed_models = ["anthropic.*"]
  tags           = {}
}

resource "tollgate_api_key" "k" {
  customer_id       = tollgate_customer.k.id
  description       = "ci"
  expires_in        = "90d"
  rotation_triggers = { rotated = %q }

  lifecycle {
    create_before_destroy = true
  }
}
`, customerID, trigger)
}

// TestAccAPIKeyResource creates a key and calls Bedrock with it through the
// data plane, imports it, rotates it by changing rotation_triggers (the old
// key is refused afterwards, the new one works), and checks that destroy
// revokes the last key on the data plane too.
func TestAccAPIKeyResource(t *testing.T) {
	const addr = "tollgate_api_key.k"
	id := uniqueID("tfacc-key")
	var first, firstID, last, lastID string
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy: func(s *terraform.State) error {
			k, err := testAdmin(t).GetKey(context.Background(), lastID)
			if err != nil {
				return err
			}
			if k.Status != rules.KeyRevoked {
				return fmt.Errorf("key %s is %s after destroy", lastID, k.Status)
			}
			if err := awaitRefused(last); err != nil {
				return err
			}
			return checkCustomersDeleted(t, id)(s)
		},
		Steps: []resource.TestStep{
			{
				Config: apiKeyConfig(id, "1"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectSensitiveValue(addr, tfjsonpath.New("secret")),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "customer_id", id),
					resource.TestCheckResourceAttr(addr, "status", "active"),
					resource.TestCheckResourceAttr(addr, "description", "ci"),
					resource.TestMatchResourceAttr(addr, "secret", regexp.MustCompile(`^tg_[a-z2-7]{16}_[a-z2-7]{47}$`)),
					resource.TestCheckResourceAttrWith(addr, "expires_at", func(v string) error {
						at, err := time.Parse(time.RFC3339Nano, v)
						if err != nil {
							return err
						}
						if d := time.Until(at) - 90*24*time.Hour; d > time.Minute || d < -time.Minute {
							return fmt.Errorf("expires_at %s is not 90 days from now", v)
						}
						return nil
					}),
					func(s *terraform.State) error {
						a := s.RootModule().Resources[addr].Primary.Attributes
						first, firstID = a["secret"], a["id"]
						if !strings.HasPrefix(first, a["prefix"]+"_") || !strings.HasSuffix(first, a["last4"]) || a["prefix"] != "tg_"+firstID {
							return fmt.Errorf("prefix %q, last4 %q do not match the secret", a["prefix"], a["last4"])
						}
						// End to end: the key works on the data plane.
						return converse(first)
					},
				),
			},
			{
				ResourceName:            addr,
				ImportState:             true,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"secret", "expires_in", "rotation_triggers"},
			},
			{
				// Rotation: a new key first, then the old one is revoked.
				Config: apiKeyConfig(id, "2"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(addr, plancheck.ResourceActionCreateBeforeDestroy),
					plancheck.ExpectResourceAction("tollgate_customer.k", plancheck.ResourceActionNoop),
				}},
				Check: func(s *terraform.State) error {
					a := s.RootModule().Resources[addr].Primary.Attributes
					last, lastID = a["secret"], a["id"]
					if lastID == firstID || last == first {
						return fmt.Errorf("key not replaced")
					}
					old, err := testAdmin(t).GetKey(context.Background(), firstID)
					if err != nil {
						return err
					}
					if old.Status != rules.KeyRevoked {
						return fmt.Errorf("old key is %s", old.Status)
					}
					if err := converse(last); err != nil {
						return fmt.Errorf("new key: %w", err)
					}
					return awaitRefused(first)
				},
			},
			{
				// Nothing changes on a second plan: expires_in is not
				// evaluated again.
				Config:   apiKeyConfig(id, "2"),
				PlanOnly: true,
			},
		},
	})
}

// TestAccAPIKeyExpiresAt creates a key expiring at a time written with an
// offset: the API answers in UTC, which is no difference.
func TestAccAPIKeyExpiresAt(t *testing.T) {
	const addr = "tollgate_api_key.at"
	id := uniqueID("tfacc-exp")
	at := time.Now().Add(48 * time.Hour).Truncate(time.Second).In(time.FixedZone("", 3600)).Format(time.RFC3339)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		CheckDestroy:             checkCustomersDeleted(t, id),
		Steps: []resource.TestStep{
			{
				Config: fmt.Sprintf(`
resource "tollgate_customer" "at" {
  id             = %q
  name           = "Expiring"
  allowed_models = []
}

resource "tollgate_api_key" "at" {
  customer_id = tollgate_customer.at.id
  expires_at  = %q
}
`, id, at),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "expires_at", at),
					resource.TestCheckNoResourceAttr(addr, "description"),
					resource.TestCheckResourceAttr("tollgate_customer.at", "allowed_models.#", "0"),
				),
			},
		},
	})
}

// TestAccAPIKeyValidation checks plan-time validation of key arguments.
func TestAccAPIKeyValidation(t *testing.T) {
	step := func(attrs, want string) resource.TestStep {
		return resource.TestStep{
			Config:      `resource "tollgate_api_key" "bad" {` + "\n" + attrs + "\n}\n",
			PlanOnly:    true,
			ExpectError: regexp.MustCompile(want),
		}
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			step(`customer_id = "acme"
expires_in = "3651d"`, `at most 3650d`),
			step(`customer_id = "acme"
expires_in = "soon"`, `want a Go duration`),
			step(`customer_id = "acme"
expires_at = "tomorrow"`, `want an RFC 3339 time`),
			step(`customer_id = "acme"
expires_in = "1h"
expires_at = "2030-01-01T00:00:00Z"`, `cannot be configured together|Invalid Attribute Combination`),
			step(`customer_id = "ACME"`, `Invalid customer id`),
		},
	})
}

// TestAccAPIKeyImportErrors checks the messages of impossible imports.
func TestAccAPIKeyImportErrors(t *testing.T) {
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:        `resource "tollgate_api_key" "x" { customer_id = "acme" }`,
				ResourceName:  "tollgate_api_key.x",
				ImportState:   true,
				ImportStateId: "tg_not-an-id",
				ExpectError:   regexp.MustCompile(`not a key id`),
			},
		},
	})
}
