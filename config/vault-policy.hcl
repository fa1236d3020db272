# Least-privilege Vault policy for @ascetic-ddd/nestjs-kms (one identity does everything).
# Written for the library's defaults: mount "transit", keyPrefix "tenant-", keyType "aes256-gcm96".
# Adapt the mount, the prefix and the "type" values if your options differ. SECURITY.md explains
# each stanza and how to split the shredding capability off to a second identity.
#
# A "*" at the end of a path is a prefix glob: "transit/keys/tenant-*" also matches
# "transit/keys/tenant-42/rotate" and ".../config" (which the library needs) and ".../trim",
# ".../import", ".../import_version" (which it does not). The allowed_parameters lists keep
# those out of reach, and keep "exportable", "allow_plaintext_backup", "min_decryption_version"
# and the other key settings out of the application's hands.

# encryptDek: POST encrypt/<key> {plaintext, type}. "create" while the key does not exist yet
# (Vault creates it on this call), "update" once it does.
path "transit/encrypt/tenant-*" {
  capabilities = ["create", "update"]
  allowed_parameters = {
    "plaintext" = []
    "type"      = ["aes256-gcm96"]
  }
}

# decryptDek: POST decrypt/<key> {ciphertext}
path "transit/decrypt/tenant-*" {
  capabilities = ["update"]
  allowed_parameters = {
    "ciphertext" = []
  }
}

# rewrapDek: POST rewrap/<key> {ciphertext}
path "transit/rewrap/tenant-*" {
  capabilities = ["update"]
  allowed_parameters = {
    "ciphertext" = []
  }
}

# generateDek: POST datakey/plaintext/<key> {bits}
path "transit/datakey/plaintext/tenant-*" {
  capabilities = ["update"]
  allowed_parameters = {
    "bits" = []
  }
}

# POST   keys/<key> {type}                  update  create a missing KEK (generateDek, rotateKek;
#                                                   encryptDek when upsert is disabled)
# GET    keys/<key>                         read    rotateKek, when Vault < 1.14 answers a create
#                                                   or rotate with 204 and no key object, and
#                                                   (where retries are supported) after a rotation
#                                                   whose answer was lost
# POST   keys/<key>/rotate                  update  rotateKek
# POST   keys/<key>/config {deletion_allowed}  update  deleteKek, step 1
# DELETE keys/<key>                         delete  deleteKek, step 2
path "transit/keys/tenant-*" {
  capabilities = ["read", "update", "delete"]
  allowed_parameters = {
    "type"             = ["aes256-gcm96"]
    "deletion_allowed" = []
  }
}

# setup(): GET auth/token/lookup-self. Vault's built-in "default" policy already grants it; it is
# repeated for tokens issued without that policy. setup()'s GET sys/health needs no capability.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
