# Every setting can come from the environment instead:
# TOLLGATE_ENDPOINT, TOLLGATE_ADMIN_TOKEN, TOLLGATE_CA_CERT_FILE.
provider "tollgate" {
  endpoint     = "https://tollgate-admin.internal.example.com"
  admin_token  = var.tollgate_admin_token
  ca_cert_file = "/etc/ssl/private-ca.pem"
}

variable "tollgate_admin_token" {
  type      = string
  sensitive = true
}
