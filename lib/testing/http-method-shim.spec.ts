import { describe, expect, it } from 'vitest';
import { MethodRewriter } from './http-method-shim.js';

function feed(input: string, chunkSize = input.length): string {
  const rewriter = new MethodRewriter();
  const bytes = Buffer.from(input, 'latin1');
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += chunkSize) {
    out.push(rewriter.push(bytes.subarray(at, at + chunkSize)));
  }
  return Buffer.concat(out).toString('latin1');
}

describe('MethodRewriter', () => {
  it('rewrites LIST to GET with the original-method header and leaves known methods alone', () => {
    expect(feed('LIST /v1/transit/keys HTTP/1.1\r\nHost: x\r\n\r\n')).toBe(
      'GET /v1/transit/keys HTTP/1.1\r\nx-transit-dev-server-method: LIST\r\nHost: x\r\n\r\n',
    );
    const get = 'GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n\r\n';
    expect(feed(get)).toBe(get);
  });

  it('drops an original-method header sent by the client', () => {
    expect(feed('GET /a HTTP/1.1\r\nX-Transit-Dev-Server-Method: LIST\r\nHost: x\r\n\r\n')).toBe(
      'GET /a HTTP/1.1\r\nHost: x\r\n\r\n',
    );
  });

  it('follows Content-Length and chunked bodies across arbitrary chunk boundaries', () => {
    const body = '{"a":"\r\n\r\nLIST / HTTP/1.1\r\n\r\n"}';
    const input =
      `POST /p HTTP/1.1\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
      'POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n' +
      `5;ext=1\r\nLIST \r\n${body.length.toString(16)}\r\n${body}\r\n0\r\nX-Trailer: 1\r\n\r\n` +
      'LIST /k HTTP/1.1\r\n\r\n';
    const expected =
      `POST /p HTTP/1.1\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
      'POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n' +
      `5;ext=1\r\nLIST \r\n${body.length.toString(16)}\r\n${body}\r\n0\r\nX-Trailer: 1\r\n\r\n` +
      'GET /k HTTP/1.1\r\nx-transit-dev-server-method: LIST\r\n\r\n';
    for (const chunkSize of [1, 2, 3, 7, 64, input.length]) {
      expect(feed(input, chunkSize)).toBe(expected);
    }
  });

  it('forwards nothing past what it cannot frame, and reports the failure', () => {
    const good = 'GET /a HTTP/1.1\r\n\r\n';
    const rewriter = new MethodRewriter();
    const out = rewriter.push(
      Buffer.from(
        `${good}LIST /k HTTP/1.1\r\nContent-Length: nope\r\n\r\nLIST /k HTTP/1.1\r\n\r\n`,
      ),
    );
    expect(out.toString('latin1')).toBe(good);
    expect(rewriter.failure).toBe('bad-request');
    expect(rewriter.push(Buffer.from('GET /b HTTP/1.1\r\n\r\n')).length).toBe(0);
  });
});
