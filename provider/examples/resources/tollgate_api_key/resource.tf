resource "tollgate_api_key" "billing" {
  customer_id = tollgate_customer.acme.id
  description = "billing service"
  expires_in  = "2160h" # 90 days

  # Change a value to rotate: Terraform creates the new key first, then
  # revokes the old one.
  rotation_triggers = {
    quarter = "2026-Q4"
  }

  lifecycle {
    create_before_destroy = true
  }
}

output "billing_key" {
  value     = tollgate_api_key.billing.secret
  sensitive = true
}
