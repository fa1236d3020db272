// The procedures and incident answers of docs/RUNBOOK.md, run over real HTTP against the Transit
// dev server: every error class, reason and behaviour the runbook states is asserted here, and
// its ```ts blocks are contiguous runs of lines of this file (checked by docs-samples.spec.ts).
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VaultHealthIndicator } from '../../lib/health/index.js';
import {
  KekNotFoundError,
  KmsAccessDeniedError,
  KmsConfigurationError,
  KmsDecryptionError,
  KmsInvalidInputError,
  KmsModule,
  KmsUnavailableError,
  KEY_MANAGEMENT_SERVICE,
  RestSessionPool,
  SESSION_POOL,
  VaultTransitService,
  type IKeyManagementService,
  type ISession,
  type KmsModuleOptions,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { expectNoSecrets } from '../support/secrets.js';

let devVault: TransitDevServer;
let pool: RestSessionPool;
const seenErrors: unknown[] = [];
const seenTokens: string[] = [];

beforeEach(async () => {
  devVault = await startTransitDevServer();
  seenTokens.push(devVault.token);
  pool = new RestSessionPool();
});
afterEach(async () => {
  pool.close();
  await devVault.close();
});

const service = (options: Partial<KmsModuleOptions> = {}) =>
  new VaultTransitService({ vaultAddr: devVault.address, vaultToken: devVault.token, ...options });
const mintToken = (options?: Parameters<TransitDevServer['createToken']>[0]) => {
  const token = devVault.createToken(options);
  seenTokens.push(token);
  return token;
};
/** Runs a call in a session and returns its error (recorded for the secrecy check), or 'ok'. */
const failureOf = async (work: (session: ISession) => Promise<unknown>): Promise<unknown> => {
  const error = await pool.session(work).then(
    () => 'ok',
    (caught: unknown) => caught,
  );
  if (error !== 'ok') seenErrors.push(error);
  return error;
};

/** The KEK version a stored wrapped DEK was made with: the N of "vault:vN:…". */
function kekVersionOf(encryptedDek: Uint8Array): number {
  return Number(/^vault:v(\d+):/.exec(Buffer.from(encryptedDek).toString('utf8'))?.[1] ?? 0);
}

/**
 * The runbook's rotation job: rotate, rewrap every stored DEK, then retire the versions below the
 * lowest version still stored. `stored` stands for your table; a real job pages through it and
 * writes each new wrapped DEK back with a compare-and-set.
 */
async function rotateRewrapRetire(
  kms: IKeyManagementService,
  session: ISession,
  tenantId: string,
  stored: Buffer[],
): Promise<number> {
  const latest = await kms.rotateKek(session, tenantId);
  const results = await kms.rewrapDeks(session, tenantId, stored);
  results.forEach((result, i) => {
    if (result.ok) stored[i] = result.value; // UPDATE … SET encrypted_dek = new WHERE encrypted_dek = old
  });
  // A DEK that failed to rewrap keeps its old version, and so keeps that version decrypting.
  const lowest = Math.min(latest, ...stored.map(kekVersionOf));
  if (lowest > 1) await kms.retireKekVersions(session, tenantId, lowest);
  return lowest;
}

describe('runbook: rotate → rewrap → retire', () => {
  it('the job moves every stored DEK to the new version and retires the older ones', async () => {
    const kms = service();
    const made = await pool.session((s) => kms.generateDek(s, 'acme'));
    const stored = [
      made.encryptedDek,
      await pool.session((s) => kms.encryptDek(s, 'acme', made.dek)),
    ];
    const kept = Buffer.from(stored[0] as Buffer); // a copy the job never saw (a backup)

    const lowest = await pool.session((s) => rotateRewrapRetire(kms, s, 'acme', stored));

    expect(lowest).toBe(2);
    expect(stored.map(kekVersionOf)).toEqual([2, 2]);
    for (const encryptedDek of stored) {
      const dek = await pool.session((s) => kms.decryptDek(s, 'acme', encryptedDek));
      expect(dek.equals(made.dek)).toBe(true);
    }
    // The copy still on v1 no longer decrypts: retiring is what makes old wrapped DEKs unreadable.
    const old = await failureOf((s) => kms.decryptDek(s, 'acme', kept));
    expect(old).toBeInstanceOf(KmsDecryptionError);
    // The rewrap job could not repair it now either.
    const [rewrap] = await pool.session((s) => kms.rewrapDeks(s, 'acme', [kept]));
    expect(rewrap?.ok === false && rewrap.error).toBeInstanceOf(KmsDecryptionError);
  });

  it('the job on a tenant with nothing stored retires below the new version', async () => {
    const kms = service();
    await pool.session((s) => kms.generateDek(s, 'acme'));
    expect(await pool.session((s) => rotateRewrapRetire(kms, s, 'acme', []))).toBe(2);
  });

  it('the job keeps a version that a failed item still uses', async () => {
    const kms = service();
    const { encryptedDek } = await pool.session((s) => kms.generateDek(s, 'acme'));
    const foreign = await pool.session((s) => kms.generateDek(s, 'globex'));
    // A bad row: another tenant's wrapped DEK (v1), which Vault refuses to rewrap for acme.
    const stored = [encryptedDek, foreign.encryptedDek];
    expect(await pool.session((s) => rotateRewrapRetire(kms, s, 'acme', stored))).toBe(1);
    expect(stored.map(kekVersionOf)).toEqual([2, 1]);
    await expect(pool.session((s) => kms.decryptDek(s, 'acme', encryptedDek))).resolves.toEqual(
      expect.any(Buffer),
    );
  });

  it('retire below the lowest stored version: a DEK the rewrap missed keeps decrypting', async () => {
    const kms = service();
    const { encryptedDek: v1 } = await pool.session((s) => kms.generateDek(s, 'acme'));
    await pool.session((s) => kms.rotateKek(s, 'acme'));
    const { encryptedDek: v2 } = await pool.session((s) => kms.generateDek(s, 'acme'));
    const latest = await pool.session((s) => kms.rotateKek(s, 'acme'));
    // Only v2 was rewrapped (say a page failed): the lowest stored version is still 1.
    const stored = [v1, await pool.session((s) => kms.rewrapDek(s, 'acme', v2))];
    const lowest = Math.min(...stored.map(kekVersionOf));
    expect([lowest, latest]).toEqual([1, 3]);
    // Retiring below 1 is nothing; retiring below the latest (3) would lock v1 out:
    await pool.session((s) => kms.retireKekVersions(s, 'acme', latest));
    expect(await failureOf((s) => kms.decryptDek(s, 'acme', v1))).toBeInstanceOf(
      KmsDecryptionError,
    );
    // Without trim it can be undone: lower it again and v1 decrypts.
    await pool.session((s) => kms.retireKekVersions(s, 'acme', 1));
    await expect(pool.session((s) => kms.decryptDek(s, 'acme', v1))).resolves.toBeInstanceOf(
      Buffer,
    );
  });

  it('with trim the retired versions are deleted for good: no undo', async () => {
    const kms = service();
    const { encryptedDek: v1 } = await pool.session((s) => kms.generateDek(s, 'acme'));
    const latest = await pool.session((s) => kms.rotateKek(s, 'acme'));
    await pool.session((s) => kms.retireKekVersions(s, 'acme', latest, { trim: true }));
    expect(await failureOf((s) => kms.decryptDek(s, 'acme', v1))).toBeInstanceOf(
      KmsDecryptionError,
    );
    const undo = await failureOf((s) => kms.retireKekVersions(s, 'acme', 1));
    expect(undo).toBeInstanceOf(KmsInvalidInputError);
    expect(await failureOf((s) => kms.decryptDek(s, 'acme', v1))).toBeInstanceOf(
      KmsDecryptionError,
    );
    // A bad minVersion never reaches Vault.
    const before = devVault.requests.length;
    expect(await failureOf((s) => kms.retireKekVersions(s, 'acme', 0))).toBeInstanceOf(
      KmsInvalidInputError,
    );
    expect(devVault.requests.length).toBe(before);
  });
});

describe('runbook: shred a tenant', () => {
  it('deleteKek: every wrapped DEK of the tenant is gone; a later encrypt makes a new, empty key', async () => {
    const kms = service();
    const { encryptedDek } = await pool.session((s) => kms.generateDek(s, 'acme'));
    const other = await pool.session((s) => kms.generateDek(s, 'globex'));

    await pool.session((s) => kms.deleteKek(s, 'acme'));
    await pool.session((s) => kms.deleteKek(s, 'acme')); // idempotent: repeat after any failure

    expect(await failureOf((s) => kms.decryptDek(s, 'acme', encryptedDek))).toBeInstanceOf(
      KekNotFoundError,
    );
    const rewrapped = await failureOf((s) => kms.rewrapDeks(s, 'acme', [encryptedDek]));
    expect(rewrapped).toBeInstanceOf(KekNotFoundError);
    const globex = await pool.session((s) => kms.decryptDek(s, 'globex', other.encryptedDek));
    expect(globex.equals(other.dek)).toBe(true);
    // The trap: encryptDek/generateDek/rotateKek re-create the key. It cannot open old DEKs.
    await pool.session((s) => kms.encryptDek(s, 'acme', randomBytes(32)));
    expect(await failureOf((s) => kms.decryptDek(s, 'acme', encryptedDek))).toBeInstanceOf(
      KmsDecryptionError,
    );
  });

  it('the DEK cache: another process’s shred is seen only after maxAgeMs; this process’s own purges at once', async () => {
    const cached = service({ cache: { maxEntries: 100, maxAgeMs: 2_000 } });
    const eraser = service(); // another process
    const { dek, encryptedDek } = await pool.session((s) => cached.generateDek(s, 'acme'));
    await pool.session((s) => cached.decryptDek(s, 'acme', encryptedDek)); // now cached

    await pool.session((s) => eraser.deleteKek(s, 'acme'));
    const stillHere = await pool.session((s) => cached.decryptDek(s, 'acme', encryptedDek));
    expect(stillHere.equals(dek)).toBe(true);
    await sleep(3_000); // generous: well past maxAgeMs
    expect(await failureOf((s) => cached.decryptDek(s, 'acme', encryptedDek))).toBeInstanceOf(
      KekNotFoundError,
    );

    const made = await pool.session((s) => cached.generateDek(s, 'globex'));
    await pool.session((s) => cached.decryptDek(s, 'globex', made.encryptedDek)); // cached
    await pool.session((s) => cached.deleteKek(s, 'globex'));
    expect(
      await failureOf((s) => cached.decryptDek(s, 'globex', made.encryptedDek)),
    ).toBeInstanceOf(KekNotFoundError);
  });
});

/** A readiness check that names the incident: what `setup()` fails with, by class and reason. */
async function diagnose(kms: IKeyManagementService, sessions: RestSessionPool): Promise<string> {
  try {
    await sessions.session((session) => kms.setup(session));
    return 'ok';
  } catch (error) {
    if (error instanceof KmsUnavailableError) return `unavailable: ${error.reason}`;
    if (error instanceof KmsAccessDeniedError) return 'token refused';
    if (error instanceof KmsConfigurationError) return 'misconfigured';
    throw error;
  }
}

describe('runbook: Vault sealed', () => {
  it('sealed → retried, then circuit-open without requests; unsealed → traffic resumes by itself', async () => {
    const kms = service({
      retry: { maxAttempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
      circuitBreaker: { failureThreshold: 4, resetTimeoutMs: 3_000 },
    });
    const { encryptedDek } = await pool.session((s) => kms.generateDek(s, 'acme'));
    devVault.setSealed(true);

    expect(await diagnose(kms, pool)).toBe('unavailable: sealed');
    const first = await failureOf((s) => kms.decryptDek(s, 'acme', encryptedDek));
    expect(first).toMatchObject({ name: 'KmsUnavailableError', reason: 'sealed', status: 503 });
    expect(devVault.requests.slice(-2).map((r) => r.status)).toEqual([503, 503]); // retried once
    // sys/health (1) + two decrypt attempts (2) + one more failed attempt open the circuit (4):
    await failureOf((s) => kms.decryptDek(s, 'acme', encryptedDek));
    const sent = devVault.requests.length;
    const fast = await failureOf((s) => kms.decryptDek(s, 'acme', encryptedDek));
    expect(fast).toMatchObject({ name: 'KmsUnavailableError', reason: 'circuit-open' });
    expect(devVault.requests.length).toBe(sent); // not sent at all

    devVault.setSealed(false);
    await sleep(4_000); // generous: past resetTimeoutMs; no restart, no call needed meanwhile
    const dek = await pool.session((s) => kms.decryptDek(s, 'acme', encryptedDek));
    expect(dek).toHaveLength(32);
    expect(await diagnose(kms, pool)).toBe('ok');
  });
});

describe('runbook: HA — vaultAddr at a standby node', () => {
  it('its 307 is followed to the active node: every call works, at one extra hop each', async () => {
    const standby = await startTransitDevServer({
      token: devVault.token,
      standby: { activeAddress: devVault.address },
    });
    try {
      const kms = new VaultTransitService({
        vaultAddr: standby.address,
        vaultToken: devVault.token,
      });
      expect(await diagnose(kms, pool)).toBe('ok');
      const { dek, encryptedDek } = await pool.session((s) => kms.generateDek(s, 'acme'));
      const opened = await pool.session((s) => kms.decryptDek(s, 'acme', encryptedDek));
      expect(opened.equals(dek)).toBe(true);
      expect(standby.requests.filter((r) => r.status === 307).length).toBeGreaterThanOrEqual(2);
      expect(devVault.requests.some((r) => r.path === '/v1/transit/decrypt/tenant-acme')).toBe(
        true,
      );
    } finally {
      await standby.close();
    }
  });
});

describe('runbook: readiness with VaultHealthIndicator (sys/health only)', () => {
  it('sealed → down with state sealed; a revoked token → still up (setup() sees it)', async () => {
    const token = mintToken();
    const moduleRef = await Test.createTestingModule({
      imports: [
        TerminusModule,
        KmsModule.forRoot({ vaultAddr: devVault.address, vaultToken: token }),
      ],
      providers: [VaultHealthIndicator],
    }).compile();
    try {
      const vault = moduleRef.get(VaultHealthIndicator);
      const kms = moduleRef.get<IKeyManagementService>(KEY_MANAGEMENT_SERVICE);
      const sessions = moduleRef.get<RestSessionPool>(SESSION_POOL);
      expect(await vault.isHealthy('vault')).toMatchObject({ vault: { status: 'up' } });
      devVault.setSealed(true);
      expect(await vault.isHealthy('vault')).toMatchObject({
        vault: { status: 'down', state: 'sealed', sealed: true },
      });
      devVault.setSealed(false);
      devVault.revokeToken(token);
      expect(await vault.isHealthy('vault')).toMatchObject({ vault: { status: 'up' } });
      expect(await diagnose(kms, sessions)).toBe('token refused');
    } finally {
      await moduleRef.close();
    }
  });
});

describe('runbook: Vault down, partitioned or slow', () => {
  it('a closed port is reason network; a hanging Vault is reason timeout', async () => {
    const kms = service({ timeoutMs: 1_000, deadlineMs: 3_000, retry: false });
    const { encryptedDek } = await pool.session((s) => kms.generateDek(s, 'acme'));
    devVault.injectFault({ kind: 'delay', ms: 5_000 });
    expect(await failureOf((s) => kms.decryptDek(s, 'acme', encryptedDek))).toMatchObject({
      name: 'KmsUnavailableError',
      reason: 'timeout',
      retryable: true,
    });
    devVault.injectFault({ kind: 'status', status: 502 });
    expect(await failureOf((s) => kms.decryptDek(s, 'acme', encryptedDek))).toMatchObject({
      reason: 'server-error',
      status: 502,
    });
    await devVault.close();
    expect(await failureOf((s) => kms.decryptDek(s, 'acme', encryptedDek))).toMatchObject({
      name: 'KmsUnavailableError',
      reason: 'network',
    });
    expect(await diagnose(kms, pool)).toBe('unavailable: network');
    devVault = await startTransitDevServer(); // for afterEach
  });
});

describe('runbook: TLS certificate not trusted', () => {
  it('reason network, the TLS error code in the message and the cause; the right ca fixes it', async () => {
    const secure = await startTransitDevServer({ tls: true });
    const other = await startTransitDevServer({ tls: true });
    const wrongCa = new RestSessionPool({ tls: { ca: other.tls?.ca ?? '' } });
    const rightCa = new RestSessionPool({ tls: { ca: secure.tls?.ca ?? '' } });
    try {
      seenTokens.push(secure.token);
      const kms = new VaultTransitService({
        vaultAddr: secure.address,
        vaultToken: secure.token,
        retry: false,
      });
      const refused = await wrongCa.session((s) => kms.setup(s)).catch((error: unknown) => error);
      seenErrors.push(refused);
      expect(refused).toMatchObject({ name: 'KmsUnavailableError', reason: 'network' });
      expect((refused as Error).message).toContain('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      expect(((refused as Error).cause as { code?: string }).code).toBe(
        'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      );
      expect(await diagnose(kms, wrongCa)).toBe('unavailable: network');
      expect(await diagnose(kms, rightCa)).toBe('ok');
    } finally {
      wrongCa.close();
      rightCa.close();
      await secure.close();
      await other.close();
    }
  });
});

describe('runbook: token expired, revoked or under-privileged', () => {
  it('403 → KmsAccessDeniedError, not retried, not retryable', async () => {
    const token = mintToken();
    const kms = service({ vaultToken: token });
    const { encryptedDek } = await pool.session((s) => kms.generateDek(s, 'acme'));
    devVault.revokeToken(token);
    const before = devVault.requests.length;
    const denied = await failureOf((s) => kms.decryptDek(s, 'acme', encryptedDek));
    expect(denied).toMatchObject({ name: 'KmsAccessDeniedError', status: 403, retryable: false });
    expect((denied as Error).message).toMatch(/unknown, expired or revoked/);
    expect(devVault.requests.length).toBe(before + 1);
    expect(await diagnose(kms, pool)).toBe('token refused');
  });

  it('an expired token is refused the same way (TTL)', async () => {
    const token = mintToken({ ttlSeconds: 3 });
    const kms = service({ vaultToken: token });
    await pool.session((s) => kms.generateDek(s, 'acme'));
    await sleep(4_500); // generous: past the 3 s TTL
    expect(await failureOf((s) => kms.generateDek(s, 'acme'))).toBeInstanceOf(KmsAccessDeniedError);
  });

  it('a policy without the capability: the message says to check the policy', async () => {
    const kms = service({ vaultToken: mintToken({ capabilities: ['read'] }) });
    const denied = await failureOf((s) => kms.encryptDek(s, 'acme', randomBytes(32)));
    expect(denied).toBeInstanceOf(KmsAccessDeniedError);
    expect((denied as Error).message).toMatch(/policy grants/);
  });
});

describe('runbook: key missing, or the wrong place', () => {
  it('another keyPrefix finds no key (KekNotFoundError); another mount is KmsConfigurationError', async () => {
    const kms = service();
    const { encryptedDek } = await pool.session((s) => kms.generateDek(s, 'acme'));
    const otherPrefix = service({ keyPrefix: 'orders-' });
    expect(await failureOf((s) => otherPrefix.decryptDek(s, 'acme', encryptedDek))).toBeInstanceOf(
      KekNotFoundError,
    );
    const otherMount = service({ mount: 'kms' });
    expect(await failureOf((s) => otherMount.decryptDek(s, 'acme', encryptedDek))).toBeInstanceOf(
      KmsConfigurationError,
    );
    const wrongAddress = service({ vaultAddr: `${devVault.address}/not-vault` });
    expect(await diagnose(wrongAddress, pool)).toBe('misconfigured');
  });
});

describe('runbook: the errors it shows carry no secret', () => {
  it('no error above holds a token (raw, base64, hex) or an X-Vault-Token header', () => {
    expect(seenErrors.length).toBeGreaterThan(15);
    for (const error of seenErrors) expectNoSecrets(error, seenTokens);
  });
});
