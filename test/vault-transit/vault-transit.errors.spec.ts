import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import {
  KekNotFoundError,
  KmsAccessDeniedError,
  KmsConfigurationError,
  KmsDecryptionError,
  KmsError,
  KmsInvalidInputError,
  KmsOutcomeUnknownError,
  KmsUnavailableError,
  RestSessionPool,
  VaultTransitService,
  type IKeyManagementService,
  type ISession,
} from '../../lib/index.js';
import { startTransitDevServer } from '../../lib/testing/index.js';
import { expectNoSecrets } from '../support/secrets.js';
import { TRANSPORTS, expectSentThrough, type Transport } from '../support/transports.js';
import {
  answerWith,
  closedPort,
  startScriptedServer,
  type ScriptedServer,
} from '../support/scripted-server.js';

const TOKEN = 'hvs.TOPSECRET-token-value-0123456789';
const DEK = Buffer.from('PLAINTEXT-DEK-do-not-leak-012345'); // 32 printable bytes, easy to spot
const WRAPPED = Buffer.from(`vault:v1:${Buffer.alloc(60, 7).toString('base64')}`);
const vaultError = (...errors: string[]) => JSON.stringify({ errors });

type Operation = (kms: IKeyManagementService, s: ISession) => Promise<unknown>;
const OPERATIONS: Record<string, Operation> = {
  encryptDek: (kms, s) => kms.encryptDek(s, 'tenant-1', DEK),
  decryptDek: (kms, s) => kms.decryptDek(s, 'tenant-1', WRAPPED),
  generateDek: (kms, s) => kms.generateDek(s, 'tenant-1'),
  rotateKek: (kms, s) => kms.rotateKek(s, 'tenant-1'),
  rewrapDek: (kms, s) => kms.rewrapDek(s, 'tenant-1', WRAPPED),
  deleteKek: (kms, s) => kms.deleteKek(s, 'tenant-1'),
  setup: (kms, s) => kms.setup(s),
};

let scripted: ScriptedServer | undefined;
afterEach(async () => {
  await scripted?.close();
  scripted = undefined;
});

/** Runs one operation against `vaultAddr` and returns the error plus every signal event emitted. */
async function failure(
  transport: Transport,
  vaultAddr: string,
  operation: Operation,
  timeoutMs = 2_000,
) {
  const pool = new RestSessionPool();
  const events: unknown[] = [];
  for (const signal of Object.values(pool.signals))
    signal.connect((event: unknown) => events.push(event));
  const kms = new VaultTransitService({ vaultAddr, vaultToken: TOKEN, timeoutMs, transport });
  try {
    const error = await pool
      .session((s) => operation(kms, s))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    return { error, events };
  } finally {
    pool.close();
  }
}

interface Case {
  readonly name: string;
  readonly respond: (req: IncomingMessage, res: ServerResponse) => void;
  readonly type: new (...args: never[]) => KmsError;
  readonly expected: Record<string, unknown>;
  /** What setup (sys/health, then lookup-self) fails with on this answer. */
  readonly setup: new (...args: never[]) => KmsError;
  /** deleteKek's outcome when it differs from `type` (undefined: it succeeds). */
  readonly deleteKek?: new (...args: never[]) => KmsError;
  /** rotateKek's outcome when it differs from `type` (a lost answer to a rotation). */
  readonly rotateKek?: new (...args: never[]) => KmsError;
}

