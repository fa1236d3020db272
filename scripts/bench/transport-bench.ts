import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { RestSessionPool, VaultTransitService, type KmsTransport } from '@ascetic-ddd/nestjs-kms';
import type { DevServerProcess } from './dev-server-process.js';
import { drive, type Measured } from './drive.js';

export const TENANT = 'bench';
const MOUNT = 'transit';

/** One operation: encrypt a fresh 32-byte DEK, then decrypt it; checks the DEK came back. */
type Operation = () => Promise<void>;

interface Client {
  readonly name: string;
  /** A client sized for `concurrency` operations in flight; `close` releases its sockets. */
  create(concurrency: number): { run: Operation; close(): void; requests?: () => number };
}

export interface TransportResult extends Measured {
  readonly client: string;
  readonly concurrency: number;
  /** The server's CPU time per operation, in µs. */
  readonly serverCpuPerOp: number;
  /** HTTP requests per operation, where the client reports them. */
  readonly requestsPerOp: number | undefined;
}

export const TRANSPORT_CLIENTS = ['service', 'service-direct', 'node-vault', 'raw'] as const;

function check(dek: Buffer, back: Buffer): void {
  if (!back.equals(dek)) throw new Error('decrypted to another DEK');
}

function serviceClient(server: DevServerProcess, transport: KmsTransport): Client {
  return {
    name: transport === 'direct' ? 'service-direct' : 'service',
    create(concurrency) {
      const pool = new RestSessionPool({ maxSockets: concurrency });
      let requests = 0;
      // Counted during the warm-up only (see measureTransport): a listener costs a little.
      const disconnect = pool.signals.requestEnded.connect(() => {
        requests += 1;
      });
      const kms = new VaultTransitService({
        vaultAddr: server.address,
        vaultToken: server.token,
        mount: MOUNT,
        transport,
      });
      return {
        run: () =>
          pool.session(async (session) => {
            const dek = randomBytes(32);
            const ciphertext = await kms.encryptDek(session, TENANT, dek);
            check(dek, await kms.decryptDek(session, TENANT, ciphertext));
          }),
        close: () => pool.close(),
        requests: () => {
          disconnect();
          return requests;
        },
      };
    },
  };
}

/** The parts of node-vault 0.12's client used here (it ships no types). */
interface NodeVaultClient {
  write(path: string, data: Record<string, unknown>): Promise<{ data: Record<string, unknown> }>;
}

function nodeVaultClient(server: DevServerProcess, keyName: string): Client {
  const require = createRequire(import.meta.url);
  const nodeVault = require('node-vault') as (options: {
    endpoint: string;
    token: string;
  }) => NodeVaultClient;
  return {
    name: 'node-vault',
    create() {
      const vault = nodeVault({ endpoint: server.address, token: server.token });
      return {
        run: async () => {
          const dek = randomBytes(32);
          const encrypted = await vault.write(`${MOUNT}/encrypt/${keyName}`, {
            plaintext: dek.toString('base64'),
          });
          const decrypted = await vault.write(`${MOUNT}/decrypt/${keyName}`, {
            ciphertext: encrypted.data['ciphertext'],
          });
          check(dek, Buffer.from(decrypted.data['plaintext'] as string, 'base64'));
        },
        close: () => undefined,
      };
    },
  };
}

function rawClient(server: DevServerProcess, keyName: string): Client {
  const url = new URL(server.address);
  return {
    name: 'raw',
    create(concurrency) {
      const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
      const post = (path: string, body: object): Promise<Record<string, unknown>> =>
        new Promise((done, reject) => {
          const payload = JSON.stringify(body);
          const req = request(
            {
              host: url.hostname,
              port: url.port,
              method: 'POST',
              path: `/v1/${MOUNT}/${path}`,
              agent,
              headers: {
                'X-Vault-Token': server.token,
                'Content-Type': 'application/json',
                'Content-Length': Buffer.byteLength(payload),
              },
            },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (chunk: Buffer) => chunks.push(chunk));
              res.on('error', reject);
              res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                if (res.statusCode !== 200) reject(new Error(`${res.statusCode}: ${text}`));
                else done((JSON.parse(text) as { data: Record<string, unknown> }).data);
              });
            },
          );
          req.on('error', reject);
          req.end(payload);
        });
      return {
        run: async () => {
          const dek = randomBytes(32);
          const encrypted = await post(`encrypt/${keyName}`, { plaintext: dek.toString('base64') });
          const decrypted = await post(`decrypt/${keyName}`, {
            ciphertext: encrypted['ciphertext'],
          });
          check(dek, Buffer.from(decrypted['plaintext'] as string, 'base64'));
        },
        close: () => agent.destroy(),
      };
    },
  };
}

export function transportClients(server: DevServerProcess): Client[] {
  const keyName = new VaultTransitService({
    vaultAddr: server.address,
    vaultToken: server.token,
  }).keyNameFor(TENANT);
  return [
    serviceClient(server, 'http-service'),
    serviceClient(server, 'direct'),
    nodeVaultClient(server, keyName),
    rawClient(server, keyName),
  ];
}

/** Creates the tenant's key, so that no case pays for it. */
export async function createBenchKey(server: DevServerProcess): Promise<void> {
  const pool = new RestSessionPool();
  try {
    const kms = new VaultTransitService({ vaultAddr: server.address, vaultToken: server.token });
    await pool.session((session) => kms.encryptDek(session, TENANT, randomBytes(32)));
  } finally {
    pool.close();
  }
}

export async function measureTransport(
  server: DevServerProcess,
  client: Client,
  concurrency: number,
  timing: { readonly warmup: number; readonly seconds: number },
): Promise<TransportResult> {
  const { run, close, requests } = client.create(concurrency);
  try {
    const warm = await drive(run, concurrency, Math.max(timing.warmup, 0.2));
    const requestsPerOp = requests ? requests() / Math.max(1, warm.ops + warm.errors) : undefined;
    const serverBefore = server.cpuMicros();
    const measured = await drive(run, concurrency, timing.seconds);
    return {
      ...measured,
      client: client.name,
      concurrency,
      serverCpuPerOp: (server.cpuMicros() - serverBefore) / Math.max(1, measured.ops),
      requestsPerOp,
    };
  } finally {
    close();
  }
}
