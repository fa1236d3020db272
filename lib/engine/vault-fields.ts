import { TransitError } from './transit.error.js';

export type FieldType = 'string' | 'int' | 'bool' | 'duration' | 'array';
export type FieldSchema = Readonly<Record<string, FieldType>>;

function conversionError(value: unknown, field: string, detail: string): TransitError {
  const shown = typeof value === 'string' ? value : JSON.stringify(value);
  return TransitError.user(
    `Field validation failed: error converting input ${shown} for field "${field}": ${detail}`,
  );
}

/** Go-style weak conversion of one field (vault-transit-api §1.4). */
export function convertField(field: string, type: FieldType, value: unknown): unknown {
  switch (type) {
    case 'string':
      if (typeof value === 'string') return value;
      if (typeof value === 'number') return String(value);
      if (typeof value === 'boolean') return value ? '1' : '0';
      if (value === null) return '';
      throw conversionError(
        value,
        field,
        `expected type 'string', got unconvertible type '${goType(value)}'`,
      );
    case 'int': {
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      if (typeof value === 'boolean') return value ? 1 : 0;
      if (typeof value === 'string' && /^[+-]?\d+$/.test(value.trim())) return Number(value.trim());
      throw conversionError(value, field, 'cannot parse value as an integer');
    }
    case 'bool': {
      if (typeof value === 'boolean') return value;
      if (typeof value === 'number') return value !== 0;
      if (typeof value === 'string') {
        const lowered = value.toLowerCase();
        if (['1', 't', 'true'].includes(lowered)) return true;
        if (['0', 'f', 'false', ''].includes(lowered)) return false;
      }
      throw conversionError(value, field, 'cannot parse value as a bool');
    }
    case 'duration':
      return parseDurationSeconds(field, value);
    case 'array':
      return value;
  }
}

/** Seconds from an integer or a Go duration string (`"24h"`, `"1h30m"`). */
function parseDurationSeconds(field: string, value: unknown): number {
  let seconds: number | undefined;
  if (typeof value === 'number' && Number.isInteger(value)) seconds = value;
  else if (typeof value === 'string') {
    if (/^[+-]?\d+$/.test(value)) seconds = Number(value);
    else {
      const match = /^(-)?((?:\d+(?:\.\d+)?(?:h|m|s|ms))+)$/.exec(value);
      if (match) {
        let total = 0;
        for (const part of (match[2] as string).matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
          const amount = Number(part[1]);
          total +=
            part[2] === 'h'
              ? amount * 3600
              : part[2] === 'm'
                ? amount * 60
                : part[2] === 's'
                  ? amount
                  : amount / 1000;
        }
        seconds = Math.trunc(match[1] ? -total : total);
      }
    }
  }
  if (seconds === undefined) throw conversionError(value, field, 'invalid duration');
  if (seconds < 0) throw TransitError.user(`cannot provide negative value '${seconds}'`);
  return seconds;
}

function goType(value: unknown): string {
  if (Array.isArray(value)) return '[]interface {}';
  if (typeof value === 'object') return 'map[string]interface {}';
  if (typeof value === 'number') return 'float64';
  return typeof value;
}

export interface ParsedFields {
  readonly values: Record<string, unknown>;
  readonly warnings: string[];
}

/**
 * Converts the known fields of a request body and reports the unknown ones with Vault's warning
 * `Endpoint ignored these unrecognized parameters: [a b]`.
 */
export function parseFields(body: Record<string, unknown>, schema: FieldSchema): ParsedFields {
  // Own properties only: `constructor`, `toString` or `__proto__` are unknown parameters like any
  // other, not members inherited from Object.prototype.
  const values: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const unknown: string[] = [];
  for (const [name, raw] of Object.entries(body)) {
    const type = Object.hasOwn(schema, name) ? schema[name] : undefined;
    if (type === undefined) {
      unknown.push(name);
      continue;
    }
    values[name] = convertField(name, type, raw);
  }
  const warnings =
    unknown.length > 0
      ? [`Endpoint ignored these unrecognized parameters: [${unknown.toSorted().join(' ')}]`]
      : [];
  return { values, warnings };
}
