import { InvalidRequestError } from '../errors/invalid-request.error.js';

/**
 * Letters, digits, `_` and `-`, 1–64 characters, starting with a letter or digit and not ending
 * with `-`: always a valid suffix of a Vault key name.
 */
const TENANT_ID = /^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,62}[A-Za-z0-9_])?$/;

/** Checks a tenant id from a URL before anything else happens. */
export function parseTenantId(raw: string): string {
  if (!TENANT_ID.test(raw)) {
    throw new InvalidRequestError(
      'Invalid tenant id: use 1 to 64 letters, digits, "_" or "-", starting with a letter or digit and not ending with "-".',
    );
  }
  return raw;
}
