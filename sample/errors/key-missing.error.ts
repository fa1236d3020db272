import { SampleError } from './sample.error.js';

/**
 * The key service has no key for a tenant that was never shredded: a misconfiguration (another
 * Vault, mount or key prefix) or a key destroyed outside the app. Answered with 500 — not 410,
 * which would tell clients the data is gone for good when it may only be misplaced.
 */
export class KeyMissingError extends SampleError {
  readonly status = 500;
  readonly code = 'key_missing';

  constructor() {
    super(
      'A tenant with records has no KEK in the key service and was never shredded: check ' +
        'VAULT_ADDR and TRANSIT_MOUNT; if the key was destroyed on purpose, ' +
        'DELETE /tenants/:tenantId/kek records it.',
    );
  }
}
