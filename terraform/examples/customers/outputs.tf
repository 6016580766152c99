output "customer_ids" {
  description = "Customer ids by name."
  value       = { for k, c in tollgate_customer.this : k => c.id }
}

output "key_ids" {
  description = "Service key ids by customer."
  value       = { for k, key in tollgate_api_key.service : k => key.id }
}

output "key_secrets" {
  description = "Service keys by customer; hand them to each service's secret store."
  value       = { for k, key in tollgate_api_key.service : k => key.secret }
  sensitive   = true
}
