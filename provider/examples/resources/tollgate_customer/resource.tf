resource "tollgate_customer" "acme" {
  id             = "acme"
  name           = "Acme Corp"
  contact        = "platform@acme.example.com"
  tier           = "enterprise"
  allowed_models = ["anthropic.*", "amazon.titan-*"]

  limits = {
    requests_per_minute     = 1200
    tokens_per_minute       = 400000
    monthly_token_budget    = 2000000000
    monthly_cost_budget_usd = 15000
  }

  tags = {
    cost_center = "cc-1234"
  }
}
