import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import { KmsConfigurationError } from '../errors/kms-configuration.error.js';
import { messages } from '../errors/messages.js';

/**
 * TLS settings of the connections to Vault (an `https://` address). Each PEM option takes either
 * the PEM text itself (anything containing `-----BEGIN`) or the path of a file holding it, read
 * once at startup. A missing, unreadable or non-PEM file fails the startup with a
 * `KmsConfigurationError` naming the option — never its content.
 * @publicApi
 */
export interface KmsTlsOptions {
  /**
   * The CA certificate(s) Vault's certificate must chain to, instead of Node's built-in roots:
   * PEM text or a file path, or a list of them (a file may hold several certificates).
   * @default Node's built-in CA list
   */
  readonly ca?: string | readonly string[];
  /**
   * The client certificate presented to Vault (mutual TLS, e.g. Vault's `cert` auth or a
   * listener with `tls_require_and_verify_client_cert`): PEM text or a file path. Needs `key`.
   */
  readonly cert?: string;
  /**
   * The private key of `cert` (unencrypted PEM: PKCS#8, PKCS#1 or SEC1), as text or a file path.
   * Needs `cert`. Never logged, never part of an error.
   */
  readonly key?: string;
  /**
   * The server name sent in SNI and checked against Vault's certificate, when it differs from
   * the host of `vaultAddr` (e.g. connecting by IP to a certificate issued for a DNS name).
   * @default the host of `vaultAddr`
   */
  readonly servername?: string;
  /**
   * Whether Vault's certificate must be valid for the server name and chain to a trusted CA.
   * `false` is UNSAFE: anyone on the network path can impersonate Vault and read the token and
   * every plaintext DEK. Meant for throwaway development setups only; the pool logs a warning
   * once when it is used. Prefer `ca` with the development CA.
   * @default true
   */
  readonly rejectUnauthorized?: boolean;
}

/** What the `https.Agent` gets: a secure context (no key text kept) and the checks. */
export interface TlsAgentOptions {
  readonly secureContext: SecureContext;
  readonly servername?: string;
  readonly rejectUnauthorized: boolean;
}

const KNOWN = new Set(['ca', 'cert', 'key', 'servername', 'rejectUnauthorized']);
const PEM_MARK = '-----BEGIN';
/** RFC 1123 host names (with an optional trailing dot), or a bare IP would not be sent in SNI. */
const HOST_NAME =
  /^(?=.{1,253}\.?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

function invalid(option: string, rule: string, cause?: unknown): KmsConfigurationError {
  // Only the cause's code (e.g. ENOENT) is kept: its message could quote key material.
  const code = (cause as { code?: unknown } | undefined)?.code;
  return new KmsConfigurationError(
    messages.invalidOption(option, rule),
    typeof code === 'string' ? { cause: Object.assign(new Error(code), { code }) } : {},
  );
}

/**
 * Validates the `tls` option, reads its files and builds the secure context, throwing a
 * {@link KmsConfigurationError} naming the first bad field. The message never contains PEM text
 * or a file's content, nor the path (a misplaced key could have been passed as one).
 */
export function resolveTlsOptions(value: unknown): TlsAgentOptions {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw invalid('tls', 'must be an object { ca, cert, key, servername, rejectUnauthorized }');
  const unknown = Object.keys(value).filter((field) => !KNOWN.has(field));
  if (unknown.length > 0)
    throw invalid(
      `tls.${unknown[0]}`,
      'is not a TLS option (ca, cert, key, servername, rejectUnauthorized)',
    );
  const options = value as KmsTlsOptions;
  const { servername, rejectUnauthorized = true } = options;
  if (typeof rejectUnauthorized !== 'boolean')
    throw invalid('tls.rejectUnauthorized', 'must be a boolean');
  if (servername !== undefined && (typeof servername !== 'string' || !HOST_NAME.test(servername)))
    throw invalid('tls.servername', 'must be a DNS host name such as "vault.internal"');
  if ((options.cert === undefined) !== (options.key === undefined)) {
    const [given, missing] = options.cert === undefined ? ['key', 'cert'] : ['cert', 'key'];
    throw invalid(`tls.${given}`, `needs tls.${missing} too (a client certificate and its key)`);
  }
  const ca = options.ca === undefined ? undefined : readCa(options.ca);
  const cert = options.cert === undefined ? undefined : readCertificates('tls.cert', options.cert);
  const key = options.key === undefined ? undefined : readKey(options.key);
  if (cert && key && !new X509Certificate(cert).checkPrivateKey(key))
    throw invalid('tls.key', 'is not the private key of tls.cert');
  let secureContext: SecureContext;
  try {
    secureContext = createSecureContext({
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key: key.export({ type: 'pkcs8', format: 'pem' }) }),
    });
  } catch (error) {
    throw invalid('tls', 'the certificates and key could not be loaded together', error);
  }
  return {
    secureContext,
    ...(servername === undefined ? {} : { servername: servername.replace(/\.$/, '') }),
    rejectUnauthorized,
  };
}

/** PEM text as is, or the content of the file at that path. */
function readPem(option: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '')
    throw invalid(option, 'must be PEM text or the path of a PEM file');
  if (value.includes(PEM_MARK)) return value;
  let text: string;
  try {
    text = readFileSync(value, 'utf8');
  } catch (error) {
    throw invalid(option, 'is not PEM text and names no readable file', error);
  }
  if (!text.includes(PEM_MARK)) throw invalid(option, 'names a file that holds no PEM');
  return text;
}

/** The PEM certificates in `value` (text or file), each checked to parse. */
function readCertificates(option: string, value: unknown): string {
  const text = readPem(option, value);
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw invalid(option, 'holds no PEM certificate');
  if (!blocks.every(parses)) throw invalid(option, 'holds a certificate that cannot be parsed');
  return blocks.join('\n');
}

function parses(block: string): boolean {
  try {
    return new X509Certificate(block).raw.length > 0;
  } catch {
    return false;
  }
}

function readCa(value: unknown): string[] {
  if (Array.isArray(value)) {
    if (value.length === 0) throw invalid('tls.ca', 'must not be an empty list');
    return value.map((item, i) => readCertificates(`tls.ca[${i}]`, item));
  }
  return [readCertificates('tls.ca', value)];
}

function readKey(value: unknown): KeyObject {
  const text = readPem('tls.key', value);
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text))
    throw invalid('tls.key', 'is encrypted: give the key unencrypted (e.g. from a secret file)');
  try {
    return createPrivateKey({ key: text, format: 'pem' });
  } catch (error) {
    throw invalid('tls.key', 'holds no PEM private key that can be read', error);
  }
}
