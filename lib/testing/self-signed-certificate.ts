import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import {
  derBitString,
  derBoolean,
  derExplicit,
  derImplicit,
  derInteger,
  derNamedBits,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derTime,
  derUtf8String,
  ipAddressBytes,
} from './der-encoding.js';

/**
 * X.509 v3 certificates (RFC 5280) for the dev server's HTTPS mode, built with node:crypto alone:
 * EC P-256 keys, ECDSA with SHA-256 signatures, the DER written by `der-encoding.ts`. A CA is
 * self-signed; server and client certificates are issued by it. Development only.
 */

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

// keyUsage bits (RFC 5280 §4.2.1.3).
const DIGITAL_SIGNATURE = 0;
const KEY_CERT_SIGN = 5;
const CRL_SIGN = 6;
const ORGANIZATION = 'nestjs-kms dev server';
const HOUR_MS = 3_600_000;

/** What a certificate is for. */
export type CertificatePurpose = 'ca' | 'server' | 'client';

/** A key pair and its certificate; the private key stays a KeyObject, never a string here. */
export interface IssuedCertificate {
  /** The certificate, PEM. */
  readonly certificate: string;
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
  /** The subject's common name. */
  readonly commonName: string;
}

export interface CertificateRequest {
  readonly purpose: CertificatePurpose;
  readonly commonName: string;
  /** subjectAltName DNS names (server certificates). */
  readonly dnsNames?: readonly string[];
  /** subjectAltName IP addresses (server certificates). */
  readonly ipAddresses?: readonly string[];
  /** @default an hour ago (clock skew) */
  readonly notBefore?: Date;
  /** @default 30 days after now */
  readonly notAfter?: Date;
}

/** A new EC P-256 key pair and a self-signed CA certificate for it. */
export function createSelfSignedCertificate(request: CertificateRequest): IssuedCertificate {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const self = { certificate: '', publicKey, privateKey, commonName: request.commonName };
  return { ...self, certificate: buildCertificate(request, publicKey, self) };
}

/** A new EC P-256 key pair and a certificate for it, issued (signed) by `issuer`. */
export function issueCertificate(
  request: CertificateRequest,
  issuer: IssuedCertificate,
): IssuedCertificate {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const certificate = buildCertificate(request, publicKey, issuer);
  return { certificate, publicKey, privateKey, commonName: request.commonName };
}

function buildCertificate(
  request: CertificateRequest,
  publicKey: KeyObject,
  issuer: Pick<IssuedCertificate, 'publicKey' | 'privateKey' | 'commonName'>,
): string {
  const now = Date.now();
  const notBefore = request.notBefore ?? new Date(now - HOUR_MS);
  const notAfter = request.notAfter ?? new Date(now + 30 * 24 * HOUR_MS);
  if (!(notAfter > notBefore)) throw new RangeError('notAfter must be after notBefore');
  const signatureAlgorithm = derSequence(derOid(OID.ecdsaWithSha256));
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  // A random positive serial of at most 20 bytes (RFC 5280 §4.1.2.2).
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const tbs = derSequence(
    derExplicit(0, derInteger(2)), // v3
    derInteger(serial),
    signatureAlgorithm,
    name(issuer.commonName),
    derSequence(derTime(notBefore), derTime(notAfter)),
    name(request.commonName),
    spki,
    derExplicit(3, derSequence(...extensions(request, spki, issuer.publicKey))),
  );
  const signature = sign('sha256', tbs, issuer.privateKey); // DER ECDSA-Sig-Value
  const der = derSequence(tbs, signatureAlgorithm, derBitString(signature));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

function attribute(oid: string, value: string): Buffer {
  return derSet(derSequence(derOid(oid), derUtf8String(value)));
}

function name(commonName: string): Buffer {
  return derSequence(
    attribute(OID.organization, ORGANIZATION),
    attribute(OID.commonName, commonName),
  );
}

/** SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2, method 1). */
function keyIdentifier(spki: Buffer): Buffer {
  // The SPKI of a P-256 key ends with its 65-byte uncompressed point.
  return createHash('sha1')
    .update(spki.subarray(spki.length - 65))
    .digest();
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? derSequence(derOid(oid), derBoolean(true), derOctetString(value))
    : derSequence(derOid(oid), derOctetString(value));
}

function extensions(request: CertificateRequest, spki: Buffer, issuerKey: KeyObject): Buffer[] {
  const ca = request.purpose === 'ca';
  const list = [
    extension(OID.basicConstraints, true, ca ? derSequence(derBoolean(true)) : derSequence()),
    extension(
      OID.keyUsage,
      true,
      derNamedBits(ca ? [DIGITAL_SIGNATURE, KEY_CERT_SIGN, CRL_SIGN] : [DIGITAL_SIGNATURE]),
    ),
    extension(OID.subjectKeyIdentifier, false, derOctetString(keyIdentifier(spki))),
    extension(
      OID.authorityKeyIdentifier,
      false,
      derSequence(derImplicit(0, keyIdentifier(issuerKey.export({ type: 'spki', format: 'der' })))),
    ),
  ];
  if (!ca) {
    const purpose = request.purpose === 'server' ? OID.serverAuth : OID.clientAuth;
    list.push(extension(OID.extKeyUsage, false, derSequence(derOid(purpose))));
  }
  const names = [
    ...(request.dnsNames ?? []).map((dns) => derImplicit(2, Buffer.from(dns, 'ascii'))),
    ...(request.ipAddresses ?? []).map((ip) => derImplicit(7, ipAddressBytes(ip))),
  ];
  if (names.length > 0) list.push(extension(OID.subjectAltName, false, derSequence(...names)));
  return list;
}
