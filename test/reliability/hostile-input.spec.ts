import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InMemoryKeyManagementService,
  KmsError,
  RestSessionPool,
  VaultTransitService,
  type IKeyManagementService,
  type ISession,
} from '../../lib/index.js';
import { createTenantKeyNamer } from '../../lib/key-naming/tenant-key-namer.js';
import { startTransitDevServer } from '../../lib/testing/index.js';
import { expectNoSecrets, renderings } from '../support/secrets.js';
import { TRANSPORTS, type Transport } from '../support/transports.js';
import {
  ATTACKER,
  CORPUS_KEY_NAMES,
  DEFAULT_DEK,
  HOSTILE_CORPUS,
  OTHER_KEY_TYPE_KEY,
  OTHER_KEY_TYPE_TENANT,
  VICTIM,
  VICTIM_KEY,
  ATTACKER_KEY,
  type AcceptedCase,
  type CorpusContext,
  type Family,
  type Operation,
  type RejectedCase,
} from './hostile-input-corpus.js';

const MOUNT = 'transit';
const MOUNT_PREFIX = `/v1/${MOUNT}/`;
/** The only routes the service may use, each naming one key. */
const KEY_ROUTE =
  /^\/v1\/transit\/(?:encrypt|decrypt|rewrap|datakey\/plaintext|keys)\/([^/]+)(?:\/(?:rotate|config))?$/;
/** True if `text` holds a C0 control character or DEL (log-line or header injection). */
const hasControlCharacter = (text: string): boolean =>
  [...text].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);

/** One request (Vault) or one recorded call (in-memory) and the key name it addressed. */
interface Touch {
  readonly what: string;
  /** undefined when the request matches no key route at all. */
  readonly keyName: string | undefined;
  readonly status?: number;
}

/** One provider under the corpus. */
interface Subject {
  readonly kms: IKeyManagementService;
  readonly pool: RestSessionPool;
  /** Secrets of the subject itself (the Vault token). */
  readonly secrets: readonly string[];
  wrapUnderOtherKeyType(): Promise<Buffer>;
  mark(): number;
  touchesSince(mark: number): Touch[];
  /** Every request path the server saw (Vault only). */
  requestPaths(): string[];
  /** The victim's key object as Vault reads it (Vault only). */
  readVictimKey(): Promise<Record<string, unknown> | undefined>;
  /** Every key name in the mount (Vault only). */
  listKeys(): Promise<string[] | undefined>;
  close(): Promise<void>;
}

interface Provider {
  readonly name: string;
  open(): Promise<Subject>;
}

/** The Vault provider over one transport: a hostile value must fail the same way over each. */
const vaultProvider = (transport: Transport): Provider => ({
  name: `VaultTransitService ⟷ Transit dev server (HTTP, transport: ${transport})`,
  async open() {
    const server = await startTransitDevServer({ mount: MOUNT });
    const options = {
      vaultAddr: server.address,
      vaultToken: server.token,
      mount: MOUNT,
      transport,
    };
    const pool = new RestSessionPool();
    const admin = async (path: string) => {
      const response = await fetch(`${server.address}${MOUNT_PREFIX}${path}`, {
        headers: { 'X-Vault-Token': server.token },
      });
      const body = (response.status === 204 ? undefined : await response.json()) as
        { data?: Record<string, unknown> } | undefined;
      return { status: response.status, data: body?.data };
    };
    return {
      kms: new VaultTransitService(options),
      pool,
      secrets: [server.token],
      wrapUnderOtherKeyType: async () =>
        (
          await pool.session((s) =>
            new VaultTransitService({ ...options, keyType: 'chacha20-poly1305' }).generateDek(
              s,
              OTHER_KEY_TYPE_TENANT,
            ),
          )
        ).encryptedDek,
      mark: () => server.requests.length,
      touchesSince: (mark) => server.requests.slice(mark).map(touchOf),
      requestPaths: () => server.requests.map((r) => r.path),
      readVictimKey: async () => {
        const read = await admin(`keys/${VICTIM_KEY}`);
        expect(read.status).toBe(200);
        return read.data;
      },
      listKeys: async () => {
        const list = await admin('keys?list=true');
        expect(list.status).toBe(200);
        return list.data?.['keys'] as string[];
      },
      close: async () => {
        pool.close();
        await server.close();
      },
    };
  },
});

const providers: readonly Provider[] = [
  ...TRANSPORTS.map(vaultProvider),
  {
    name: 'InMemoryKeyManagementService',
    async open() {
      const kms = new InMemoryKeyManagementService();
      const pool = new RestSessionPool();
      const keyNameOf = createTenantKeyNamer({});
      return {
        kms,
        pool,
        secrets: [],
        wrapUnderOtherKeyType: async () =>
          (
            await pool.session((s) =>
              new InMemoryKeyManagementService({ keyType: 'chacha20-poly1305' }).generateDek(
                s,
                OTHER_KEY_TYPE_TENANT,
              ),
            )
          ).encryptedDek,
        mark: () => kms.calls.length,
        touchesSince: (mark) =>
          kms.calls.slice(mark).map((call) => ({
            what: `${call.operation}(${String(call.tenantId)})`,
            keyName: call.tenantId === undefined ? undefined : keyNameOf(call.tenantId),
          })),
        requestPaths: () => [],
        readVictimKey: async () => undefined,
        listKeys: async () => undefined,
        close: async () => pool.close(),
      };
    },
  },
];

