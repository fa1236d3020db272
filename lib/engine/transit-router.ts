import type {
  ConfigureKeyParams,
  CreateKeyParams,
  DecryptItem,
  EncryptItem,
  ItemResult,
  RewrapItem,
  TransitEngine,
} from './transit-engine.js';
import { VAULT_KEY_NAME_PATTERN } from './transit-engine.js';
import { decodeBatchRequestItems, decodeWithMapstructure } from './batch-input.js';
import { TransitError } from './transit.error.js';
import { parseFields, type FieldSchema } from './vault-fields.js';

export type LogicalOperation = 'read' | 'update' | 'delete' | 'list';
export type Capability = 'create' | 'read' | 'update' | 'delete' | 'list';

export interface RouterRequest {
  readonly operation: LogicalOperation;
  /** Path inside the mount, already percent-decoded (Vault routes on the decoded path). */
  readonly path: string;
  readonly body: Record<string, unknown>;
  /** Throws a 403 {@link TransitError} when the caller lacks the capability. */
  readonly authorize: (capability: Capability) => void;
}

export interface RouterResponse {
  readonly status: number;
  readonly data?: Record<string, unknown>;
  readonly warnings?: readonly string[];
  /** Batch answers with failed items are written raw, without the trailing newline. */
  readonly raw?: boolean;
}

const ENCRYPT_FIELDS: FieldSchema = {
  plaintext: 'string',
  context: 'string',
  key_version: 'int',
  associated_data: 'string',
  nonce: 'string',
  type: 'string',
  convergent_encryption: 'bool',
  batch_input: 'array',
  partial_failure_response_code: 'int',
  padding_scheme: 'string',
};
const DECRYPT_FIELDS: FieldSchema = {
  ciphertext: 'string',
  context: 'string',
  associated_data: 'string',
  nonce: 'string',
  batch_input: 'array',
  partial_failure_response_code: 'int',
  padding_scheme: 'string',
};
const REWRAP_FIELDS: FieldSchema = {
  ciphertext: 'string',
  context: 'string',
  nonce: 'string',
  key_version: 'int',
  batch_input: 'array',
  encrypt_padding_scheme: 'string',
  decrypt_padding_scheme: 'string',
};
const CREATE_FIELDS: FieldSchema = {
  type: 'string',
  derived: 'bool',
  convergent_encryption: 'bool',
  exportable: 'bool',
  allow_plaintext_backup: 'bool',
  auto_rotate_period: 'duration',
  key_size: 'int',
  context: 'string',
};
const CONFIG_FIELDS: FieldSchema = {
  min_decryption_version: 'int',
  min_encryption_version: 'int',
  deletion_allowed: 'bool',
  exportable: 'bool',
  allow_plaintext_backup: 'bool',
  auto_rotate_period: 'duration',
};
const DATAKEY_FIELDS: FieldSchema = {
  bits: 'int',
  context: 'string',
  nonce: 'string',
  key_version: 'int',
  padding_scheme: 'string',
};
const isName = (segment: string | undefined): segment is string =>
  segment !== undefined && VAULT_KEY_NAME_PATTERN.test(segment);

/**
 * Vault Transit's HTTP surface inside one mount (vault-transit-api §2, §4, §5): path routing with
 * Vault's key-name rule, field parsing, capabilities, batch semantics. Returns what the HTTP
 * layer writes; throws {@link TransitError} for error answers.
 */
