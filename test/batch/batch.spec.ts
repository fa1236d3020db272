import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  InMemoryKeyManagementService,
  KekNotFoundError,
  KmsAbortedError,
  KmsConfigurationError,
  KmsDecryptionError,
  KmsInvalidInputError,
  KmsUnavailableError,
  RestSessionPool,
  VaultTransitService,
  type BatchItemResult,
  type IKeyManagementService,
  type ISession,
  type KmsError,
} from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { expectNoSecrets } from '../support/secrets.js';
import { answerWith, startScriptedServer } from '../support/scripted-server.js';
import { TRANSPORTS, expectSentThrough, type Transport } from '../support/transports.js';

const BATCH_SIZE = 250;

interface Subject {
  readonly kms: IKeyManagementService;
  readonly pool: RestSessionPool;
  /** Requests (Vault) or engine calls (in-memory) so far whose path includes `route`. */
  io(route: string): number;
  /** Values that must never appear in an error. */
  readonly secrets: string[];
  close(): Promise<void>;
}

/** VaultTransitService over the dev server, sending through `transport`. */
function vaultSubject(transport: Transport): [string, () => Promise<Subject>] {
  return [
    `VaultTransitService over the dev server (transport: ${transport})`,
    async () => {
      const server = await startTransitDevServer();
      const pool = new RestSessionPool();
      const kms = new VaultTransitService({
        vaultAddr: server.address,
        vaultToken: server.token,
        batchSize: BATCH_SIZE,
        retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
        transport,
      });
      return {
        kms,
        pool,
        io: (route) => server.requests.filter((r) => r.path.includes(`/${route}/`)).length,
        secrets: [server.token],
        close: async () => {
          pool.close();
          await server.close();
        },
      };
    },
  ];
}

const subjects: [string, () => Promise<Subject>][] = [
  ...TRANSPORTS.map(vaultSubject),
  [
    'InMemoryKeyManagementService',
    async () => {
      const kms = new InMemoryKeyManagementService();
      const pool = new RestSessionPool();
      return {
        kms,
        pool,
        io: (route) => kms.calls.filter((c) => c.operation.startsWith(route)).length,
        secrets: [],
        close: async () => pool.close(),
      };
    },
  ],
];

function values(results: readonly BatchItemResult<Buffer>[]): Buffer[] {
  return results.map((result, index) => {
    if (!result.ok) throw new Error(`item ${index} failed: ${result.error.message}`);
    return result.value;
  });
}

function errorOf(result: BatchItemResult<Buffer> | undefined): KmsError {
  if (!result || result.ok) throw new Error('expected a failed item');
  return result.error;
}

function deks(n: number): Buffer[] {
  return Array.from({ length: n }, () => randomBytes(32));
}

/** The ciphertext with one payload character changed (still well-formed). */
function tampered(encryptedDek: Buffer): Buffer {
  const text = encryptedDek.toString('utf8');
  const at = 'vault:v1:'.length + 4;
  const swapped = text[at] === 'A' ? 'B' : 'A';
  return Buffer.from(text.slice(0, at) + swapped + text.slice(at + 1));
}

