# Tollgate's DynamoDB tables as Global Tables (version 2019.11.21): one
# replica per serving region, multi-region eventual consistency (MREC).
# The schema mirrors internal/store.Tables.Definitions; a Go test
# (internal/store/terraform_test.go) keeps the two in step.

locals {
  tables = {
    config = "${var.prefix}config"
    usage  = "${var.prefix}usage"
  }
}

resource "aws_dynamodb_table" "this" {
  for_each = local.tables

  name         = each.value
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  attribute {
    name = "gsi1pk"
    type = "S"
  }
  attribute {
    name = "gsi1sk"
    type = "S"
  }

  global_secondary_index {
    name            = "gsi1"
    hash_key        = "gsi1pk"
    range_key       = "gsi1sk"
    projection_type = "ALL"
  }

  # Global Tables replicate through streams.
  stream_enabled   = true
  stream_view_type = "NEW_AND_OLD_IMAGES"

  # Expired heartbeats and old audit items are removed by DynamoDB; the
  # code checks expiry itself too, so TTL's lag (up to days) never matters.
  ttl {
    attribute_name = "expires_at_epoch"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery
  }

  deletion_protection_enabled = var.deletion_protection

  dynamic "replica" {
    for_each = toset(var.replica_regions)
    content {
      region_name            = replica.value
      point_in_time_recovery = var.point_in_time_recovery
    }
  }

  tags = var.tags
}
