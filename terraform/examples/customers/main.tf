# Customers and their API keys, managed with the Tollgate provider.
#
# The provider reads TOLLGATE_ENDPOINT and TOLLGATE_ADMIN_TOKEN (and
# TOLLGATE_CA_CERT_FILE for a private CA) from the environment, so no secret
# lives in this configuration. See provider/README.md for installing the
# provider without a registry.

terraform {
  required_version = ">= 1.5.0"
  required_providers {
    tollgate = {
      source = "tollgate-dev/tollgate"
    }
  }
}

provider "tollgate" {}

locals {
  customers = {
    acme = {
      name   = "Acme Corp"
      tier   = "enterprise"
      models = ["anthropic.*", "amazon.*"]
      rpm    = 1200
      tpm    = 400000
    }
    globex = {
      name   = "Globex"
      tier   = "standard"
      models = ["anthropic.claude-3-haiku-*"]
      rpm    = 300
      tpm    = 100000
    }
  }
}

resource "tollgate_customer" "this" {
  for_each = local.customers

  id             = "${var.id_prefix}${each.key}"
  name           = each.value.name
  contact        = "platform+${each.key}@example.com"
  tier           = each.value.tier
  allowed_models = each.value.models

  limits = {
    requests_per_minute  = each.value.rpm
    tokens_per_minute    = each.value.tpm
    monthly_token_budget = 0
  }

  tags = {
    managed_by = "terraform"
  }
}

# One key per customer for its backend service, replaced (with no gap, the
# new key exists before the old one is revoked) whenever rotation_generation
# is bumped.
resource "tollgate_api_key" "service" {
  for_each = tollgate_customer.this

  customer_id = each.value.id
  description = "backend service"
  expires_in  = "2160h" # 90 days

  rotation_triggers = {
    generation = var.rotation_generation
  }

  lifecycle {
    create_before_destroy = true
  }
}
