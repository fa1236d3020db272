import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KmsAccessDeniedError, KmsConfigurationError } from '../../lib/index.js';
import { TOKEN_FILE_REREAD_MS, TokenFileSource } from '../../lib/auth/token-file-source.js';
import { startTransitDevServer, type TransitDevServer } from '../../lib/testing/index.js';
import { expectNoSecrets } from '../support/secrets.js';
import { TRANSPORTS } from '../support/transports.js';
import { harness, replaceByRename, sleep, tempDir, type AuthHarness } from './auth-fixtures.js';

let vault: TransitDevServer;
let subject: AuthHarness | undefined;
let dir: ReturnType<typeof tempDir>;
beforeEach(async () => {
  vault = await startTransitDevServer();
  dir = tempDir();
});
afterEach(async () => {
  subject?.close();
  subject = undefined;
  dir.remove();
  await vault.close();
});

describe.each(TRANSPORTS)('tokenFile auth (transport: %s)', (transport) => {
  it('uses a token the sink replaced by rename within a few seconds', async () => {
    const sink = dir.file('sink');
    replaceByRename(sink, `${vault.createToken()}\n`);
    subject = harness(vault, { transport, auth: { method: 'tokenFile', path: sink } });
    await subject.roundTrip();
    // A token that may only read: once it is in use, encrypting an existing key is refused.
    const readOnly = vault.createToken({ capabilities: ['read'] });
    replaceByRename(sink, readOnly);
    await sleep(1_300);
    const refused = await subject.roundTrip().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(KmsAccessDeniedError);
    expectNoSecrets(refused, [readOnly]);
    replaceByRename(sink, vault.createToken());
    await sleep(1_300);
    await subject.roundTrip();
  });

  it('reads the file again at once after Vault refused its token', async () => {
    const sink = dir.file('sink');
    const first = vault.createToken();
    replaceByRename(sink, first);
    subject = harness(vault, { transport, auth: { method: 'tokenFile', path: sink } });
    await subject.roundTrip();
    replaceByRename(sink, vault.createToken());
    vault.revokeToken(first);
    await subject.roundTrip(); // no wait: the 403 made it read the new token
  });
});

describe('tokenFile auth: a refusal', () => {
  it('drops a read in flight: the next caller reads the file anew', async () => {
    const sink = dir.file('sink');
    replaceByRename(sink, 'hvs.file-token-one');
    const source = new TokenFileSource(sink);
    const first = await source.current();
    await sleep(TOKEN_FILE_REREAD_MS + 50); // the cached token is due for a read again
    const inFlight = source.current();
    expect(source.refused(first)).toBe(true);
    replaceByRename(sink, 'hvs.file-token-two');
    const after = source.current();
    expect(after).not.toBe(inFlight);
    expect((await after).reveal()).toBe('hvs.file-token-two');
    await inFlight; // settles, its token is not cached
    expect((await source.current()).reveal()).toBe('hvs.file-token-two');
  });
});

describe('tokenFile auth: failures', () => {
  it('a missing file is a configuration error naming the path, before any request', async () => {
    subject = harness(vault, { auth: { method: 'tokenFile', path: dir.file('nope') } });
    const error = await subject.roundTrip().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsConfigurationError);
    expect((error as Error).message).toContain(`"${dir.file('nope')}" (ENOENT)`);
    expect(vault.requests).toEqual([]);
  });

  it('a file holding something that is no token never shows its content', async () => {
    const sink = dir.file('sink');
    replaceByRename(sink, 'two words-secretish-content');
    subject = harness(vault, { auth: { method: 'tokenFile', path: sink } });
    const error = await subject.roundTrip().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KmsConfigurationError);
    expectNoSecrets(error, ['words-secretish-content']);
  });
});
