import { InvalidRequestError } from '../errors/invalid-request.error.js';

/** What a customer record holds; stored only in encrypted form. */
export interface CustomerData {
  readonly name: string;
  readonly email: string;
  readonly notes: string | null;
}

export interface Customer extends CustomerData {
  readonly id: string;
}

const MAX_NAME = 200;
const MAX_EMAIL = 254;
const MAX_NOTES = 10_000;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const CUSTOMER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const FIELDS = new Set(['name', 'email', 'notes']);

/** Checks a request body: `{ name, email, notes? }`, nothing else. */
export function parseCustomerData(body: unknown): CustomerData {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidRequestError('Expected a JSON object { name, email, notes? }.');
  }
  const record = body as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !FIELDS.has(key));
  if (unknown.length > 0) {
    throw new InvalidRequestError(
      `Unknown field(s): ${unknown
        .slice(0, 5)
        .map((key) => key.slice(0, 40))
        .join(', ')}.`,
    );
  }
  const name = requiredText(record['name'], 'name', MAX_NAME);
  const email = requiredText(record['email'], 'email', MAX_EMAIL);
  if (!EMAIL.test(email)) throw new InvalidRequestError('"email" is not an email address.');
  const notes = record['notes'];
  if (notes !== undefined && notes !== null && typeof notes !== 'string') {
    throw new InvalidRequestError('"notes" must be a string when present.');
  }
  if (typeof notes === 'string' && notes.length > MAX_NOTES) {
    throw new InvalidRequestError(`"notes" must be at most ${MAX_NOTES} characters.`);
  }
  return { name, email, notes: notes ?? null };
}

/** Checks a customer id from a URL (the ids this app issues are random UUIDs). */
export function parseCustomerId(raw: string): string {
  if (!CUSTOMER_ID.test(raw))
    throw new InvalidRequestError('Invalid customer id: expected a UUID.');
  return raw;
}

function requiredText(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidRequestError(`"${field}" is required and must be a non-empty string.`);
  }
  const text = value.trim();
  if (text.length > max)
    throw new InvalidRequestError(`"${field}" must be at most ${max} characters.`);
  return text;
}