function touchOf(r: { method: string; path: string; status: number }): Touch {
  return {
    what: `${r.method} ${r.path} → ${r.status}`,
    keyName: KEY_ROUTE.exec(r.path)?.[1],
    status: r.status,
  };
}

type LooseKms = Record<Operation, (...args: unknown[]) => Promise<unknown>>;
const RESOLVED = Symbol('resolved');

/** Calls `operation` with the case's arguments; the rejection reason, or RESOLVED. */
async function invoke(
  subject: Subject,
  ctx: CorpusContext,
  c: RejectedCase,
  operation: Operation,
): Promise<unknown> {
  const tenantId = c.tenantId(ctx);
  const third =
    operation === 'encryptDek'
      ? c.dek
        ? c.dek(ctx)
        : DEFAULT_DEK
      : operation === 'decryptDek' || operation === 'rewrapDek'
        ? c.encryptedDek
          ? c.encryptedDek(ctx)
          : ctx.attacker.encryptedDek
        : undefined;
  const kms = subject.kms as unknown as LooseKms;
  const call = (session: unknown) => kms[operation](session, tenantId, third);
  try {
    if (c.session) await call(c.session(ctx));
    else await subject.pool.session((session) => call(session));
    return RESOLVED;
  } catch (error) {
    return error;
  }
}

function describeError(error: unknown): string {
  if (error === RESOLVED) return 'no error (the call resolved)';
  if (error instanceof Error) return `${error.constructor.name}: ${error.message.slice(0, 200)}`;
  return `a thrown ${typeof error}`;
}

/** Fails if any rendering of `error` contains any of `texts` verbatim. */
function expectNotEchoed(error: unknown, texts: readonly string[], label: string): void {
  for (const rendering of renderings(error)) {
    for (const text of texts) {
      expect(rendering.includes(text), `${label}: the hostile value is echoed`).toBe(false);
    }
  }
}

async function runRejected(subject: Subject, ctx: CorpusContext, c: RejectedCase): Promise<void> {
  const secrets = [
    DEFAULT_DEK,
    ctx.attacker.dek,
    ctx.victim.dek,
    ...subject.secrets,
    ...(c.secrets?.(ctx) ?? []),
  ];
  for (const operation of c.operations) {
    const label = `${c.name} → ${operation}`;
    const mark = subject.mark();
    const error = await invoke(subject, ctx, c, operation);
    const touches = subject.touchesSince(mark);

    // Soft: one run reports every broken promise of the case, not only the first.
    if (c.beforeIo) {
      expect
        .soft(
          touches.map((t) => t.what),
          `${label}: must fail before any I/O`,
        )
        .toEqual([]);
    } else {
      expect
        .soft(touches.length, `${label}: a well-formed value is Vault's to judge`)
        .toBeGreaterThan(0);
      for (const t of touches) {
        expect.soft(t.keyName, `${label}: ${t.what}`).toBe(c.keyName);
        // Never a redirect, an unsupported path, a 405 or a 413: the request was well-routed.
        if (t.status !== undefined) expect.soft(t.status, `${label}: ${t.what}`).toBe(400);
      }
    }
    expect
      .soft(
        error instanceof c.error,
        `${label}: expected ${c.error.name}, got ${describeError(error)}`,
      )
      .toBe(true);
    if (!(error instanceof KmsError)) continue;

    expect.soft(error.name, label).toBe(c.error.name);
    expect.soft(error.retryable, label).toBe(false);
    expect.soft(error.message, label).toMatch(c.mentions);
    expect
      .soft(hasControlCharacter(error.message), `${label}: control characters in the message`)
      .toBe(false);
    if (c.beforeIo) expect.soft(error.status, label).toBeUndefined();
    else expect.soft(error.message, label).toContain(operation);
    expectNotEchoed(error, c.notEchoed?.(ctx) ?? [], label);
    expectNoSecrets(error, secrets);
  }
}

async function runAccepted(subject: Subject, ctx: CorpusContext, c: AcceptedCase): Promise<void> {
  const mark = subject.mark();
  await subject.pool.session((session) => c.run(subject.kms, session, ctx));
  const touched = new Set(subject.touchesSince(mark).map((t) => t.keyName));
  expect([...touched].toSorted(), c.name).toEqual([...c.keyNames].toSorted());
}

