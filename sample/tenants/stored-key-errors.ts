import {
  KekNotFoundError,
  KmsDecryptionError,
  KmsInvalidInputError,
  type ISession,
} from '@ascetic-ddd/nestjs-kms';
import { KeyMissingError } from '../errors/key-missing.error.js';
import { RecordIntegrityError } from '../errors/record-integrity.error.js';
import type { TenantsRepository } from './tenants.repository.js';

/**
 * What a KMS failure on a *stored* wrapped DEK means for the client: a malformed, altered or
 * moved one (Vault cannot parse or authenticate it) is damaged storage — 500 record_integrity,
 * not the client's 400; a missing key is 410 if the tenant was shredded meanwhile, else a
 * misplaced key (500 key_missing). Anything else (Vault unavailable…) is rethrown.
 */
export async function explainStoredKeyError(
  error: unknown,
  session: ISession,
  tenants: TenantsRepository,
  tenantId: string,
): Promise<never> {
  if (error instanceof KmsInvalidInputError || error instanceof KmsDecryptionError) {
    throw new RecordIntegrityError({ cause: error });
  }
  if (error instanceof KekNotFoundError) {
    await tenants.assertNotShredded(session, tenantId);
    throw new KeyMissingError();
  }
  throw error;
}
