import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { derInteger, derNamedBits, derOid, derTime, ipAddressBytes } from './der-encoding.js';
import { createSelfSignedCertificate, issueCertificate } from './self-signed-certificate.js';

describe('der-encoding', () => {
  it('encodes integers minimally and positive', () => {
    expect(derInteger(0).toString('hex')).toBe('020100');
    expect(derInteger(127).toString('hex')).toBe('02017f');
    expect(derInteger(128).toString('hex')).toBe('02020080');
    expect(derInteger(Buffer.from('0000ff', 'hex')).toString('hex')).toBe('020200ff');
  });

  it('encodes object identifiers (X.690 §8.19)', () => {
    expect(derOid('1.2.840.10045.4.3.2').toString('hex')).toBe('06082a8648ce3d040302');
    expect(derOid('2.5.29.17').toString('hex')).toBe('0603551d11');
  });

  it('drops trailing zero bits of a named-bit string', () => {
    expect(derNamedBits([0]).toString('hex')).toBe('03020780');
    expect(derNamedBits([0, 5, 6]).toString('hex')).toBe('03020186');
  });

  it('uses UTCTime before 2050 and GeneralizedTime from 2050 on', () => {
    expect(derTime(new Date('2026-01-02T03:04:05Z')).toString('ascii', 2)).toBe('260102030405Z');
    expect(derTime(new Date('2050-01-02T03:04:05Z')).toString('ascii', 2)).toBe('20500102030405Z');
  });

  it('encodes IPv4 and IPv6 addresses', () => {
    expect(ipAddressBytes('127.0.0.1').toString('hex')).toBe('7f000001');
    expect(ipAddressBytes('::1').toString('hex')).toBe('00000000000000000000000000000001');
    expect(ipAddressBytes('fe80::1:2').toString('hex')).toBe('fe800000000000000000000000010002');
    expect(() => ipAddressBytes('localhost')).toThrow(RangeError);
  });
});

describe('self-signed certificates', () => {
  const ca = createSelfSignedCertificate({ purpose: 'ca', commonName: 'dev CA' });
  const server = issueCertificate(
    {
      purpose: 'server',
      commonName: 'localhost',
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
    },
    ca,
  );
  const client = issueCertificate({ purpose: 'client', commonName: 'kms client' }, ca);

  it('makes a CA certificate node parses, self-issued and verified by its own key', () => {
    const cert = new X509Certificate(ca.certificate);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toContain('CN=dev CA');
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.publicKey.equals(ca.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyType).toBe('ec');
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('issues a server certificate signed by the CA, with SANs for 127.0.0.1 and localhost', () => {
    const caCert = new X509Certificate(ca.certificate);
    const cert = new X509Certificate(server.certificate);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.verify(server.publicKey)).toBe(false);
    expect(cert.subjectAltName).toBe('DNS:localhost, IP Address:127.0.0.1');
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('vault.example')).toBeUndefined();
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // extended key usage: serverAuth
    expect(cert.checkPrivateKey(server.privateKey)).toBe(true);
  });

  it('issues a client certificate for clientAuth only', () => {
    const cert = new X509Certificate(client.certificate);
    expect(cert.checkIssued(new X509Certificate(ca.certificate))).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(cert.subjectAltName).toBeUndefined();
  });

  it('is not issued by another CA', () => {
    const other = createSelfSignedCertificate({ purpose: 'ca', commonName: 'dev CA' });
    const cert = new X509Certificate(server.certificate);
    expect(cert.verify(other.publicKey)).toBe(false);
  });

  it('gives random serials and the validity asked for (an hour back for skew by default)', () => {
    const before = Date.now();
    const fresh = issueCertificate({ purpose: 'client', commonName: 'c' }, ca);
    const cert = new X509Certificate(fresh.certificate);
    expect(cert.serialNumber).not.toBe(new X509Certificate(client.certificate).serialNumber);
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    // Whole seconds in the certificate: a second of slack each way.
    expect(from).toBeLessThanOrEqual(before - 3_600_000 + 1_000);
    expect(from).toBeGreaterThan(before - 3_600_000 - 60_000);
    expect(to - from).toBeGreaterThan(30 * 24 * 3_600_000 - 60_000);
    const fixed = new X509Certificate(
      issueCertificate(
        {
          purpose: 'server',
          commonName: 'x',
          notBefore: new Date('2049-12-31T23:00:00Z'),
          notAfter: new Date('2051-01-01T00:00:00Z'),
        },
        ca,
      ).certificate,
    );
    expect(new Date(fixed.validFrom).toISOString()).toBe('2049-12-31T23:00:00.000Z');
    expect(new Date(fixed.validTo).toISOString()).toBe('2051-01-01T00:00:00.000Z');
    expect(() =>
      issueCertificate({ purpose: 'client', commonName: 'c', notAfter: new Date(0) }, ca),
    ).toThrow(RangeError);
  });

  it('keeps private keys as KeyObjects that print no key material', () => {
    const pem = client.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(createPrivateKey(pem).equals(client.privateKey)).toBe(true);
    expect(JSON.stringify(client)).not.toContain(pem.split('\n')[1]);
    expect(createPublicKey(client.privateKey).equals(client.publicKey)).toBe(true);
  });
});