export function routeTransit(engine: TransitEngine, request: RouterRequest): RouterResponse {
  const segments = request.path.split('/');
  const [head, second, third, fourth] = segments;
  const { operation } = request;

  // Vault evaluates the ACL on the path before routing (§1.5): a token lacking the capability of
  // the operation gets 403 even where the method is wrong (405) or the path unknown (404).
  request.authorize(requiredCapability(engine, operation, segments));

  // `keys/?`: a list request arrives as `keys/` (the HTTP layer appends the slash, as Vault does).
  if (head === 'keys' && (segments.length === 1 || (segments.length === 2 && second === ''))) {
    if (operation !== 'list') throw TransitError.unsupportedOperation();
    const keys = engine.listKeys();
    if (keys.length === 0) throw new TransitError(404, []);
    return { status: 200, data: { keys } };
  }
  if (head === 'keys' && isName(second) && segments.length === 2)
    return routeKey(engine, request, second);
  if (head === 'keys' && isName(second) && segments.length === 3 && operation === 'update') {
    if (third === 'config') {
      const { values, warnings } = parseFields(request.body, CONFIG_FIELDS);
      const result = engine.configureKey(second, {
        ...optional('minDecryptionVersion', values['min_decryption_version']),
        ...optional('minEncryptionVersion', values['min_encryption_version']),
        ...optional('deletionAllowed', values['deletion_allowed']),
        ...optional('exportable', values['exportable']),
        ...optional('allowPlaintextBackup', values['allow_plaintext_backup']),
        ...optional('autoRotatePeriod', values['auto_rotate_period']),
      } as ConfigureKeyParams);
      return { status: 200, data: result.key, warnings: [...warnings, ...result.warnings] };
    }
    if (third === 'rotate') {
      const { warnings } = parseFields(request.body, {});
      return { status: 200, data: engine.rotateKey(second), warnings };
    }
    if (third === 'trim') {
      const { values, warnings } = parseFields(request.body, { min_available_version: 'int' });
      return {
        status: 200,
        data: engine.trimKey(second, values['min_available_version'] as number | undefined),
        warnings,
      };
    }
  }
  if (
    head === 'keys' &&
    isName(second) &&
    segments.length === 3 &&
    ['config', 'rotate', 'trim'].includes(third ?? '')
  ) {
    throw TransitError.unsupportedOperation();
  }
  if (
    (head === 'encrypt' || head === 'decrypt' || head === 'rewrap') &&
    isName(second) &&
    segments.length === 2
  ) {
    if (operation !== 'update') throw TransitError.unsupportedOperation();
    if (head === 'encrypt') return routeEncrypt(engine, request, second);
    return head === 'decrypt'
      ? routeDecrypt(engine, request, second)
      : routeRewrap(engine, request, second);
  }
  if (head === 'datakey' && isName(second) && isName(third) && fourth === undefined) {
    if (operation !== 'update') throw TransitError.unsupportedOperation();
    return routeDataKey(engine, request, second, third);
  }
  throw TransitError.unsupportedPath();
}

/**
 * The capability Vault's ACL requires: the operation's own, except on `encrypt/:name` where the
 * existence check (run before the ACL) makes a write on a missing key a `create`. That check
 * reads storage, so a name with `..` fails there, before the ACL, with a clean 400.
 */
function requiredCapability(
  engine: TransitEngine,
  operation: LogicalOperation,
  segments: readonly string[],
): Capability {
  const [head, name] = segments;
  if (operation === 'update' && head === 'encrypt' && segments.length === 2 && isName(name))
    return engine.encryptExistenceCheck(name) ? 'update' : 'create';
  return operation;
}

function routeKey(engine: TransitEngine, request: RouterRequest, name: string): RouterResponse {
  switch (request.operation) {
    case 'read': {
      const key = engine.readKey(name);
      if (!key) throw new TransitError(404, []);
      return { status: 200, data: key };
    }
    case 'update': {
      const { values, warnings } = parseFields(request.body, CREATE_FIELDS);
      const key = engine.createKey(name, {
        ...optional('type', values['type']),
        ...optional('derived', values['derived']),
        ...optional('convergentEncryption', values['convergent_encryption']),
        ...optional('exportable', values['exportable']),
        ...optional('allowPlaintextBackup', values['allow_plaintext_backup']),
        ...optional('autoRotatePeriod', values['auto_rotate_period']),
        ...optional('keySize', values['key_size']),
      } as CreateKeyParams);
      return { status: 200, data: key, warnings };
    }
    case 'delete':
      engine.deleteKey(name);
      return { status: 204 };
    case 'list':
      throw TransitError.unsupportedOperation();
  }
}

function routeEncrypt(engine: TransitEngine, request: RouterRequest, name: string): RouterResponse {
  const { values, warnings } = parseFields(request.body, ENCRYPT_FIELDS);
  const batchInput = values['batch_input'];
  const upsert = {
    allowed: true,
    ...optional('type', values['type'] as string | undefined),
    ...optional('convergentEncryption', values['convergent_encryption'] as boolean | undefined),
  };
  if (batchInput !== undefined && batchInput !== null) {
    const items: EncryptItem[] = decodeBatchRequestItems(batchInput, 'plaintext');
    const results = engine.encrypt(name, items, true, upsert);
    return batchAnswer(results, warnings, values['partial_failure_response_code']);
  }
  if (values['plaintext'] === undefined) throw TransitError.user('missing plaintext to encrypt');
  const [result] = engine.encrypt(
    name,
    [
      singleItem(values, [
        'plaintext',
        'context',
        'key_version',
        'associated_data',
        'nonce',
      ]) as unknown as EncryptItem,
    ],
    false,
    upsert,
  );
  return {
    status: 200,
    data: { ciphertext: result?.ciphertext, key_version: result?.key_version },
    warnings,
  };
}

