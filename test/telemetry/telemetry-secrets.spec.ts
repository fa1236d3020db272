import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KmsDecryptionError, RestSessionPool, VaultTransitService } from '../../lib/index.js';
import { instrumentKms, type KmsInstrumentationOptions } from '../../lib/telemetry/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { expectNoSecrets } from '../support/secrets.js';
import { OtelHarness } from './otel-harness.js';

const TENANT = 'acme-corp-4711';
const HASH_KEY = 'telemetry-hmac-key-never-exported';

let vault: TransitDevServer;
let rest: RestSessionPool;
let otel: OtelHarness;

beforeEach(async () => {
  vault = await startTransitDevServer();
  rest = new RestSessionPool();
  otel = new OtelHarness();
});
afterEach(async () => {
  rest.close();
  await vault.close();
  await otel.shutdown();
});

/** Runs every operation (a retry and failures included) and returns the secrets it handled. */
async function exercise(kms: VaultTransitService): Promise<(string | Buffer)[]> {
  const secrets: (string | Buffer)[] = [vault.token];
  const wrapped = (ciphertext: Buffer) => {
    secrets.push(ciphertext, ciphertext.toString('utf8').split(':')[2] ?? '');
  };
  await rest.session((s) => kms.setup(s));
  const own = Buffer.from('an application DEK of 32 bytes!!');
  secrets.push(own);
  wrapped(await rest.session((s) => kms.encryptDek(s, TENANT, own)));
  const { dek, encryptedDek } = await rest.session((s) => kms.generateDek(s, TENANT));
  secrets.push(dek);
  wrapped(encryptedDek);
  vault.injectFault({ kind: 'reset', when: 'before', match: { path: /\/decrypt\// } });
  await rest.session((s) => kms.decryptDek(s, TENANT, encryptedDek));
  await rest.session((s) => kms.decryptDek(s, TENANT, encryptedDek)); // a cache hit
  await rest.session((s) => kms.rotateKek(s, TENANT));
  wrapped(await rest.session((s) => kms.rewrapDek(s, TENANT, encryptedDek)));
  const batch = [Buffer.alloc(32, 0x5a), Buffer.alloc(32, 0xa5)];
  secrets.push(...batch);
  for (const item of await rest.session((s) => kms.encryptDeks(s, TENANT, batch))) {
    if (item.ok) wrapped(item.value);
  }
  const tampered = Buffer.from(`vault:v1:${Buffer.alloc(60, 0x41).toString('base64')}`);
  secrets.push(tampered);
  await expect(rest.session((s) => kms.decryptDek(s, TENANT, tampered))).rejects.toBeInstanceOf(
    KmsDecryptionError,
  );
  await rest.session((s) => kms.deleteKek(s, TENANT));
  return secrets.filter((secret) => secret.length > 0);
}

/** Everything the SDK would export: span names, attributes, events, statuses; metric points. */
async function exported(): Promise<string> {
  const spans = otel.spans().map((span) => ({
    name: span.name,
    attributes: span.attributes,
    events: span.events,
    status: span.status,
    links: span.links,
  }));
  return JSON.stringify({ spans, points: await otel.points() });
}

describe.each<KmsInstrumentationOptions>([
  { tenantId: 'omit' },
  { tenantId: 'hash' },
  { tenantId: 'hash', tenantHashKey: HASH_KEY },
])('nothing secret is exported (%j)', (telemetry) => {
  it('no token, DEK, ciphertext or hash key in any span, event or metric attribute', async () => {
    const kms = new VaultTransitService({
      vaultAddr: vault.address,
      vaultToken: vault.token,
      retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
      cache: { maxEntries: 10, maxAgeMs: 60_000 },
    });
    const dispose = instrumentKms(kms, {
      tracerProvider: otel.tracerProvider,
      meterProvider: otel.meterProvider,
      ...telemetry,
    });
    const signalEvents: unknown[] = [];
    for (const signal of Object.values(kms.signals)) {
      signal.connect((event: unknown) => signalEvents.push(event));
    }
    const secrets = await exercise(kms);
    dispose();

    const text = await exported();
    expect(otel.spans().length).toBeGreaterThan(15);
    expect(text).toContain('kms.retry');
    expectNoSecrets(text, [...secrets, HASH_KEY]);
    // The signals carry the key name by design, but no secret either.
    expectNoSecrets(JSON.stringify(signalEvents), [...secrets, HASH_KEY]);
    // The tenant shows only as its hash, if at all.
    expect(text).not.toContain(TENANT);
    if (telemetry.tenantId === 'omit') expect(text).not.toContain('kms.tenant.hash');
    else expect(text).toContain('kms.tenant.hash');
  });
});