const CASES: Case[] = [
  {
    name: '403 permission denied',
    respond: answerWith(403, vaultError('1 error occurred:\n\t* permission denied\n\n')),
    type: KmsAccessDeniedError,
    expected: { status: 403, retryable: false },
    setup: KmsAccessDeniedError,
  },
  {
    name: '403 invalid token',
    respond: answerWith(
      403,
      vaultError('2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n'),
    ),
    type: KmsAccessDeniedError,
    expected: { status: 403 },
    setup: KmsAccessDeniedError,
  },
  {
    name: '429 rate limited',
    respond: answerWith(
      429,
      vaultError('request path "transit/encrypt/x": rate limit quota exceeded'),
    ),
    type: KmsUnavailableError,
    expected: { reason: 'rate-limited', retryable: true },
    setup: KmsUnavailableError,
  },
  {
    name: '503 sealed',
    respond: answerWith(503, vaultError('Vault is sealed')),
    type: KmsUnavailableError,
    expected: { reason: 'sealed', retryable: true },
    setup: KmsUnavailableError,
  },
  {
    name: '500 internal error',
    respond: answerWith(500, vaultError('1 error occurred:\n\t* internal error\n\n')),
    type: KmsUnavailableError,
    expected: { reason: 'server-error', retryable: true },
    setup: KmsUnavailableError,
    rotateKek: KmsOutcomeUnknownError,
  },
  {
    name: '502 HTML from a proxy',
    respond: answerWith(502, '<html>Bad Gateway</html>', 'text/html'),
    type: KmsUnavailableError,
    expected: { reason: 'server-error', status: 502 },
    setup: KmsUnavailableError,
    rotateKek: KmsOutcomeUnknownError,
  },
  {
    name: '404 unsupported path',
    respond: answerWith(404, vaultError('1 error occurred:\n\t* unsupported path\n\n')),
    type: KmsConfigurationError,
    expected: { status: 404, retryable: false },
    setup: KmsConfigurationError,
  },
  {
    name: '404 HTML (not Vault)',
    respond: answerWith(404, '<html>Not Found</html>', 'text/html'),
    type: KmsConfigurationError,
    expected: { status: 404 },
    setup: KmsConfigurationError,
  },
  {
    name: '405 unsupported operation',
    respond: answerWith(405, vaultError('1 error occurred:\n\t* unsupported operation\n\n')),
    type: KmsConfigurationError,
    expected: { status: 405 },
    setup: KmsConfigurationError,
  },
  {
    name: '404 {"errors":[]} (a path outside /v1/: wrong address prefix)',
    respond: answerWith(404, vaultError()),
    type: KmsConfigurationError,
    expected: { status: 404, retryable: false },
    setup: KmsConfigurationError,
    deleteKek: KmsConfigurationError,
  },
  {
    name: '401 from an authenticating proxy',
    respond: answerWith(401, vaultError('unauthorized')),
    type: KmsAccessDeniedError,
    expected: { status: 401, retryable: false },
    setup: KmsAccessDeniedError,
  },
  {
    name: '400 encryption key not found',
    respond: answerWith(400, vaultError('encryption key not found')),
    type: KekNotFoundError,
    expected: { status: 400 },
    setup: KmsConfigurationError,
  },
  {
    name: '400 illegal base64',
    respond: answerWith(400, vaultError('illegal base64 data at input byte 4')),
    type: KmsInvalidInputError,
    expected: { status: 400 },
    setup: KmsConfigurationError,
  },
  {
    name: '413 body too large',
    respond: answerWith(413, vaultError('error parsing JSON')),
    type: KmsInvalidInputError,
    expected: { status: 413 },
    setup: KmsConfigurationError,
  },
  {
    // 307s are followed (a standby's redirect), at most 3 hops: a loop is a configuration error.
    name: '307 redirect loop',
    respond: (_req, res) => {
      res.writeHead(307, { Location: '/v1/redirect-loop' });
      res.end();
    },
    type: KmsConfigurationError,
    expected: { status: 307, retryable: false },
    setup: KmsConfigurationError,
  },
  {
    name: '200 with HTML',
    respond: answerWith(200, '<html>login</html>', 'text/html'),
    type: KmsUnavailableError,
    expected: { reason: 'bad-response' },
    setup: KmsUnavailableError,
    rotateKek: KmsOutcomeUnknownError,
  },
  {
    name: '200 without the expected fields',
    respond: answerWith(200, JSON.stringify({ data: { nothing: true } })),
    type: KmsUnavailableError,
    expected: { reason: 'bad-response' },
    setup: KmsUnavailableError,
  },
];

