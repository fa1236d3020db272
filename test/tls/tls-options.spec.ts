import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  KmsConfigurationError,
  KmsModule,
  RestSessionPool,
  VaultTransitService,
  type KmsModuleOptions,
} from '../../lib/index.js';
import { resolveKmsOptions } from '../../lib/kms-options.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { expectNoSecrets } from '../support/secrets.js';

let vault: TransitDevServer;
let dir: string;
let ca: string;
let cert: string;
let key: string;
let otherKey: string;

beforeAll(async () => {
  vault = await startTransitDevServer({ tls: { requireClientCert: true } });
  ca = vault.tls!.ca;
  cert = vault.tls!.clientCert!;
  key = vault.tls!.clientKey!;
  otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
  dir = mkdtempSync(join(tmpdir(), 'kms-tls-options-'));
});
afterAll(async () => {
  await vault.close();
  rmSync(dir, { recursive: true, force: true });
});

const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
};

const optionsWith = (tls: unknown, vaultAddr = vault.address): KmsModuleOptions =>
  ({ vaultAddr, vaultToken: vault.token, tls }) as KmsModuleOptions;

/** The error resolving `tls` gives, from the options and from a pool alike. */
function configurationError(tls: unknown, vaultAddr?: string): KmsConfigurationError {
  let thrown: unknown;
  try {
    resolveKmsOptions(optionsWith(tls, vaultAddr));
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(KmsConfigurationError);
  const error = thrown as KmsConfigurationError;
  // Whatever the content was, no PEM body, no private key, no token leaks.
  const keyLines = [key, otherKey].flatMap((pem) =>
    pem.split('\n').filter((line) => line.length > 20 && !line.startsWith('-----')),
  );
  expectNoSecrets(error, [vault.token, ...keyLines]);
  expect(error.message).not.toContain('BEGIN');
  return error;
}

describe('the tls option', () => {
  it('is accepted with PEM text, file paths and a list of CAs', () => {
    expect(() => resolveKmsOptions(optionsWith({ ca, cert, key }))).not.toThrow();
    const paths = {
      ca: file('ca.pem', ca),
      cert: file('cert.pem', cert),
      key: file('key.pem', key),
    };
    expect(() => resolveKmsOptions(optionsWith(paths))).not.toThrow();
    expect(() => resolveKmsOptions(optionsWith({ ca: [ca, paths.ca] }))).not.toThrow();
    expect(() =>
      resolveKmsOptions(optionsWith({ servername: 'localhost', rejectUnauthorized: true })),
    ).not.toThrow();
  });

  it('needs an https:// vaultAddr', () => {
    const error = configurationError({ ca }, 'http://127.0.0.1:8200');
    expect(error.message).toMatch(/"tls".*https:\/\//);
  });

  // Functions: the PEM values exist only once beforeAll ran.
  it.each<[string, () => unknown, string]>([
    ['not an object', () => 'yes', '"tls"'],
    ['an unknown field', () => ({ ca, certificate: cert }), '"tls.certificate"'],
    ['key without cert', () => ({ key }), '"tls.key".*needs tls.cert'],
    ['cert without key', () => ({ cert }), '"tls.cert".*needs tls.key'],
    ['an empty CA list', () => ({ ca: [] }), '"tls.ca"'],
    ['a non-string CA', () => ({ ca: 42 }), '"tls.ca"'],
    ['a servername with a path', () => ({ servername: 'vault/x' }), '"tls.servername"'],
    [
      'a non-boolean rejectUnauthorized',
      () => ({ rejectUnauthorized: 'false' }),
      '"tls.rejectUnauthorized"',
    ],
    [
      'a key that is not the certificate’s',
      () => ({ cert, key: otherKey }),
      '"tls.key".*not the private key',
    ],
  ])('refuses %s, naming the field', (_case, tls, pattern) => {
    expect(configurationError(tls()).message).toMatch(new RegExp(pattern));
  });

  it('refuses a missing file without echoing the value', () => {
    const missing = join(dir, 'no-such-ca.pem');
    const error = configurationError({ ca: missing });
    expect(error.message).toContain('"tls.ca"');
    expect(error.message).not.toContain(missing);
    expect((error.cause as { code?: string }).code).toBe('ENOENT');
  });

  it('refuses a path that cannot be read as a file (a directory)', () => {
    const error = configurationError({ ca: dir });
    expect(error.message).toContain('"tls.ca"');
    expect((error.cause as { code?: string }).code).toBe('EISDIR');
  });

  it('refuses a file that holds no PEM, and a key given as base64 without its PEM armour', () => {
    expect(configurationError({ ca: file('plain.txt', 'not a certificate\n') }).message).toContain(
      '"tls.ca"',
    );
    // A key pasted without its BEGIN line is taken for a path: the message must not repeat it.
    const bare = key
      .split('\n')
      .filter((line) => !line.startsWith('-----'))
      .join('');
    const error = configurationError({ cert, key: bare });
    expect(error.message).toContain('"tls.key"');
    expect(error.message).not.toContain(bare.slice(0, 16));
  });

  it('refuses a certificate that does not parse, and a key in the cert slot', () => {
    const broken = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    expect(configurationError({ ca: broken }).message).toContain('"tls.ca"');
    expect(configurationError({ cert: key, key }).message).toContain('"tls.cert"');
  });

  it('refuses an encrypted key, asking for an unencrypted one', () => {
    const encrypted = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })
      .toString();
    expect(configurationError({ cert, key: encrypted }).message).toMatch(/"tls.key".*encrypted/);
  });

  it('fails a RestSessionPool and VaultTransitService with the same error', () => {
    expect(() => new RestSessionPool({ tls: { key } })).toThrow(KmsConfigurationError);
    expect(() => new RestSessionPool({ tls: { ca: join(dir, 'none.pem') } })).toThrow(/"tls.ca"/);
    expect(() => new VaultTransitService(optionsWith({ cert }))).toThrow(/"tls.cert"/);
  });

  it('fails the module bootstrap before any request reaches Vault', async () => {
    const answered = vault.requests.length;
    await expect(
      Test.createTestingModule({
        imports: [KmsModule.forRoot(optionsWith({ ca: join(dir, 'none.pem') }))],
      }).compile(),
    ).rejects.toThrow(KmsConfigurationError);
    await expect(
      Test.createTestingModule({
        imports: [KmsModule.forRoot(optionsWith({ ca }, vault.address.replace('https:', 'http:')))],
      }).compile(),
    ).rejects.toThrow(/needs an https:\/\/ vaultAddr/);
    expect(vault.requests.length).toBe(answered);
    expect(vault.tls!.secureConnections).toBe(0);
  });
});
