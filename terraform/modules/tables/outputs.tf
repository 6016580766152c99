output "config_table_name" {
  description = "Name of the config table (customers, keys, audit, heartbeats)."
  value       = aws_dynamodb_table.this["config"].name
}

output "usage_table_name" {
  description = "Name of the usage table (writer-owned usage components)."
  value       = aws_dynamodb_table.this["usage"].name
}

output "table_arns" {
  description = "ARNs of both tables, for IAM policies."
  value       = [for t in aws_dynamodb_table.this : t.arn]
}