describe.each(TRANSPORTS)(
  'VaultTransitService error mapping and secrecy (every operation × every answer, transport: %s)',
  (transport) => {
    it('sends over the transport under test', async () => {
      scripted = await startScriptedServer(answerWith(503, vaultError('Vault is sealed')));
      const pool = new RestSessionPool();
      try {
        const kms = new VaultTransitService({
          vaultAddr: scripted.address,
          vaultToken: TOKEN,
          retry: false,
          transport,
        });
        await expectSentThrough(transport, pool, () =>
          expect(pool.session((s) => kms.encryptDek(s, 'tenant-1', DEK))).rejects.toMatchObject({
            reason: 'sealed',
          }),
        );
      } finally {
        pool.close();
      }
    });

    for (const testCase of CASES) {
      it(`${testCase.name}`, async () => {
        scripted = await startScriptedServer(testCase.respond);
        for (const [name, operation] of Object.entries(OPERATIONS)) {
          const { error, events } = await failure(transport, scripted.address, operation);
          if (name === 'setup') {
            expect(error, `setup on ${testCase.name}`).toBeInstanceOf(testCase.setup);
          } else if (name === 'deleteKek' && testCase.type === KekNotFoundError) {
            expect(error, 'deleteKek treats a missing key as success').toBeUndefined();
          } else if (name === 'rotateKek' && testCase.rotateKek) {
            // The rotation was sent and its answer lost: whether it happened cannot be told.
            expect(error, `rotateKek on ${testCase.name}`).toBeInstanceOf(testCase.rotateKek);
          } else if (name === 'deleteKek' && testCase.deleteKek) {
            expect(error, `deleteKek on ${testCase.name}`).toBeInstanceOf(testCase.deleteKek);
          } else if (name === 'generateDek' && testCase.type === KekNotFoundError) {
            // The key is created and the datakey call repeated once; the second answer is the same.
            expect(error).toBeInstanceOf(KekNotFoundError);
          } else {
            expect(error, `${name} on ${testCase.name}`).toBeInstanceOf(testCase.type);
            expect(error).toMatchObject(testCase.expected);
            expect((error as KmsError).code).toMatch(/^KMS_/);
          }
          expectNoSecrets(error, [TOKEN, DEK]);
          expectNoSecrets(JSON.stringify(events), [TOKEN, DEK]);
        }
        // The token went to the server in its header, and nowhere else: every Transit request
        // carries it; sys/health (setup's first request, and its redirect hops) needs none.
        const transit = scripted.requests.filter((r) => r.url.startsWith('/v1/transit/'));
        expect(transit.length).toBeGreaterThan(0);
        expect(transit.every((r) => r.headers['x-vault-token'] === TOKEN)).toBe(true);
        const sent = scripted.requests.map((r) => r.headers['x-vault-token']);
        expect(sent.every((token) => token === undefined || token === TOKEN)).toBe(true);
        const health = scripted.requests.filter((r) => r.url.startsWith('/v1/sys/health'));
        expect(health.every((r) => r.headers['x-vault-token'] === undefined)).toBe(true);
      });
    }

    it('redacts the token and the DEK when a proxy echoes the request into its error', async () => {
      scripted = await startScriptedServer((req, res, body) => {
        res.writeHead(400, { 'Content-Type': 'application/json' });
        res.end(vaultError(`rejected ${body} from ${String(req.headers['x-vault-token'])}`));
      });
      const { error } = await failure(
        transport,
        scripted.address,
        OPERATIONS['encryptDek'] as Operation,
      );
      expect(error).toBeInstanceOf(KmsInvalidInputError);
      expect((error as KmsError).vaultErrors?.[0]).toContain('[REDACTED]');
      expectNoSecrets(error, [TOKEN, DEK]);
    });

    it('refuses a generated DEK of the wrong length', async () => {
      scripted = await startScriptedServer(
        answerWith(
          200,
          JSON.stringify({
            data: { ciphertext: WRAPPED.toString(), key_version: 1, plaintext: 'AA==' },
          }),
        ),
      );
      const { error } = await failure(
        transport,
        scripted.address,
        OPERATIONS['generateDek'] as Operation,
      );
      expect(error).toMatchObject({ reason: 'bad-response' });
    });

    it('refuses oversized plaintexts and ciphertexts in an answer with a typed error', async () => {
      const huge = 'A'.repeat(8 * 1024 * 1024);
      scripted = await startScriptedServer(
        answerWith(
          200,
          JSON.stringify({ data: { ciphertext: `vault:v1:${huge}`, plaintext: huge } }),
        ),
      );
      for (const name of ['decryptDek', 'generateDek', 'encryptDek', 'rewrapDek']) {
        const { error } = await failure(transport, scripted.address, OPERATIONS[name] as Operation);
        expect(error, name).toBeInstanceOf(KmsUnavailableError);
        expect(error, name).toMatchObject({ reason: 'bad-response' });
      }
    });

    it('refuses a compressed answer (Content-Encoding: gzip) with a typed error', async () => {
      // Neither transport asks for compression; an answer compressed anyway is not read.
      const body = JSON.stringify({ data: { ciphertext: WRAPPED.toString(), key_version: 1 } });
      scripted = await startScriptedServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
        res.end(gzipSync(body));
      });
      const { error } = await failure(
        transport,
        scripted.address,
        OPERATIONS['encryptDek'] as Operation,
      );
      expect(error).toBeInstanceOf(KmsUnavailableError);
      expect(error).toMatchObject({ reason: 'bad-response' });
      expect(scripted.requests[0]?.headers['accept-encoding']).toBeUndefined();
      expectNoSecrets(error, [TOKEN, DEK]);
    });

    it('an answer that only claims to be compressed (a JSON body under Content-Encoding: gzip) is refused too', async () => {
      const body = JSON.stringify({ data: { ciphertext: WRAPPED.toString(), key_version: 1 } });
      scripted = await startScriptedServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
        res.end(body);
      });
      const { error } = await failure(
        transport,
        scripted.address,
        OPERATIONS['encryptDek'] as Operation,
      );
      expect(error).toMatchObject({ reason: 'bad-response' });
    });

    it('a UTF-8 BOM before the JSON is dropped, as axios drops it, on both transports', async () => {
      const body = JSON.stringify({ data: { ciphertext: WRAPPED.toString(), key_version: 1 } });
      scripted = await startScriptedServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(`\uFEFF${body}`);
      });
      const pool = new RestSessionPool();
      try {
        const kms = new VaultTransitService({
          vaultAddr: scripted.address,
          vaultToken: TOKEN,
          transport,
        });
        const wrapped = await pool.session((s) => kms.encryptDek(s, 'acme', DEK));
        expect(wrapped.toString()).toBe(WRAPPED.toString());
      } finally {
        pool.close();
      }
    });

    it('connection refused: retryable network error, no secret, for every operation', async () => {
      const address = `http://127.0.0.1:${await closedPort()}`;
      for (const operation of Object.values(OPERATIONS)) {
        const { error, events } = await failure(transport, address, operation);
        expect(error).toBeInstanceOf(KmsUnavailableError);
        expect(error).toMatchObject({ reason: 'network', retryable: true });
        expect(((error as Error).cause as { code?: string }).code).toBe('ECONNREFUSED');
        expectNoSecrets(error, [TOKEN, DEK]);
        expectNoSecrets(JSON.stringify(events), [TOKEN, DEK]);
      }
    });

    it('a server that never answers: timeout after timeoutMs, no secret', async () => {
      scripted = await startScriptedServer(() => undefined);
      const started = Date.now();
      const { error, events } = await failure(
        transport,
        scripted.address,
        OPERATIONS['encryptDek'] as Operation,
        150,
      );
      expect(error).toBeInstanceOf(KmsUnavailableError);
      expect(error).toMatchObject({ reason: 'timeout', retryable: true });
      expect(Date.now() - started).toBeLessThan(5_000);
      expectNoSecrets(error, [TOKEN, DEK]);
      expectNoSecrets(JSON.stringify(events), [TOKEN, DEK]);
    });

    it('a body that trickles past the deadline also times out', async () => {
      scripted = await startScriptedServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write('{"data":');
        const timer = setInterval(() => res.write(' '), 20);
        res.on('close', () => clearInterval(timer));
      });
      const { error } = await failure(
        transport,
        scripted.address,
        OPERATIONS['decryptDek'] as Operation,
        200,
      );
      expect(error).toMatchObject({ reason: 'timeout' });
    });

    it('errors from the dev server (decryption, not found, denied) are clean too', async () => {
      const server = await startTransitDevServer({ token: TOKEN });
      const pool = new RestSessionPool();
      try {
        const kms = new VaultTransitService({
          vaultAddr: server.address,
          vaultToken: TOKEN,
          transport,
        });
        const wrapped = await pool.session((s) => kms.encryptDek(s, 'a', DEK));
        await pool.session((s) => kms.encryptDek(s, 'b', DEK));
        const errors = await pool.session(async (s) => [
          await kms.decryptDek(s, 'b', wrapped).catch((e: unknown) => e),
          await kms.decryptDek(s, 'c', wrapped).catch((e: unknown) => e),
          await kms.encryptDek(s, 'a', Buffer.alloc(0)).catch((e: unknown) => e),
          await kms.decryptDek(s, 'a/../b', wrapped).catch((e: unknown) => e),
        ]);
        expect(errors.map((e) => (e as KmsError).constructor)).toEqual([
          KmsDecryptionError,
          KekNotFoundError,
          KmsInvalidInputError,
          KmsInvalidInputError,
        ]);
        for (const error of errors) expectNoSecrets(error, [TOKEN, DEK]);
      } finally {
        pool.close();
        await server.close();
      }
    });
  },
);

