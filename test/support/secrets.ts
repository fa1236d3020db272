import { inspect } from 'node:util';
import { expect } from 'vitest';

/** Every rendering of an error a log, a serializer or a crash report could produce. */
export function renderings(error: unknown): string[] {
  const e = error as Error;
  return [
    inspect(error, { depth: Infinity, showHidden: true }),
    inspect(error, { depth: Infinity }),
    JSON.stringify(error) ?? '',
    String(e?.stack ?? ''),
    String(e?.message ?? ''),
    String(error),
  ];
}

/** The forms a secret can leak in: raw text, base64, base64url, hex. */
export function secretForms(secret: string | Buffer): string[] {
  const bytes = typeof secret === 'string' ? Buffer.from(secret) : secret;
  const forms = [bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex')];
  if (typeof secret === 'string') forms.push(secret);
  else forms.push(bytes.toString('latin1'));
  return forms.filter((f) => f.length >= 8);
}

/** Fails if any rendering of `value` contains any form of any secret. */
export function expectNoSecrets(value: unknown, secrets: readonly (string | Buffer)[]): void {
  const texts = typeof value === 'string' ? [value] : renderings(value);
  for (const text of texts) {
    for (const secret of secrets) {
      for (const form of secretForms(secret)) {
        expect(text.includes(form), `a secret leaked into: ${text.slice(0, 200)}`).toBe(false);
      }
    }
    expect(text).not.toMatch(/x-vault-token/i);
  }
}
