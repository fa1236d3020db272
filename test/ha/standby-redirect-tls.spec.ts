import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KmsConfigurationError, RestSessionPool, VaultTransitService } from '../../lib/index.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { expectNoSecrets } from '../support/secrets.js';
import { TRANSPORTS } from '../support/transports.js';

const TOKEN = 'hvs.ha-tls-standby-token-0123456789';

let activeTls: TransitDevServer;
let activePlain: TransitDevServer;
let standby: TransitDevServer;
let pool: RestSessionPool;

beforeEach(async () => {
  [activeTls, activePlain] = await Promise.all([
    startTransitDevServer({ token: TOKEN, tls: true }),
    startTransitDevServer({ token: TOKEN }),
  ]);
  standby = await startTransitDevServer({
    token: TOKEN,
    tls: true,
    standby: { activeAddress: activeTls.address },
  });
  // Each dev server has its own CA: trust both HTTPS nodes.
  pool = new RestSessionPool({ tls: { ca: [standby.tls!.ca, activeTls.tls!.ca] } });
});
afterEach(async () => {
  pool.close();
  await Promise.all([activeTls.close(), activePlain.close(), standby.close()]);
});

describe.each(TRANSPORTS)('a standby over HTTPS (transport: %s)', (transport) => {
  const kms = () =>
    new VaultTransitService({ vaultAddr: standby.address, vaultToken: TOKEN, transport });

  it('follows its 307 to an HTTPS active node', async () => {
    const dek = Buffer.alloc(32, 4);
    const wrapped = await pool.session((s) => kms().encryptDek(s, 'acme', dek));
    expect(await pool.session((s) => kms().decryptDek(s, 'acme', wrapped))).toEqual(dek);
    expect(standby.requests.map((r) => r.status)).toEqual([307, 307]);
    expect(activeTls.requests.map((r) => r.status)).toEqual([200, 200]);
  });

  it('refuses a redirect from https to http: the token never travels in clear text', async () => {
    standby.setStandby({ activeAddress: activePlain.address });
    const error = await pool
      .session((s) => kms().encryptDek(s, 'acme', Buffer.alloc(32)))
      .then(
        () => new Error('expected a rejection'),
        (e: unknown) => e as Error,
      );
    expect(error).toBeInstanceOf(KmsConfigurationError);
    expect(error.message).toContain('leaves https for http');
    expect(error.message).toContain(`${activePlain.address}/v1/transit/encrypt/tenant-acme`);
    expectNoSecrets(error, [TOKEN]);
    expect(activePlain.requests).toEqual([]); // nothing was sent there
    expect(standby.requests.map((r) => r.status)).toEqual([307]); // and not retried
  });
});