describe('hostile-input corpus', () => {
  it('has at least 40 distinct cases covering every family', () => {
    const names = HOSTILE_CORPUS.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBeGreaterThanOrEqual(40);
    const families = new Set(HOSTILE_CORPUS.map((c) => c.family));
    const all: Family[] = ['tenant-id', 'dek', 'ciphertext', 'oversized', 'wrong-type', 'session'];
    expect([...families].toSorted()).toEqual([...all].toSorted());
    expect(CORPUS_KEY_NAMES.has(VICTIM_KEY)).toBe(false);
  });
});

describe.each(providers.map((p) => [p.name, p] as const))(
  'hostile-input corpus: %s',
  (_name, provider) => {
    let subject: Subject;
    let ctx: CorpusContext;
    let victimKeyBefore: Record<string, unknown> | undefined;
    let corpusStart = 0;

    beforeAll(async () => {
      subject = await provider.open();
      const victim = await subject.pool.session((s) => subject.kms.generateDek(s, VICTIM));
      const attacker = await subject.pool.session((s) => subject.kms.generateDek(s, ATTACKER));
      // v2 as the attacker key's latest: v1 ciphertexts passed to rewrap are sent to Vault (one
      // already on the latest known version would be returned as it is, unchecked).
      await subject.pool.session((s) => subject.kms.rotateKek(s, ATTACKER));
      let endedSession: ISession | undefined;
      await subject.pool.session(async (s) => {
        endedSession = s;
      });
      ctx = {
        victim: {
          tenantId: VICTIM,
          dek: Buffer.from(victim.dek),
          encryptedDek: victim.encryptedDek,
        },
        attacker: {
          tenantId: ATTACKER,
          dek: Buffer.from(attacker.dek),
          encryptedDek: attacker.encryptedDek,
        },
        otherKeyTypeCiphertext: await subject.wrapUnderOtherKeyType(),
        endedSession: endedSession as ISession,
      };
      victimKeyBefore = await subject.readVictimKey();
      corpusStart = subject.mark();
    });

    afterAll(async () => {
      await subject?.close();
    });

    it.each(HOSTILE_CORPUS.map((c) => [`[${c.family}] ${c.name}`, c] as const))(
      '%s',
      async (_label, c) => {
        if (c.outcome === 'accepted') await runAccepted(subject, ctx, c);
        else await runRejected(subject, ctx, c);
      },
    );

    it('sent no request outside /v1/transit/, and none with "..", "%2F", "//" or a stray key name', () => {
      const allowed = new Set([...CORPUS_KEY_NAMES, VICTIM_KEY]);
      for (const path of subject.requestPaths()) {
        expect(path.startsWith(MOUNT_PREFIX), path).toBe(true);
        for (const bad of ['..', '%2F', '%2f', '//', '\\', '?', '#']) {
          expect(path.includes(bad), path).toBe(false);
        }
        expect(/^[\x21-\x7e]+$/.test(path), `${path}: only printable ASCII`).toBe(true);
        if (path === `${MOUNT_PREFIX}keys`) continue; // the test's own LIST
        const keyName = KEY_ROUTE.exec(path)?.[1];
        expect(keyName !== undefined && allowed.has(keyName), path).toBe(true);
      }
      // After the set-up, nothing in the corpus addressed the victim's key.
      const touches = subject.touchesSince(corpusStart);
      expect(touches.filter((t) => t.keyName === VICTIM_KEY).map((t) => t.what)).toEqual([]);
      for (const t of touches) expect(CORPUS_KEY_NAMES.has(t.keyName ?? ''), t.what).toBe(true);
    });

    it('left the victim tenant unchanged', async () => {
      const after = await subject.readVictimKey();
      if (victimKeyBefore !== undefined) {
        expect(after).toEqual(victimKeyBefore);
        expect(after).toMatchObject({
          name: VICTIM_KEY,
          latest_version: 1,
          min_decryption_version: 1,
          deletion_allowed: false,
        });
      }
      await subject.pool.session(async (s) => {
        expect(await subject.kms.decryptDek(s, VICTIM, ctx.victim.encryptedDek)).toEqual(
          ctx.victim.dek,
        );
        // Rewrap goes to the latest version: still 1, so nothing rotated the victim's key.
        const rewrapped = await subject.kms.rewrapDek(s, VICTIM, ctx.victim.encryptedDek);
        expect(rewrapped.toString('utf8')).toMatch(/^vault:v1:/);
        expect(await subject.kms.decryptDek(s, VICTIM, rewrapped)).toEqual(ctx.victim.dek);
      });
    });

    it('created no key but the victim’s, the attacker’s and the other key type’s', async () => {
      const keys = await subject.listKeys();
      if (keys === undefined) return; // in-memory: its keys are not listable; calls were checked
      expect([...keys].toSorted()).toEqual(
        [ATTACKER_KEY, OTHER_KEY_TYPE_KEY, VICTIM_KEY].toSorted(),
      );
    });
  },
);