describe.each(subjects)('batch operations: %s', (_name, start) => {
  let s: Subject;
  const run = <T>(work: (session: ISession) => Promise<T>): Promise<T> => s.pool.session(work);

  beforeEach(async () => {
    s = await start();
  });
  afterEach(async () => {
    await s.close();
  });

  it.each([1, 7, 2_503])('round-trips %i items in input order', async (n) => {
    const plain = deks(n);
    const encBefore = s.io('encrypt');
    const wrapped = values(await run((x) => s.kms.encryptDeks(x, 'acme', plain)));
    expect(wrapped).toHaveLength(n);
    const decBefore = s.io('decrypt');
    const back = values(await run((x) => s.kms.decryptDeks(x, 'acme', wrapped)));
    expect(back).toEqual(plain);
    if (s.kms instanceof VaultTransitService) {
      expect(s.io('encrypt') - encBefore).toBe(Math.ceil(n / BATCH_SIZE));
      expect(s.io('decrypt') - decBefore).toBe(Math.ceil(n / BATCH_SIZE));
    } else {
      expect(s.io('encrypt') - encBefore).toBe(1);
      expect(s.io('decrypt') - decBefore).toBe(1);
    }
    // Each wrapped DEK is the one of its own slot: single calls agree.
    const i = n - 1;
    expect(await run((x) => s.kms.decryptDek(x, 'acme', wrapped[i] as Buffer))).toEqual(plain[i]);
  });

  it('types each slot of a mixed batch, and the good items still succeed', async () => {
    const plain = deks(3);
    const [a, b, c] = values(await run((x) => s.kms.encryptDeks(x, 'acme', plain))) as Buffer[];
    const [other] = values(await run((x) => s.kms.encryptDeks(x, 'globex', deks(1)))) as Buffer[];
    const input = [
      a,
      Buffer.alloc(0),
      tampered(b),
      'vault:v1:abc' as unknown as Buffer,
      other,
      c,
      Buffer.from('not a ciphertext'),
    ];
    const results = await run((x) => s.kms.decryptDeks(x, 'acme', input));
    expect(results).toHaveLength(input.length);
    expect(results[0]).toEqual({ ok: true, value: plain[0] });
    expect(errorOf(results[1])).toBeInstanceOf(KmsInvalidInputError);
    expect(errorOf(results[2])).toBeInstanceOf(KmsDecryptionError);
    expect(errorOf(results[3])).toBeInstanceOf(KmsInvalidInputError);
    expect(errorOf(results[4])).toBeInstanceOf(KmsDecryptionError);
    expect(errorOf(results[4]).status).toBe(400);
    expect(results[5]).toEqual({ ok: true, value: plain[2] });
    expect(errorOf(results[6])).toBeInstanceOf(KmsInvalidInputError);
    for (const result of results) {
      if (!result.ok) expectNoSecrets(result.error, [...s.secrets, ...plain]);
    }

    const encrypted = await run((x) =>
      s.kms.encryptDeks(x, 'acme', [plain[0] as Buffer, Buffer.alloc(0), 'x' as unknown as Buffer]),
    );
    expect(encrypted[0]?.ok).toBe(true);
    expect(errorOf(encrypted[1])).toBeInstanceOf(KmsInvalidInputError);
    expect(errorOf(encrypted[2])).toBeInstanceOf(KmsInvalidInputError);
    for (const result of encrypted) {
      if (!result.ok) expectNoSecrets(result.error, [...s.secrets, ...plain]);
    }
  });

  it('turns a batch in which every item fails at Vault into per-item errors', async () => {
    const plain = deks(4);
    const wrapped = values(await run((x) => s.kms.encryptDeks(x, 'acme', plain)));
    const results = await run((x) => s.kms.decryptDeks(x, 'acme', wrapped.map(tampered)));
    expect(results).toHaveLength(4);
    for (const result of results) {
      expect(errorOf(result)).toBeInstanceOf(KmsDecryptionError);
      expectNoSecrets(errorOf(result), [...s.secrets, ...plain]);
    }
    // v1 no longer the latest: rewrap must open the ciphertexts (one on the latest known version
    // comes back unsent and unverified, see IKeyManagementService.rewrapDek).
    await run((x) => s.kms.rotateKek(x, 'acme'));
    const rewrapped = await run((x) => s.kms.rewrapDeks(x, 'acme', wrapped.map(tampered)));
    expect(rewrapped).toHaveLength(4);
    for (const result of rewrapped) expect(errorOf(result)).toBeInstanceOf(KmsDecryptionError);
  });

  it('sends nothing when the input is empty or every item is invalid', async () => {
    await run((x) => s.kms.encryptDeks(x, 'acme', deks(1)));
    const before = s.io('decrypt') + s.io('encrypt') + s.io('rewrap');
    expect(await run((x) => s.kms.decryptDeks(x, 'acme', []))).toEqual([]);
    expect(await run((x) => s.kms.encryptDeks(x, 'acme', []))).toEqual([]);
    const invalid = [Buffer.alloc(0), Buffer.from('nope'), 42 as unknown as Buffer];
    const results = await run((x) => s.kms.rewrapDeks(x, 'acme', invalid));
    expect(results.map((r) => errorOf(r).constructor)).toEqual([
      KmsInvalidInputError,
      KmsInvalidInputError,
      KmsInvalidInputError,
    ]);
    const engineCalls = s.kms instanceof InMemoryKeyManagementService ? 3 : 0; // recorded, no I/O
    expect(s.io('decrypt') + s.io('encrypt') + s.io('rewrap') - before).toBe(engineCalls);
  });

  it('rejects the whole call for a bad tenant id or an input that is not an array', async () => {
    for (const call of [
      (x: ISession) => s.kms.encryptDeks(x, 'a/rotate', deks(1)),
      (x: ISession) => s.kms.decryptDeks(x, '', []),
      (x: ISession) => s.kms.rewrapDeks(x, 'acme', Buffer.alloc(3) as unknown as Buffer[]),
      (x: ISession) => s.kms.encryptDeks(x, 'acme', null as unknown as Buffer[]),
    ]) {
      await expect(run(call)).rejects.toBeInstanceOf(KmsInvalidInputError);
    }
  });

  it('creates the KEK of a new tenant on encryptDeks', async () => {
    const plain = deks(3);
    const wrapped = values(await run((x) => s.kms.encryptDeks(x, 'newcomer', plain)));
    expect(wrapped.every((w) => w.toString().startsWith('vault:v1:'))).toBe(true);
    expect(await run((x) => s.kms.decryptDek(x, 'newcomer', wrapped[1] as Buffer))).toEqual(
      plain[1],
    );
  });

  it('rejects decryptDeks and rewrapDeks on a tenant without a KEK as a whole', async () => {
    const wrapped = values(await run((x) => s.kms.encryptDeks(x, 'acme', deks(2))));
    for (const call of [
      (x: ISession) => s.kms.decryptDeks(x, 'nobody', wrapped),
      (x: ISession) => s.kms.rewrapDeks(x, 'nobody', wrapped),
    ]) {
      const error = await run(call).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KekNotFoundError);
      expectNoSecrets(error, s.secrets);
    }
  });

  it('rewraps under the latest version, and the results decrypt to the original DEKs', async () => {
    const plain = deks(5);
    const wrapped = values(await run((x) => s.kms.encryptDeks(x, 'acme', plain)));
    expect(await run((x) => s.kms.rotateKek(x, 'acme'))).toBe(2);
    const rewrapped = values(await run((x) => s.kms.rewrapDeks(x, 'acme', wrapped)));
    expect(rewrapped.every((w) => w.toString().startsWith('vault:v2:'))).toBe(true);
    expect(values(await run((x) => s.kms.decryptDeks(x, 'acme', rewrapped)))).toEqual(plain);
  });

  it('rejects with KmsAbortedError when the signal is aborted', async () => {
    const before = s.io('encrypt');
    const error = await run((x) =>
      s.kms.encryptDeks(x, 'acme', deks(3), { signal: AbortSignal.abort() }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsAbortedError);
    if (s.kms instanceof VaultTransitService) expect(s.io('encrypt')).toBe(before);
  });
});

