# token-rotator: least privilege for the rotator itself.
#
# Assumes the store's defaults, `mount: secret` (a KV version 2 engine) and
# `prefix: token-rotator`; replace `secret/` and `token-rotator` below if you changed them.
#
#   bao policy write token-rotator deploy/vault/rotator-policy.hcl   (or: vault policy write …)

# Records: read them, create new ones (check-and-set 0) and update them (check-and-set N).
# No delete, no destroy: old versions stay for an operator to roll back to.
path "secret/data/token-rotator/*" {
  capabilities = ["create", "read", "update"]
}

# Metadata: `read` tells a deleted latest version from a conflict, `list` lists records,
# `create`/`update` set max_versions and custom_metadata (managed-by, provider) on the
# records, and `patch` merges each new expires_at into custom_metadata.
path "secret/metadata/token-rotator/*" {
  capabilities = ["create", "read", "update", "patch", "list"]
}
