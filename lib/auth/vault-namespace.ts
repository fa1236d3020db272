import { KmsConfigurationError } from '../errors/kms-configuration.error.js';
import { messages } from '../errors/messages.js';

/** Visible ASCII, `/`-separated segments (each checked below). */
const NAMESPACE_PATTERN = /^[\x21-\x7e]+$/;

/**
 * The `namespace` option as sent in `X-Vault-Namespace`: surrounding `/` removed; undefined when
 * not given. Throws {@link KmsConfigurationError} for an empty value, control characters,
 * spaces or non-ASCII characters (a header cannot carry them faithfully), or an empty, `.` or
 * `..` segment.
 */
export function resolveNamespace(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const rule =
    'must be a Vault namespace path such as "team-a" or "org/team-a": visible ASCII characters, ' +
    'no spaces, no empty, "." or ".." segments';
  if (typeof value !== 'string') {
    throw new KmsConfigurationError(messages.invalidOption('namespace', rule));
  }
  const trimmed = value.replace(/^\/+|\/+$/g, '');
  if (
    !NAMESPACE_PATTERN.test(trimmed) ||
    trimmed.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')
  ) {
    throw new KmsConfigurationError(messages.invalidOption('namespace', rule));
  }
  return trimmed;
}
