# A customer is imported by its id.
terraform import tollgate_customer.acme acme
