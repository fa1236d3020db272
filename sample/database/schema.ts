/** The sample's tables. Records are stored encrypted; the database never sees a plaintext field. */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS sample_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tenants (
  id          TEXT PRIMARY KEY,
  created_at  TEXT NOT NULL,
  shredded_at TEXT
);
CREATE TABLE IF NOT EXISTS customers (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  id            TEXT NOT NULL UNIQUE,
  tenant_id     TEXT NOT NULL REFERENCES tenants (id),
  encrypted_dek TEXT NOT NULL,
  payload       BLOB NOT NULL,
  created_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS customers_by_tenant ON customers (tenant_id, seq);
`;
