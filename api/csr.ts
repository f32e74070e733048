// PKCS#10 certificate requests (RFC 2986) read from PEM with a small DER reader, and their
// self-signature checked with node:crypto, synchronously: CertificateSigningRequest
// validation runs inside the apiserver's synchronous validate step (Go's
// x509.ParseCertificateRequest + CheckSignature). Only what the certificates API needs is
// extracted: the subject's CN and O, the SANs (DNS, IP, email, URI) and the public key.
import { createHash, createPublicKey, verify, X509Certificate } from 'node:crypto';

export interface CertificateRequest {
  commonName: string;
  organizations: string[];
  dnsNames: string[];
  ipAddresses: string[];
  emailAddresses: string[];
  uris: string[];
  /** SubjectPublicKeyInfo, DER. */
  publicKeyDer: Buffer;
  publicKeyAlgorithm: 'ECDSA' | 'RSA' | 'Ed25519' | 'unknown';
  /** Checks the request's signature with its own public key; throws with Go's wording. */
  checkSignature(): void;
}

export class DerError extends Error {}

interface Tlv {
  tag: number;
  /** first byte of the value */
  start: number;
  end: number;
  /** first byte of the header */
  offset: number;
}

function readTlv(b: Buffer, off: number, limit: number): Tlv {
  if (off + 2 > limit) throw new DerError('x509: malformed certificate request');
  const tag = b[off]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('x509: malformed certificate request');
  let len = b[off + 1]!;
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > limit) throw new DerError('x509: malformed certificate request');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p + i]!;
    p += n;
  }
  if (p + len > limit) throw new DerError('x509: malformed certificate request');
  return { tag, start: p, end: p + len, offset: off };
}

function children(b: Buffer, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = t.start; p < t.end; ) {
    const c = readTlv(b, p, t.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

function expect(t: Tlv | undefined, tag: number): Tlv {
  if (!t || t.tag !== tag) throw new DerError('x509: malformed certificate request');
  return t;
}

function oid(b: Buffer, t: Tlv): string {
  const v = b.subarray(t.start, t.end);
  if (v.length === 0) throw new DerError('x509: malformed certificate request');
  const parts: number[] = [];
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    n = n * 128 + (v[i]! & 0x7f);
    if (!(v[i]! & 0x80)) {
      if (parts.length === 0) parts.push(n < 80 ? Math.floor(n / 40) : 2, n < 80 ? n % 40 : n - 80);
      else parts.push(n);
      n = 0;
    }
  }
  return parts.join('.');
}

function text(b: Buffer, t: Tlv): string {
  const v = b.subarray(t.start, t.end);
  if (t.tag === 0x1e) {
    // BMPString: UTF-16BE
    const sw = Buffer.from(v);
    sw.swap16();
    return sw.toString('utf16le');
  }
  return v.toString(t.tag === 0x0c ? 'utf8' : 'latin1');
}

const OID_CN = '2.5.4.3';
const OID_O = '2.5.4.10';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_SAN = '2.5.29.17';

const SIGNATURE_HASH: Record<string, string | null> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.3.101.112': null,
};

const KEY_ALGORITHM: Record<string, CertificateRequest['publicKeyAlgorithm']> = {
  '1.2.840.10045.2.1': 'ECDSA',
  '1.2.840.113549.1.1.1': 'RSA',
  '1.3.101.112': 'Ed25519',
};

