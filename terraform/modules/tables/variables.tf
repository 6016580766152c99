variable "prefix" {
  description = "Table-name prefix; the regional service's --table-prefix must match."
  type        = string
  default     = "tollgate-"
}

variable "replica_regions" {
  description = "Regions that get a replica, besides the provider's region (where the tables are created)."
  type        = list(string)
  default     = []
}

variable "point_in_time_recovery" {
  description = "Enable point-in-time recovery (recommended: usage is billing data)."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Refuse to delete the tables."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for every table."
  type        = map(string)
  default     = {}
}