describe('configuration errors', () => {
  const valid = { vaultAddr: 'http://127.0.0.1:8200', vaultToken: TOKEN };
  it.each([
    ['vaultAddr', { vaultAddr: 'not a url' }],
    ['vaultAddr', { vaultAddr: 'ftp://127.0.0.1' }],
    ['vaultAddr', { vaultAddr: `http://user:${TOKEN}@127.0.0.1:8200` }],
    ['vaultAddr', { vaultAddr: 'http://127.0.0.1:8200/?x=1' }],
    ['vaultToken', { vaultToken: '' }],
    ['vaultToken', { vaultToken: `${TOKEN}\r\nX-Evil: 1` }],
    ['vaultToken', { vaultToken: 42 }],
    ['mount', { mount: '/transit' }],
    ['mount', { mount: 'transit/../sys' }],
    ['mount', { mount: 'a b' }],
    ['keyType', { keyType: 'rsa-2048' }],
    ['timeoutMs', { timeoutMs: 0 }],
    ['timeoutMs', { timeoutMs: 1.5 }],
    ['keyPrefix', { keyPrefix: '-x' }],
    ['keyPrefix', { keyPrefix: 'a/b' }],
    ['keyName', { keyName: 'not a function' }],
    ['maxSockets', { maxSockets: 0 }],
    ['transport', { transport: 'carrier-pigeon' }],
  ])('rejects a bad %s, naming it, without the token', (option, override) => {
    const construct = () => new VaultTransitService({ ...valid, ...override } as never);
    let error: unknown;
    try {
      construct();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KmsConfigurationError);
    expect((error as Error).message).toContain(`"${option}"`);
    expectNoSecrets(error, [TOKEN]);
  });
});
