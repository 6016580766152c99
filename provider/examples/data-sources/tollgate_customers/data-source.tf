# Every active enterprise customer (the provider pages through the API).
data "tollgate_customers" "enterprise" {
  status = "active"
  tier   = "enterprise"
}

output "enterprise_customer_ids" {
  value = [for c in data.tollgate_customers.enterprise.customers : c.id]
}
