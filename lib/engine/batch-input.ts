import { TransitError } from './transit.error.js';

/**
 * Decoding of `batch_input` exactly as Vault 1.14 does it: `decodeBatchRequestItems` for encrypt
 * and decrypt, plain mapstructure for rewrap (vault-transit-api §4.9–§4.11, §5).
 */
/** A batch item as Vault's BatchRequestItem holds it: Go zero values for absent fields. */
interface BatchRequestItem {
  context: string;
  plaintext: string;
  ciphertext: string;
  nonce: string;
  key_version: number;
  associated_data: string;
  reference: string;
}

const BATCH_STRING_FIELDS = [
  'context',
  'plaintext',
  'ciphertext',
  'nonce',
  'associated_data',
  'reference',
] as const;
const MISSING_REQUIRED = {
  plaintext: 'missing plaintext to encrypt',
  ciphertext: 'missing ciphertext to decrypt',
} as const;

const emptyBatchItem = (): BatchRequestItem => ({
  context: '',
  plaintext: '',
  ciphertext: '',
  nonce: '',
  key_version: 0,
  associated_data: '',
  reference: '',
});

const isJsonObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * path_encrypt.go decodeBatchRequestItems (encrypt and decrypt): only real JSON strings (and
 * integers for `key_version`); `null` is skipped except for `plaintext`; the required field must
 * be present. A non-array input or a non-object item stops at once; field problems are collected
 * into a mapstructure-style error. Either way the request fails with a 500.
 */
export function decodeBatchRequestItems(
  input: unknown,
  required: 'plaintext' | 'ciphertext',
): BatchRequestItem[] {
  if (!Array.isArray(input))
    throw batchInputError(`source data must be an array or slice, got ${goTypeName(input)}`);
  const problems: string[] = [];
  const items = input.map((raw: unknown, index) => {
    if (!isJsonObject(raw))
      throw batchInputError(`[${index}] expected a map, got '${goTypeName(raw)}'`);
    const item = emptyBatchItem();
    for (const field of BATCH_STRING_FIELDS) {
      if (!Object.hasOwn(raw, field)) {
        if (field === required)
          problems.push(`'[${index}].${field}' ${MISSING_REQUIRED[required]}`);
        continue;
      }
      const value = raw[field];
      // Go checks `reflect.ValueOf(v).IsValid()` (null passes) on every field but plaintext.
      if (value === null && field !== 'plaintext') continue;
      if (typeof value === 'string') item[field] = value;
      else
        problems.push(
          `'[${index}].${field}' expected type 'string', got unconvertible type '${goTypeName(value)}'`,
        );
    }
    if (Object.hasOwn(raw, 'key_version')) {
      const value = raw['key_version'];
      if (typeof value === 'number') {
        if (Number.isSafeInteger(value)) item.key_version = value;
        else
          problems.push(
            `error decoding json.Number into [${index}].key_version: strconv.ParseInt: parsing "${String(value)}": invalid syntax`,
          );
      } else if (value !== null) {
        problems.push(
          `'[${index}].key_version' expected type 'int', got unconvertible type '${goTypeName(value)}'`,
        );
      }
    }
    return item;
  });
  if (problems.length > 0) throw batchInputError(mapstructureErrors(problems));
  return items;
}

/**
 * path_rewrap.go decodes `batch_input` with plain (non-weak) mapstructure v1.5.0: numbers are
 * accepted for strings (json.Number is a string kind), `null` anywhere is a zero value, keys match
 * case-insensitively, and nothing is required (a missing ciphertext is an item error later).
 */
export function decodeWithMapstructure(input: unknown): BatchRequestItem[] {
  if (!Array.isArray(input))
    throw batchInputError(`'': source data must be an array or slice, got ${goKind(input)}`);
  const problems: string[] = [];
  const items = input.map((raw: unknown, index) => {
    const item = emptyBatchItem();
    if (raw === null) return item;
    if (!isJsonObject(raw)) {
      problems.push(`'[${index}]' expected a map, got '${goKind(raw)}'`);
      return item;
    }
    for (const field of [...BATCH_STRING_FIELDS, 'key_version'] as const) {
      const key = Object.hasOwn(raw, field)
        ? field
        : Object.keys(raw).find((candidate) => candidate.toLowerCase() === field);
      const value = key === undefined ? null : raw[key];
      if (value === null) continue;
      const name = `[${index}].${field}`;
      if (field === 'key_version') {
        if (typeof value === 'number') {
          if (Number.isInteger(value) && Math.abs(value) < 2 ** 63) item.key_version = value;
          else
            problems.push(
              `error decoding json.Number into ${name}: strconv.ParseInt: parsing "${String(value)}": ${Number.isInteger(value) ? 'value out of range' : 'invalid syntax'}`,
            );
        } else {
          problems.push(
            `'${name}' expected type 'int', got unconvertible type '${goTypeName(value)}', value: '${goValue(value)}'`,
          );
        }
      } else if (typeof value === 'string' || typeof value === 'number') {
        item[field] = String(value);
      } else {
        problems.push(
          `'${name}' expected type 'string', got unconvertible type '${goTypeName(value)}', value: '${goValue(value)}'`,
        );
      }
    }
    return item;
  });
  if (problems.length > 0) throw batchInputError(mapstructureErrors(problems));
  return items;
}

/** The handler's `fmt.Errorf("failed to parse batch input: %w", err)`, a plain error: 500. */
function batchInputError(detail: string): TransitError {
  return TransitError.wrapped(`failed to parse batch input: ${detail}`);
}

/** mapstructure.Error: the lines sorted as Go strings (bytewise), e.g. `'[11]…` before `'[2]…`. */
function mapstructureErrors(problems: readonly string[]): string {
  const points = problems
    .map((problem) => `* ${problem}`)
    .toSorted((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return `${problems.length} error(s) decoding:\n\n${points.join('\n')}`;
}

/** Go's `%T` of a value decoded by Vault's JSON reader (which keeps numbers as json.Number). */
function goTypeName(value: unknown): string {
  if (value === null || value === undefined) return '<nil>';
  if (Array.isArray(value)) return '[]interface {}';
  switch (typeof value) {
    case 'string':
      return 'string';
    case 'number':
      return 'json.Number';
    case 'boolean':
      return 'bool';
    default:
      return 'map[string]interface {}';
  }
}

/** Go's reflect.Kind name of the same values (json.Number is a string kind). */
function goKind(value: unknown): string {
  if (value === null || value === undefined) return 'invalid';
  if (Array.isArray(value)) return 'slice';
  switch (typeof value) {
    case 'string':
    case 'number':
      return 'string';
    case 'boolean':
      return 'bool';
    default:
      return 'map';
  }
}

/** Go's `%v` of the same values (map keys sorted, as fmt prints them). */
function goValue(value: unknown): string {
  if (value === null || value === undefined) return '<nil>';
  if (Array.isArray(value)) return `[${value.map(goValue).join(' ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).toSorted(([a], [b]) =>
      Buffer.compare(Buffer.from(a), Buffer.from(b)),
    );
    return `map[${entries.map(([k, v]) => `${k}:${goValue(v)}`).join(' ')}]`;
  }
  return String(value);
}
