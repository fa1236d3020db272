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
import { TransitError, multiError } from './transit.error.js';
import { convertField, parseFields, type FieldSchema, type FieldType } from './vault-fields.js';

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
const ENCRYPT_ITEM: FieldSchema = {
  plaintext: 'string',
  context: 'string',
  key_version: 'int',
  associated_data: 'string',
  nonce: 'string',
  reference: 'string',
  padding_scheme: 'string',
};
const DECRYPT_ITEM: FieldSchema = {
  ciphertext: 'string',
  context: 'string',
  associated_data: 'string',
  nonce: 'string',
  reference: 'string',
  padding_scheme: 'string',
};
const REWRAP_ITEM: FieldSchema = {
  ciphertext: 'string',
  context: 'string',
  nonce: 'string',
  key_version: 'int',
  reference: 'string',
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

  // `keys/?`: a list request arrives as `keys/` (the HTTP layer appends the slash, as Vault does).
  if (head === 'keys' && (segments.length === 1 || (segments.length === 2 && second === ''))) {
    if (operation !== 'list') throw TransitError.unsupportedOperation();
    request.authorize('list');
    const keys = engine.listKeys();
    if (keys.length === 0) throw new TransitError(404, []);
    return { status: 200, data: { keys } };
  }
  if (head === 'keys' && isName(second) && segments.length === 2)
    return routeKey(engine, request, second);
  if (head === 'keys' && isName(second) && segments.length === 3 && operation === 'update') {
    if (third === 'config') {
      request.authorize('update');
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
      request.authorize('update');
      const { warnings } = parseFields(request.body, {});
      return { status: 200, data: engine.rotateKey(second), warnings };
    }
    if (third === 'trim') {
      request.authorize('update');
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
    request.authorize('update');
    return head === 'decrypt'
      ? routeDecrypt(engine, request, second)
      : routeRewrap(engine, request, second);
  }
  if (head === 'datakey' && isName(second) && isName(third) && fourth === undefined) {
    if (operation !== 'update') throw TransitError.unsupportedOperation();
    request.authorize('update');
    return routeDataKey(engine, request, second, third);
  }
  request.authorize(operation === 'update' ? 'update' : operation);
  throw TransitError.unsupportedPath();
}

function routeKey(engine: TransitEngine, request: RouterRequest, name: string): RouterResponse {
  switch (request.operation) {
    case 'read': {
      request.authorize('read');
      const key = engine.readKey(name);
      if (!key) throw new TransitError(404, []);
      return { status: 200, data: key };
    }
    case 'update': {
      request.authorize('update');
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
      request.authorize('delete');
      engine.deleteKey(name);
      return { status: 204 };
    case 'list':
      throw TransitError.unsupportedOperation();
  }
}

function routeEncrypt(engine: TransitEngine, request: RouterRequest, name: string): RouterResponse {
  // Upsert: a missing key makes this a `create`, an existing one an `update` (existence check).
  const exists = engine.hasKey(name);
  request.authorize(exists ? 'update' : 'create');
  const { values, warnings } = parseFields(request.body, ENCRYPT_FIELDS);
  const batchInput = values['batch_input'];
  const upsert = {
    allowed: true,
    ...optional('type', values['type'] as string | undefined),
    ...optional('convergentEncryption', values['convergent_encryption'] as boolean | undefined),
  };
  if (batchInput !== undefined && batchInput !== null) {
    const items = parseBatch<EncryptItem>(
      batchInput,
      ENCRYPT_ITEM,
      'plaintext',
      'missing plaintext to encrypt',
    );
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
    const items = parseBatch<DecryptItem>(
      batchInput,
      DECRYPT_ITEM,
      'ciphertext',
      'missing ciphertext to decrypt',
    );
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
    const items = parseBatch<RewrapItem>(batchInput, REWRAP_ITEM, undefined, '');
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

/** Decodes `batch_input` like mapstructure; problems abort the request with a 500. */
function parseBatch<T>(
  input: unknown,
  schema: FieldSchema,
  required: string | undefined,
  missingMessage: string,
): T[] {
  if (!Array.isArray(input)) {
    throw batchDecodeError([
      `'' source data must be an array or slice, got ${typeof input === 'object' ? 'map' : typeof input}`,
    ]);
  }
  const problems: string[] = [];
  const items = input.map((raw, index) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.push(
        `'[${index}]' expected a map, got '${Array.isArray(raw) ? 'slice' : typeof raw}'`,
      );
      return {} as T;
    }
    const item: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(raw as Record<string, unknown>)) {
      const type: FieldType | undefined = schema[field];
      if (!type) continue;
      try {
        item[field] = convertField(field, type, value);
      } catch {
        problems.push(
          `'[${index}].${field}' expected type '${type === 'int' ? 'int' : 'string'}', got unconvertible type '${typeof value === 'number' ? 'float64' : typeof value}'`,
        );
      }
    }
    if (required && !(required in (raw as object)))
      problems.push(`'[${index}].${required}' ${missingMessage}`);
    return item as T;
  });
  if (problems.length > 0) throw batchDecodeError(problems);
  return items;
}

function batchDecodeError(problems: readonly string[]): TransitError {
  const detail = `${problems.length} error(s) decoding:\n\n${problems.map((p) => `* ${p}`).join('\n')}`;
  return new TransitError(500, [multiError([`failed to parse batch input: ${detail}`])]);
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

/** Encrypt/decrypt batch status: 400 with the success envelope when an item failed (§5). */
function batchAnswer(results: ItemResult[], warnings: string[], override: unknown): RouterResponse {
  const data = { batch_results: results.map(orderItem) };
  const failed = results.filter((r) => r.error !== undefined).length;
  if (failed === 0) return { status: 200, data, warnings };
  let status = 400;
  const allWarnings = [...warnings];
  if (typeof override === 'number' && failed < results.length) {
    if (override >= 1 && override <= 599) status = override;
    else
      allWarnings.push(
        'invalid HTTP response code override from partial_failure_response_code, reverting to 400',
      );
  }
  return { status, data, warnings: allWarnings, raw: true };
}
