import { describe, expect, it } from 'vitest';
import { KmsInvalidInputError } from '../errors/kms-invalid-input.error.js';
import { createTenantKeyNamer, isValidVaultKeyName } from './tenant-key-namer.js';

describe('createTenantKeyNamer', () => {
  const plain = createTenantKeyNamer({ keyPrefix: '' });

  it('prefixes ids with tenant- by default', () => {
    expect(createTenantKeyNamer({})('acme')).toBe('tenant-acme');
    expect(createTenantKeyNamer({})(-1)).toBe('tenant--1');
  });

  it('maps ids to themselves without a prefix and formats integers in decimal', () => {
    expect(plain('acme')).toBe('acme');
    expect(plain(42)).toBe('42');
    expect(plain(42n)).toBe('42');
    expect(plain(-0)).toBe('0');
    expect(plain(12345678901234567890n)).toBe('12345678901234567890');
  });

  it('is injective on the ids it accepts (distinct ids, distinct names)', () => {
    const ids = ['a', 'A', 'a.b', 'a-b', 'a_b', 'ab', '1', '01', 'a.b.c', 'a-b.c'];
    const names = ids.map((id) => plain(id));
    expect(new Set(names).size).toBe(ids.length);
    const prefixed = createTenantKeyNamer({ keyPrefix: 'orders-' });
    expect(new Set(ids.map((id) => prefixed(id))).size).toBe(ids.length);
  });

  it('prefixes names, and the prefix can make an otherwise invalid start valid', () => {
    const prefixed = createTenantKeyNamer({ keyPrefix: 'tenant-' });
    expect(prefixed(7)).toBe('tenant-7');
    expect(prefixed(-7)).toBe('tenant--7');
    expect(() => plain(-7)).toThrow(KmsInvalidInputError);
  });

  it.each([
    ['a/rotate'],
    ['../sys/seal'],
    ['x%2Fconfig'],
    [''],
    ['ünï'],
    ['a b'],
    ['a..b'],
    ['.a'],
    ['a.'],
    ['a\u0000b'],
    ['a'.repeat(256)],
  ])('refuses %j', (id) => {
    expect(() => plain(id)).toThrow(KmsInvalidInputError);
  });

  it.each([
    [1.5],
    [Number.NaN],
    [Infinity],
    [2 ** 53],
    [null],
    [undefined],
    [{}],
    [Symbol('x')],
    [true],
  ])('refuses the non-id %s with a typed error', (id) => {
    expect(() => plain(id as never)).toThrow(KmsInvalidInputError);
  });

  it('checks a custom mapping’s result and calls it with the original id', () => {
    const seen: unknown[] = [];
    const custom = createTenantKeyNamer({
      keyName: (id) => {
        seen.push(id);
        return typeof id === 'bigint' ? `big_${id}` : `t_${String(id)}`;
      },
    });
    expect(custom(5n)).toBe('big_5');
    expect(seen).toEqual([5n]);
    const bad = createTenantKeyNamer({ keyName: () => 'a/../b' });
    expect(() => bad('x')).toThrow(KmsInvalidInputError);
    const notString = createTenantKeyNamer({ keyName: () => 42 as never });
    expect(() => notString('x')).toThrow(/keyName mapping/);
  });

  it('never puts the id itself into the error message', () => {
    const error = (() => {
      try {
        plain('secret-looking id with spaces');
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error?.message).not.toContain('secret-looking');
  });
});

describe('isValidVaultKeyName', () => {
  it('follows Vault’s GenericNameRegex plus the storage rule on ".."', () => {
    for (const name of ['a', '_', '1', 'a-b', 'a.b', 'A_b-c.d9'])
      expect(isValidVaultKeyName(name)).toBe(true);
    for (const name of ['', '-a', 'a-', '.a', 'a.', 'a..b', 'a/b', 'ä', 'a b'])
      expect(isValidVaultKeyName(name)).toBe(false);
  });
});
