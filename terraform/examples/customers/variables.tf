variable "id_prefix" {
  description = "Prefix of every customer id, to keep several copies of this example apart."
  type        = string
  default     = ""
}

variable "rotation_generation" {
  description = "Bump to rotate every service key."
  type        = string
  default     = "1"
}
