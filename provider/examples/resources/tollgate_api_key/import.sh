# A key is imported by its id (the 16 characters after "tg_"). The secret is
# shown only once, at creation, so an imported key has no `secret` in state.
terraform import tollgate_api_key.billing abcdefghijklmnop
