import { describe, expect, it } from 'vitest';
import {
  cleanPath,
  formatDuration,
  isForm,
  parseFormBody,
  parseGoInt,
  parseGoQuery,
  parseJsonBody,
  parseMediaType,
  parseRequestTarget,
  queryData,
  writtenStatus,
} from './dev-server-http.js';
import { MethodRewriter } from './http-method-shim.js';

function feed(rewriter: MethodRewriter, input: string): string {
  return rewriter.push(Buffer.from(input, 'latin1')).toString('latin1');
}

describe('MethodRewriter framing', () => {
  it('counts a zero-padded Content-Length and stays in step for the next request', () => {
    const rewriter = new MethodRewriter();
    const out = feed(
      rewriter,
      'POST /a HTTP/1.1\r\nContent-Length: 0000000000000000\r\n\r\n' +
        'LIST /k HTTP/1.1\r\nX-Transit-Dev-Server-Method: DELETE\r\n\r\n' +
        'POST /b HTTP/1.1\r\nContent-Length: 0003\r\n\r\nabc' +
        'LIST /j HTTP/1.1\r\n\r\n',
    );
    expect(out).toBe(
      'POST /a HTTP/1.1\r\nContent-Length: 0000000000000000\r\n\r\n' +
        'GET /k HTTP/1.1\r\nx-transit-dev-server-method: LIST\r\n\r\n' +
        'POST /b HTTP/1.1\r\nContent-Length: 0003\r\n\r\nabc' +
        'GET /j HTTP/1.1\r\nx-transit-dev-server-method: LIST\r\n\r\n',
    );
    expect(rewriter.failure).toBeUndefined();
  });

  it('takes chunk sizes with leading zeros and several spaces in a request line, as Node does', () => {
    const rewriter = new MethodRewriter();
    const out = feed(
      rewriter,
      'POST /c HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n' +
        '00000000000000000003;x=y\r\nabc\r\n0000\r\n\r\n' +
        'LIST   /k  HTTP/1.1\r\n\r\n',
    );
    expect(out.endsWith('GET /k HTTP/1.1\r\nx-transit-dev-server-method: LIST\r\n\r\n')).toBe(true);
    expect(rewriter.failure).toBeUndefined();
  });

  it.each([
    [
      'a bare LF ending a field',
      'GET / HTTP/1.1\r\nX-A: a\nx-transit-dev-server-method: LIST\r\n\r\n',
    ],
    ['an obs-fold line', 'GET / HTTP/1.1\r\nX-A: a\r\n x-transit-dev-server-method: LIST\r\n\r\n'],
    ['a space before the colon', 'GET / HTTP/1.1\r\nx-transit-dev-server-method : LIST\r\n\r\n'],
    [
      'a duplicate Content-Length',
      'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n',
    ],
    ['a signed Content-Length', 'POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n'],
    ['a 16-digit Content-Length', 'POST / HTTP/1.1\r\nContent-Length: 1234567890123456\r\n\r\n'],
    [
      'Transfer-Encoding and Content-Length',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n',
    ],
    ['a final coding other than chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n'],
    [
      'a repeated Transfer-Encoding',
      'POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n',
    ],
    ['a bad chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n'],
    ['a trailing space in the request line', 'LIST / HTTP/1.1 \r\n\r\n'],
  ])('fails on %s and forwards nothing after it', (_name, bad) => {
    const rewriter = new MethodRewriter();
    const good = 'GET /ok HTTP/1.1\r\n\r\n';
    const forged = 'GET /x HTTP/1.1\r\nX-Transit-Dev-Server-Method: LIST\r\n\r\n';
    const out = feed(rewriter, good + bad + forged);
    expect(out.startsWith(good)).toBe(true);
    expect(out.toLowerCase()).not.toContain('x-transit-dev-server-method');
    expect(out).not.toContain('/x ');
    expect(rewriter.failure).toBe('bad-request');
    expect(feed(rewriter, forged)).toBe('');
  });

  it('reports a head over 64 KiB as a header overflow, and a partial head as pending', () => {
    const rewriter = new MethodRewriter();
    expect(rewriter.headPending).toBe(false);
    feed(rewriter, 'GET / HTTP/1.1\r\nX-A: ');
    expect(rewriter.headPending).toBe(true);
    feed(rewriter, 'a'.repeat(70 * 1024));
    expect(rewriter.failure).toBe('header-overflow');
    expect(rewriter.headPending).toBe(false);
  });
});

