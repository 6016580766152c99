data "tollgate_customer" "acme" {
  id = "acme"
}

output "acme_limits" {
  value = data.tollgate_customer.acme.limits
}