function routeDecrypt(engine: TransitEngine, request: RouterRequest, name: string): RouterResponse {
  const { values, warnings } = parseFields(request.body, DECRYPT_FIELDS);
  const batchInput = values['batch_input'];
  if (batchInput !== undefined && batchInput !== null) {
    const items: DecryptItem[] = decodeBatchRequestItems(batchInput, 'ciphertext');
    const results = engine.decrypt(name, items, true);
    return batchAnswer(results, warnings, values['partial_failure_response_code']);
  }
  if (!values['ciphertext']) throw TransitError.user('missing ciphertext to decrypt');
  const [result] = engine.decrypt(
    name,
    [
      singleItem(values, [
        'ciphertext',
        'context',
        'associated_data',
        'nonce',
      ]) as unknown as DecryptItem,
    ],
    false,
  );
  return { status: 200, data: { plaintext: result?.plaintext }, warnings };
}

function routeRewrap(engine: TransitEngine, request: RouterRequest, name: string): RouterResponse {
  const { values, warnings } = parseFields(request.body, REWRAP_FIELDS);
  const batchInput = values['batch_input'];
  if (batchInput !== undefined && batchInput !== null) {
    // Rewrap decodes items with plain mapstructure: a missing ciphertext is an item error.
    const items: RewrapItem[] = decodeWithMapstructure(batchInput);
    const results = engine.rewrap(name, items, true);
    return { status: 200, data: { batch_results: results.map(orderItem) }, warnings };
  }
  if (!values['ciphertext']) throw TransitError.user('missing ciphertext to decrypt');
  const [result] = engine.rewrap(
    name,
    [
      singleItem(values, [
        'ciphertext',
        'context',
        'key_version',
        'nonce',
      ]) as unknown as RewrapItem,
    ],
    false,
  );
  return {
    status: 200,
    data: { ciphertext: result?.ciphertext, key_version: result?.key_version },
    warnings,
  };
}

function routeDataKey(
  engine: TransitEngine,
  request: RouterRequest,
  type: string,
  name: string,
): RouterResponse {
  const { values, warnings } = parseFields(request.body, DATAKEY_FIELDS);
  if (type !== 'plaintext' && type !== 'wrapped')
    throw TransitError.user("Invalid path, must be 'plaintext' or 'wrapped'");
  const result = engine.dataKey(name, {
    ...optional('bits', values['bits'] as number | undefined),
    ...optional('context', values['context'] as string | undefined),
    ...optional('nonce', values['nonce'] as string | undefined),
    ...optional('key_version', values['key_version'] as number | undefined),
  });
  const data: Record<string, unknown> = {
    ciphertext: result.ciphertext,
    key_version: result.keyVersion,
  };
  if (type === 'plaintext') data['plaintext'] = result.plaintext.toString('base64');
  result.plaintext.fill(0);
  return { status: 200, data, warnings };
}

function singleItem(
  values: Record<string, unknown>,
  fields: readonly string[],
): Record<string, unknown> {
  const item: Record<string, unknown> = {};
  for (const field of fields) if (values[field] !== undefined) item[field] = values[field];
  return item;
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

/** Vault's item field order: ciphertext, key_version, plaintext, error, reference. */
function orderItem(item: ItemResult): Record<string, unknown> {
  const ordered: Record<string, unknown> = {};
  if (item.ciphertext !== undefined) ordered['ciphertext'] = item.ciphertext;
  if (item.key_version !== undefined) ordered['key_version'] = item.key_version;
  if (item.plaintext !== undefined) ordered['plaintext'] = item.plaintext;
  if (item.error !== undefined) ordered['error'] = item.error;
  ordered['reference'] = item.reference;
  return ordered;
}

/**
 * Encrypt/decrypt batch status (§5, path_encrypt.go batchRequestResponse): the success envelope
 * with 400 when an item failed with a user error, else 500 when one failed with an internal error;
 * `partial_failure_response_code` replaces it only when at least one item succeeded.
 */
function batchAnswer(results: ItemResult[], warnings: string[], override: unknown): RouterResponse {
  const data = { batch_results: results.map(orderItem) };
  const userError = results.some((r) => r.error !== undefined && r.internal !== true);
  const internalError = results.some((r) => r.internal === true);
  if (!userError && !internalError) return { status: 200, data, warnings };
  let status = userError ? 400 : 500;
  const allWarnings = [...warnings];
  const succeeded = results.some((r) => r.error === undefined);
  if (typeof override === 'number' && succeeded) {
    // Vault accepts 1..599. Deviation: 1..99 cannot be written by Node's HTTP server (nor by Go's
    // net/http, which panics on such a WriteHeader code, so a real Vault drops the connection);
    // the double treats them like any out-of-range value: keeps the status and warns.
    if (override >= 100 && override <= 599) status = override;
    else
      allWarnings.push(
        `invalid HTTP response code override from partial_failure_response_code, reverting to ${status}`,
      );
  }
  return { status, data, warnings: allWarnings, raw: true };
}