describe('Go request-target parsing and ServeMux cleaning', () => {
  it.each([
    ['/v1/a%2Fb?x=1', { path: '/v1/a/b', escapedPath: '/v1/a%2Fb', rawQuery: 'x=1' }],
    ['/v1/%2e%2e/a', { path: '/v1/../a', escapedPath: '/v1/%2e%2e/a', rawQuery: '' }],
    ['/v1/a\\b', { path: '/v1/a\\b', escapedPath: '/v1/a%5Cb', rawQuery: '' }],
    ['//v1/a', { path: '//v1/a', escapedPath: '//v1/a', rawQuery: '' }],
    ['/a#b?c', { path: '/a#b', escapedPath: '/a%23b', rawQuery: 'c' }],
    ['/%ff', { path: '/\ufffd', escapedPath: '/%ff', rawQuery: '' }],
    ['http://h:8200/v1/x?y', { path: '/v1/x', escapedPath: '/v1/x', rawQuery: 'y' }],
    ['http://u@[::1]:1/v1/x', { path: '/v1/x', escapedPath: '/v1/x', rawQuery: '' }],
    ['http:/v1/x', { path: '/v1/x', escapedPath: '/v1/x', rawQuery: '' }],
    ['http://h', { path: '', escapedPath: '', rawQuery: '' }],
    ['mailto:x', { path: '', escapedPath: '', rawQuery: '' }],
    ['*', { path: '*', escapedPath: '*', rawQuery: '' }],
  ])('%s', (target, expected) => {
    expect(parseRequestTarget(target)).toEqual(expected);
  });

  it.each(['http://[', 'http://h:8x/', 'http://a|b/', '/a%zz', '/a%2', 'v1/x', ':x', ''])(
    'refuses %j',
    (target) => {
      expect(parseRequestTarget(target)).toBeUndefined();
    },
  );

  it('cleans like Go', () => {
    expect(cleanPath('/v1/a/../b/./c//d/')).toBe('/v1/b/c/d/');
    expect(cleanPath('/../..')).toBe('/');
    expect(cleanPath('/v1/%2e%2e/a')).toBe('/v1/%2e%2e/a');
    expect(cleanPath('/v1/a/')).toBe('/v1/a/');
    expect(cleanPath('')).toBe('/');
  });
});

describe('queries, bodies and values', () => {
  it('parses a query like url.ParseQuery and Vault’s parseQuery', () => {
    const query = parseGoQuery('a=1&a=2&b=x+y%21&c&;d=1&e=%zz&&help=1');
    expect(query.error).toBe(true);
    expect({ ...queryData(query) }).toEqual({ a: ['1', '2'], b: 'x y!', c: '' });
    expect(Object.getPrototypeOf(queryData(parseGoQuery('__proto__=1')))).toBeNull();
    expect({ ...queryData(parseGoQuery('__proto__=1')) }).toEqual({ ['__proto__']: '1' });
  });

  it('sniffs forms like Vault’s isForm', () => {
    const form = 'application/x-www-form-urlencoded';
    expect(isForm(Buffer.from('a=1'), form)).toBe(true);
    expect(isForm(Buffer.from('a=1'), `${form}; charset=utf-8`)).toBe(true);
    expect(isForm(Buffer.from(' \n{"a":1}'), form)).toBe(false);
    expect(isForm(Buffer.from('[1]'), form)).toBe(false);
    expect(isForm(Buffer.from('   '), form)).toBe(true);
    expect(isForm(Buffer.from('a=1'), 'application/json')).toBe(false);
    expect(isForm(Buffer.from('a=1'), `${form}; bad`)).toBe(false);
  });

  it('reads form bodies like ParseForm', () => {
    expect(parseFormBody(Buffer.from('plaintext=aGk%3D&x=1&x=2'), '')).toEqual({
      data: { plaintext: 'aGk=', x: '1,2' },
    });
    expect(parseFormBody(Buffer.from(''), '')).toEqual({ data: undefined });
    // Go keeps a key of spaces (Vault then warns about it as an unknown parameter).
    expect(parseFormBody(Buffer.from('  '), '')).toEqual({ data: { '  ': '' } });
    expect(parseFormBody(Buffer.from('a=%'), '')).toEqual({ error: 'error parsing form data' });
    expect(parseFormBody(Buffer.from('a=1'), 'b=1;c=2')).toEqual({
      error: 'error parsing form data',
    });
  });

  it('reads the first JSON value only, like json.Decoder', () => {
    expect(parseJsonBody(Buffer.from(''))).toEqual({ data: undefined });
    expect(parseJsonBody(Buffer.from(' \t\r\n'))).toEqual({ data: undefined });
    expect(parseJsonBody(Buffer.from('nullx'))).toEqual({ data: undefined });
    expect(parseJsonBody(Buffer.from('{"a":"}{"} {"b":2} junk'))).toEqual({ data: { a: '}{' } });
    expect(parseJsonBody(Buffer.from('{"a":["]",{"b":1}]}]'))).toEqual({
      data: { a: [']', { b: 1 }] },
    });
    for (const bad of ['[1]', '"x"', '1', 'true', '{', '{"a":1]', 'nul', '\ufeff{}']) {
      expect(parseJsonBody(Buffer.from(bad)), bad).toEqual({ error: 'error parsing JSON' });
    }
  });

  it('parses media types like mime.ParseMediaType', () => {
    expect(parseMediaType('Application/Merge-Patch+JSON; charset="utf-8";')).toEqual({
      type: 'application/merge-patch+json',
    });
    expect(parseMediaType('text')).toEqual({ type: 'text' });
    expect(parseMediaType(undefined)).toEqual({ error: 'mime: no media type' });
    expect(parseMediaType('text/')).toEqual({ error: 'mime: expected token after slash' });
    expect(parseMediaType('a b')).toEqual({ error: 'mime: expected slash after first token' });
    expect(parseMediaType('a/b; x')).toEqual({ error: 'mime: invalid media parameter' });
  });

  it('knows which statuses a Go server writes', () => {
    expect([99, 100, 150, 199, 200, 599, 999, 1000, 0, -1, 2.5].map(writtenStatus)).toEqual([
      undefined,
      200,
      200,
      200,
      200,
      599,
      999,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(['+5', '-5', '007', '', '1.0', '9223372036854775808'].map(parseGoInt)).toEqual([
      5,
      -5,
      7,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('prints durations as Vault’s TTL warnings do', () => {
    expect([7200, 5400, 3630, 90, 45, 0].map(formatDuration)).toEqual([
      '2h',
      '1h30m',
      '1h0m30s',
      '1m30s',
      '45s',
      '0s',
    ]);
  });
});
