# token-rotator: read-only access for the applications that use the tokens.
#
# Grants the public records only (`tokens/<provider>`: access token, type, expiry). The
# rotator's private state (`state/<provider>`: refresh tokens, leases) is deliberately not
# granted. Assumes `mount: secret` and `prefix: token-rotator`.
#
#   bao policy write token-rotator-consumer deploy/vault/consumer-policy.hcl

path "secret/data/token-rotator/tokens/*" {
  capabilities = ["read"]
}