describe.each(TRANSPORTS)('VaultTransitService batches over HTTP (transport: %s)', (transport) => {
  let server: TransitDevServer;
  let pool: RestSessionPool;
  const service = (options: Record<string, unknown> = {}): VaultTransitService =>
    new VaultTransitService({
      vaultAddr: server.address,
      vaultToken: server.token,
      retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
      transport,
      ...options,
    });

  beforeEach(async () => {
    server = await startTransitDevServer();
    pool = new RestSessionPool();
  });
  afterEach(async () => {
    pool.close();
    await server.close();
  });

  it('sends over the transport under test', async () => {
    const kms = service({ batchSize: 2 });
    await expectSentThrough(transport, pool, async () => {
      const plain = deks(3);
      const wrapped = values(await pool.session((x) => kms.encryptDeks(x, 'acme', plain)));
      expect(values(await pool.session((x) => kms.decryptDeks(x, 'acme', wrapped)))).toEqual(plain);
    });
  });

  it('repeats a chunk that failed with a 5xx, transparently', async () => {
    const kms = service({ batchSize: BATCH_SIZE });
    const plain = deks(600);
    const wrapped = values(await pool.session((x) => kms.encryptDeks(x, 'acme', plain)));
    server.injectFault({ kind: 'status', status: 500, times: 1, match: { path: /\/decrypt\// } });
    const before = server.requests.length;
    const back = values(await pool.session((x) => kms.decryptDeks(x, 'acme', wrapped)));
    expect(back).toEqual(plain);
    expect(server.requests.slice(before).map((r) => r.status)).toEqual([500, 200, 200, 200]);
  });

  it('answers 400 with batch results when every item failed, and that is not a call failure', async () => {
    const kms = service();
    const wrapped = values(await pool.session((x) => kms.encryptDeks(x, 'acme', deks(2))));
    const results = await pool.session((x) => kms.decryptDeks(x, 'acme', wrapped.map(tampered)));
    expect(server.requests.at(-1)?.status).toBe(400);
    expect(results.every((r) => !r.ok && r.error instanceof KmsDecryptionError)).toBe(true);
  });

  it('uses 200 items per request by default', async () => {
    const kms = service();
    const before = server.requests.length;
    values(await pool.session((x) => kms.encryptDeks(x, 'acme', deks(401))));
    expect(server.requests.length - before).toBe(3);
  });

  it('fails the whole call after the retries when Vault keeps failing', async () => {
    const kms = service({ circuitBreaker: false });
    const plain = deks(3);
    server.injectFault({ kind: 'status', status: 500, times: Infinity });
    const error = await pool
      .session((x) => kms.encryptDeks(x, 'acme', plain))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsUnavailableError);
    expect((error as KmsUnavailableError).reason).toBe('server-error');
    expectNoSecrets(error, [server.token, ...plain]);
  });

  it.each([0, 1001, 2.5, '100', -1])('refuses batchSize %j', (batchSize) => {
    expect(() => service({ batchSize })).toThrow(KmsConfigurationError);
    expect(() => service({ batchSize })).toThrow(/"batchSize"/);
  });

  it('accepts batchSize 1 and 1000', async () => {
    const kms = service({ batchSize: 1 });
    const before = server.requests.length;
    values(await pool.session((x) => kms.encryptDeks(x, 'acme', deks(3))));
    expect(server.requests.length - before).toBe(3);
    expect(() => service({ batchSize: 1000 })).not.toThrow();
  });
});

describe.each(TRANSPORTS)(
  'VaultTransitService batch answers it does not understand (transport: %s)',
  (transport) => {
    const sample = `vault:v1:${Buffer.alloc(48, 7).toString('base64')}`;
    const cases: [string, number, unknown][] = [
      [
        'too few results',
        200,
        { data: { batch_results: [{ ciphertext: sample, reference: '0' }] } },
      ],
      [
        'a reference that was not sent',
        200,
        {
          data: {
            batch_results: [
              { ciphertext: sample, reference: '0' },
              { ciphertext: sample, reference: '7' },
            ],
          },
        },
      ],
      [
        'a malformed ciphertext',
        200,
        {
          data: {
            batch_results: [
              { ciphertext: sample, reference: '0' },
              { ciphertext: 'vault:v1:x', reference: '1' },
            ],
          },
        },
      ],
      ['no batch_results', 200, { data: {} }],
    ];

    it.each(cases)('%s → bad-response for the whole call', async (_name, status, body) => {
      const server = await startScriptedServer(answerWith(status, JSON.stringify(body)));
      const pool = new RestSessionPool();
      try {
        const kms = new VaultTransitService({
          vaultAddr: server.address,
          vaultToken: 'hvs.token',
          transport,
        });
        const plain = deks(2);
        const error = await pool
          .session((x) => kms.encryptDeks(x, 'acme', plain))
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(KmsUnavailableError);
        expect((error as KmsUnavailableError).reason).toBe('bad-response');
        expectNoSecrets(error, ['hvs.token', ...plain]);
      } finally {
        pool.close();
        await server.close();
      }
    });

    it('maps results by reference even when they come back in another order', async () => {
      const other = `vault:v2:${Buffer.alloc(48, 9).toString('base64')}`;
      const body = {
        data: {
          batch_results: [
            { ciphertext: other, key_version: 2, reference: '1' },
            { error: 'some item problem', reference: '0' },
          ],
        },
      };
      const server = await startScriptedServer(answerWith(400, JSON.stringify(body)));
      const pool = new RestSessionPool();
      try {
        const kms = new VaultTransitService({
          vaultAddr: server.address,
          vaultToken: 'hvs.token',
          transport,
        });
        const results = await pool.session((x) => kms.encryptDeks(x, 'acme', deks(2)));
        expect(errorOf(results[0])).toBeInstanceOf(KmsInvalidInputError);
        expect(errorOf(results[0]).vaultErrors).toEqual(['some item problem']);
        expect(results[1]).toEqual({ ok: true, value: Buffer.from(other) });
      } finally {
        pool.close();
        await server.close();
      }
    });

    it('creates the key and resends the chunk when upsert is disabled', async () => {
      const ciphertext = `vault:v1:${Buffer.alloc(48, 7).toString('base64')}`;
      let encrypts = 0;
      const server = await startScriptedServer((req, res) => {
        const answer = (status: number, body: unknown): void => {
          res.writeHead(status, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(body));
        };
        if (req.url?.includes('/keys/')) return answer(200, { data: { name: 'tenant-acme' } });
        encrypts += 1;
        if (encrypts === 1) return answer(400, { errors: ['encryption key not found'] });
        return answer(200, { data: { batch_results: [{ ciphertext, reference: '0' }] } });
      });
      const pool = new RestSessionPool();
      try {
        const kms = new VaultTransitService({
          vaultAddr: server.address,
          vaultToken: 'hvs.token',
          transport,
        });
        const results = await pool.session((x) => kms.encryptDeks(x, 'acme', deks(1)));
        expect(results).toEqual([{ ok: true, value: Buffer.from(ciphertext) }]);
        expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
          'POST /v1/transit/encrypt/tenant-acme',
          'POST /v1/transit/keys/tenant-acme',
          'POST /v1/transit/encrypt/tenant-acme',
        ]);
      } finally {
        pool.close();
        await server.close();
      }
    });

    it('keeps a 400 without batch results a whole-call error', async () => {
      const body = { errors: ['encryption key not found'] };
      const server = await startScriptedServer(answerWith(400, JSON.stringify(body)));
      const pool = new RestSessionPool();
      try {
        const kms = new VaultTransitService({
          vaultAddr: server.address,
          vaultToken: 'hvs.token',
          transport,
        });
        const wrapped = [Buffer.from(`vault:v1:${Buffer.alloc(48, 7).toString('base64')}`)];
        await expect(
          pool.session((x) => kms.decryptDeks(x, 'acme', wrapped)),
        ).rejects.toBeInstanceOf(KekNotFoundError);
      } finally {
        pool.close();
        await server.close();
      }
    });

    it('redacts the plaintexts a proxy echoes into an item error', async () => {
      const plain = deks(2);
      const echoed = (plain[0] as Buffer).toString('base64');
      const body = {
        data: {
          batch_results: [
            { error: `bad plaintext ${echoed}`, reference: '0' },
            { error: 'other', reference: '1' },
          ],
        },
      };
      const server = await startScriptedServer(answerWith(400, JSON.stringify(body)));
      const pool = new RestSessionPool();
      try {
        const kms = new VaultTransitService({
          vaultAddr: server.address,
          vaultToken: 'hvs.token',
          transport,
        });
        const results = await pool.session((x) => kms.encryptDeks(x, 'acme', plain));
        expect(errorOf(results[0]).message).toContain('[REDACTED]');
        for (const result of results) expectNoSecrets(errorOf(result), ['hvs.token', ...plain]);
      } finally {
        pool.close();
        await server.close();
      }
    });
  },
);
