import { readFile } from 'node:fs/promises';
import { KmsConfigurationError } from '../errors/kms-configuration.error.js';
import { Secret } from '../secret.js';
import { authMessages } from './auth.messages.js';

/** Visible ASCII only: what a token, a secret id or a JWT is made of. */
const CREDENTIAL_PATTERN = /^[\x21-\x7e]+$/;

/**
 * Reads a credential from a file (a token sink, a secret id, a service-account JWT), trimmed.
 * A failure is a {@link KmsConfigurationError} naming the file and the error code — never the
 * content, which could be a credential.
 */
export async function readSecretFile(what: string, path: string): Promise<Secret> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    throw new KmsConfigurationError(
      authMessages.fileUnreadable(what, path, typeof code === 'string' ? code : 'UNKNOWN'),
    );
  }
  const value = text.trim();
  if (!CREDENTIAL_PATTERN.test(value)) {
    throw new KmsConfigurationError(authMessages.fileInvalid(what, path));
  }
  return new Secret(value);
}