function ipText(v: Buffer): string {
  if (v.length === 4) return [...v].join('.');
  if (v.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(v.readUInt16BE(i).toString(16));
    // IPv4-mapped addresses print as IPv4, as Go's net.IP does.
    if (groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff') return [...v.subarray(12)].join('.');
    // The longest run of zero groups collapses to "::".
    let best = -1;
    let bestLen = 0;
    for (let i = 0; i < 8; ) {
      if (groups[i] !== '0') {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && groups[j] === '0') j++;
      if (j - i > bestLen && j - i > 1) {
        best = i;
        bestLen = j - i;
      }
      i = j;
    }
    if (best < 0) return groups.join(':');
    return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
  }
  throw new DerError('x509: certificate request contains an IP address of invalid length');
}

function pemBlock(pem: string): { type: string; der: Buffer } | undefined {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/.exec(pem);
  if (!m) return undefined;
  const body = m[2]!;
  // PEM headers ("Proc-Type: ...") have no place in a request.
  if (body.includes(':')) return undefined;
  const der = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  return { type: m[1]!, der };
}

/** Parses a PEM "CERTIFICATE REQUEST" (certificates.ParseCSR); throws with upstream's messages. */
export function parseCertificateRequest(pem: string): CertificateRequest {
  const block = pemBlock(pem);
  if (!block || block.type !== 'CERTIFICATE REQUEST') throw new DerError('PEM block type must be CERTIFICATE REQUEST');
  const b = block.der;
  const outer = expect(readTlv(b, 0, b.length), 0x30);
  if (outer.end !== b.length) throw new DerError('x509: trailing data after certificate request');
  const [infoT, algT, sigT] = children(b, outer);
  const info = expect(infoT, 0x30);
  const alg = children(b, expect(algT, 0x30));
  const sigAlg = oid(b, expect(alg[0], 0x06));
  const sigBits = expect(sigT, 0x03);
  if (b[sigBits.start] !== 0) throw new DerError('x509: malformed signature');
  const signature = b.subarray(sigBits.start + 1, sigBits.end);
  const tbs = b.subarray(info.offset, info.end);

  const [versionT, subjectT, spkiT, attrsT] = children(b, info);
  const version = expect(versionT, 0x02);
  if (version.end - version.start !== 1 || b[version.start] !== 0) throw new DerError('x509: unsupported certificate request version');
  const out: CertificateRequest = {
    commonName: '',
    organizations: [],
    dnsNames: [],
    ipAddresses: [],
    emailAddresses: [],
    uris: [],
    publicKeyDer: Buffer.alloc(0),
    publicKeyAlgorithm: 'unknown',
    checkSignature: () => {},
  };
  for (const rdn of children(b, expect(subjectT, 0x30))) {
    for (const atv of children(b, expect(rdn, 0x31))) {
      const [typeT, valueT] = children(b, expect(atv, 0x30));
      const type = oid(b, expect(typeT, 0x06));
      if (!valueT) throw new DerError('x509: malformed certificate request');
      // Go keeps the last CN and every O, in order.
      if (type === OID_CN) out.commonName = text(b, valueT);
      else if (type === OID_O) out.organizations.push(text(b, valueT));
    }
  }
  const spki = expect(spkiT, 0x30);
  out.publicKeyDer = Buffer.from(b.subarray(spki.offset, spki.end));
  const keyAlgT = children(b, expect(children(b, spki)[0], 0x30))[0];
  out.publicKeyAlgorithm = KEY_ALGORITHM[oid(b, expect(keyAlgT, 0x06))] ?? 'unknown';

  if (attrsT) {
    if (attrsT.tag !== 0xa0) throw new DerError('x509: malformed certificate request');
    for (const attr of children(b, attrsT)) {
      const [typeT, valuesT] = children(b, expect(attr, 0x30));
      if (oid(b, expect(typeT, 0x06)) !== OID_EXTENSION_REQUEST) continue;
      for (const exts of children(b, expect(valuesT, 0x31))) {
        for (const ext of children(b, expect(exts, 0x30))) {
          const parts = children(b, expect(ext, 0x30));
          if (oid(b, expect(parts[0], 0x06)) !== OID_SAN) continue;
          const value = expect(parts[parts.length - 1], 0x04);
          const names = expect(readTlv(b, value.start, value.end), 0x30);
          for (const gn of children(b, names)) {
            const v = b.subarray(gn.start, gn.end);
            switch (gn.tag) {
              case 0x81:
                out.emailAddresses.push(v.toString('latin1'));
                break;
              case 0x82:
                out.dnsNames.push(v.toString('latin1'));
                break;
              case 0x86:
                out.uris.push(v.toString('latin1'));
                break;
              case 0x87:
                out.ipAddresses.push(ipText(v));
                break;
              default:
                // otherName, directoryName ...: Go ignores them, and so does the signer.
                break;
            }
          }
        }
      }
    }
  }

  out.checkSignature = () => {
    if (!(sigAlg in SIGNATURE_HASH)) throw new DerError('x509: cannot verify signature: algorithm unimplemented');
    let ok = false;
    try {
      const key = createPublicKey({ key: out.publicKeyDer, format: 'der', type: 'spki' });
      ok = verify(SIGNATURE_HASH[sigAlg] ?? null, tbs, key, signature);
    } catch {
      ok = false;
    }
    if (!ok) throw new DerError(out.publicKeyAlgorithm === 'ECDSA' ? 'x509: ECDSA verification failure' : 'crypto/rsa: verification error');
  };
  return out;
}

/**
 * kubeadm's CA pin: "sha256:" and the hex SHA-256 of the certificate's DER
 * SubjectPublicKeyInfo (`--discovery-token-ca-cert-hash`).
 */
export function caCertHash(certPem: string): string {
  const block = pemBlock(certPem);
  if (!block || block.type !== 'CERTIFICATE') throw new DerError('the CA file holds no CERTIFICATE PEM block');
  const b = block.der;
  const tbs = expect(children(b, expect(readTlv(b, 0, b.length), 0x30))[0], 0x30);
  const fields = children(b, tbs);
  // tbsCertificate: [0] version (optional), serial, signature, issuer, validity, subject, spki
  const spki = expect(fields[fields[0]?.tag === 0xa0 ? 6 : 5], 0x30);
  return `sha256:${createHash('sha256').update(b.subarray(spki.offset, spki.end)).digest('hex')}`;
}

/** Whether a string has the pin's shape (kubeadm accepts only sha256 pins). */
export function isCACertHash(s: string): boolean {
  return /^sha256:[0-9a-f]{64}$/.test(s);
}

/** Every CERTIFICATE block of a PEM bundle must parse (validateCertificate); the error text otherwise. */
export function certificateBundleError(pem: string): string | undefined {
  const blocks = [...pem.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g)];
  if (blocks.length === 0) return 'must contain at least one CERTIFICATE PEM block';
  for (const m of blocks) {
    if (m[1] !== 'CERTIFICATE') return `only CERTIFICATE PEM blocks are allowed, found ${JSON.stringify(m[1])}`;
    if (m[2]!.includes(':')) return 'no PEM block headers are permitted';
    try {
      new X509Certificate(m[0]);
    } catch (err) {
      return `x509: ${(err as Error).message}`;
    }
  }
  return undefined;
}
