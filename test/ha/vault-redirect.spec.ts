import { describe, expect, it } from 'vitest';
import { KmsConfigurationError } from '../../lib/index.js';
import {
  MAX_REDIRECT_HOPS,
  redirectTarget,
} from '../../lib/providers/vault-transit/vault-redirect.js';

const FROM = 'https://vault-standby.internal:8200/v1/transit/encrypt/tenant-1';

function refusal(location: string, from = FROM, hop = 0): KmsConfigurationError {
  try {
    redirectTarget('encryptDek', 307, location, from, hop);
  } catch (error) {
    expect(error).toBeInstanceOf(KmsConfigurationError);
    return error as KmsConfigurationError;
  }
  throw new Error(`${location} was followed`);
}

describe('redirectTarget (which redirects the client follows)', () => {
  it('follows 307 and 308 to an absolute or relative Location, dropping a fragment', () => {
    expect(
      redirectTarget('encryptDek', 307, 'https://active:8200/v1/transit/encrypt/t?x=1#f', FROM, 0),
    ).toBe('https://active:8200/v1/transit/encrypt/t?x=1');
    expect(redirectTarget('encryptDek', 308, '/proxy/v1/transit/encrypt/t', FROM, 1)).toBe(
      'https://vault-standby.internal:8200/proxy/v1/transit/encrypt/t',
    );
  });

  it('leaves other statuses and a missing Location to the caller', () => {
    for (const status of [200, 301, 302, 303, 304, 400])
      expect(redirectTarget('x', status, 'https://active/v1/x', FROM, 0)).toBeUndefined();
    expect(redirectTarget('x', 307, undefined, FROM, 0)).toBeUndefined();
    expect(redirectTarget('x', 307, '', FROM, 0)).toBeUndefined();
    expect(redirectTarget('x', 307, ['https://a/', 'https://b/'], FROM, 0)).toBeUndefined();
  });

  it('never downgrades from https to http (the token would travel in clear text)', () => {
    const error = refusal('http://active:8200/v1/transit/encrypt/t?token=abc');
    expect(error.message).toContain('http://active:8200/v1/transit/encrypt/t ');
    expect(error.message).toContain('leaves https for http');
    expect(error.message).not.toContain('token=abc');
    // http → https is an upgrade, followed.
    expect(redirectTarget('x', 307, 'https://active/v1/x', 'http://standby/v1/x', 0)).toBe(
      'https://active/v1/x',
    );
  });

  it('refuses other schemes and unparseable targets without echoing userinfo or query', () => {
    for (const location of ['file:///etc/passwd', 'javascript:alert(1)', 'data:,x']) {
      expect(refusal(location).message).toContain('only http and https are followed');
    }
    const error = refusal('https://user:pa55word@[::1');
    expect(error.message).toContain('a Location that is no URL');
    expect(error.message).not.toContain('pa55word');
    const withUser = refusal('ftp://user:pa55word@host/p?q=1');
    expect(withUser.message).toContain('ftp://host/p');
    expect(withUser.message).not.toMatch(/pa55word|q=1|user/);
  });

  it('refuses a target with userinfo, without echoing it', () => {
    const error = refusal('https://admin:pa55word@active:8200/v1/transit/encrypt/t');
    expect(error.message).toContain('https://active:8200/v1/transit/encrypt/t');
    expect(error.message).toContain('carries credentials');
    expect(error.message).not.toMatch(/admin|pa55word/);
  });

  it(`stops after ${MAX_REDIRECT_HOPS} hops`, () => {
    expect(redirectTarget('x', 307, '/v1/x', FROM, MAX_REDIRECT_HOPS - 1)).toBeDefined();
    const error = refusal('/v1/x', FROM, MAX_REDIRECT_HOPS);
    expect(error.message).toContain(`more than ${MAX_REDIRECT_HOPS} redirects`);
    expect(error.retryable).toBe(false);
  });
});
