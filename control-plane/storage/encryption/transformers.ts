// Value transformers for encryption at rest, as upstream's k8s.io/apiserver/pkg/storage/value:
// a stored value is `k8s:enc:<provider>:v1:<key name>:` followed by the provider's bytes
// (aescbc: 16-byte IV + AES-CBC with PKCS#7 padding; aesgcm: 12-byte nonce + AES-GCM
// ciphertext + 16-byte tag, the store key as additional data; secretbox: 24-byte nonce +
// XSalsa20-Poly1305 tag + ciphertext). Identity values carry no prefix.
//
// Values cross the Store as strings: plaintext as text, encrypted values as latin1 strings
// (one char per byte), which the backends write as the raw bytes (see ENCRYPTED_PREFIX).
import { createCipheriv, createDecipheriv, randomFillSync, type CipherGCMTypes } from 'node:crypto';
import { xsalsa20poly1305 } from '@noble/ciphers/salsa';
import { ENCRYPTED_PREFIX } from '../keys.js';

export interface ReadResult {
  value: string;
  /** Read with a transformer other than the one that writes: rewriting re-encrypts it. */
  stale: boolean;
}

/** upstream's value.Transformer, on the Store's string values. `key` is the store key. */
export interface Transformer {
  /** Throws an Error saying why when the stored value is not readable by this transformer. */
  fromStorage(stored: string, key: string): ReadResult;
  toStorage(plain: string, key: string): string;
}

/** Errors of the identity transformer are not final: a later transformer may read the value. */
class IdentityReadError extends Error {}

/** No transformation; refuses encrypted values (upstream's NewEncryptCheckTransformer). */
export const identity: Transformer = {
  fromStorage(stored) {
    if (stored.startsWith(ENCRYPTED_PREFIX)) throw new IdentityReadError('identity transformer tried to read encrypted data');
    return { value: stored, stale: false };
  },
  toStorage: (plain) => plain,
};

const SHORT = 'the stored data was shorter than the required size';

// IVs and nonces are cut from one buffer of CSPRNG output, refilled when used up: one
// randomFillSync call per 16-byte IV cost more CPU than the encryption itself (profiled
// in the apiserver's Secret creates). Each byte is handed out once.
const pool = Buffer.allocUnsafeSlow(4096);
let poolAt = pool.length;
/** `n` fresh random bytes, valid until the next call (callers copy them at once). */
function random(n: number): Buffer {
  if (poolAt + n > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  poolAt += n;
  return pool.subarray(poolAt - n, poolAt);
}

/** One key's cipher: plaintext in, stored bytes out, and back. */
interface Cipher {
  seal(plain: string, key: string): Buffer;
  open(data: Buffer, key: string): Buffer;
}

export function aesCbc(secret: Buffer): Cipher {
  const alg = `aes-${secret.length * 8}-cbc`;
  return {
    seal(plain) {
      const iv = random(16);
      const c = createCipheriv(alg, secret, iv); // Node pads with PKCS#7 by default
      return Buffer.concat([iv, c.update(plain, 'utf8'), c.final()]);
    },
    open(data) {
      if (data.length < 16) throw new Error(SHORT);
      if ((data.length - 16) % 16 !== 0) throw new Error('the stored data is not a multiple of the block size');
      if (data.length === 16) throw new Error('invalid PKCS7 data (empty or not padded)');
      const d = createDecipheriv(alg, secret, data.subarray(0, 16));
      try {
        return Buffer.concat([d.update(data.subarray(16)), d.final()]);
      } catch {
        throw new Error('invalid padding on input');
      }
    },
  };
}

export function aesGcm(secret: Buffer): Cipher {
  const alg = `aes-${secret.length * 8}-gcm` as CipherGCMTypes;
  return {
    seal(plain, key) {
      const nonce = random(12);
      const c = createCipheriv(alg, secret, nonce);
      // The store key as additional data: a value copied under another key does not open.
      c.setAAD(Buffer.from(key));
      const body = c.update(plain, 'utf8');
      const fin = c.final();
      return Buffer.concat([nonce, body, fin, c.getAuthTag()]);
    },
    open(data, key) {
      if (data.length < 12 + 16) throw new Error(SHORT);
      const d = createDecipheriv(alg, secret, data.subarray(0, 12));
      d.setAAD(Buffer.from(key));
      d.setAuthTag(data.subarray(data.length - 16));
      try {
        return Buffer.concat([d.update(data.subarray(12, data.length - 16)), d.final()]);
      } catch {
        throw new Error('cipher: message authentication failed');
      }
    },
  };
}

export function secretbox(secret: Buffer): Cipher {
  const k = new Uint8Array(secret);
  return {
    seal(plain) {
      const nonce = Buffer.from(random(24));
      return Buffer.concat([nonce, xsalsa20poly1305(k, nonce).encrypt(Buffer.from(plain, 'utf8'))]);
    },
    open(data) {
      if (data.length < 24 + 16) throw new Error(SHORT);
      try {
        return Buffer.from(xsalsa20poly1305(k, data.subarray(0, 24)).decrypt(data.subarray(24)));
      } catch {
        throw new Error('secretbox: message authentication failed');
      }
    },
  };
}

/** A key's cipher as a Transformer on latin1 payloads. */
function cipherTransformer(c: Cipher): Transformer {
  return {
    fromStorage: (stored, key) => ({ value: c.open(Buffer.from(stored, 'latin1'), key).toString('utf8'), stale: false }),
    toStorage: (plain, key) => c.seal(plain, key).toString('latin1'),
  };
}

export interface PrefixTransformer {
  prefix: string;
  transformer: Transformer;
}

/**
 * upstream's NewPrefixTransformers: reads with the first transformer whose prefix matches
 * (stripped before it runs), going on to the next match when one fails, since providers of
 * one type share a prefix; anything not read by the first is stale. Writes with the first.
 */
export function prefixTransformers(noMatch: string, list: PrefixTransformer[]): Transformer {
  if (list.length === 0) throw new Error('prefixTransformers: empty list');
  const first = list[0]!;
  return {
    fromStorage(stored, key) {
      const errs: string[] = [];
      for (let i = 0; i < list.length; i++) {
        const t = list[i]!;
        if (!stored.startsWith(t.prefix)) continue;
        try {
          const r = t.transformer.fromStorage(t.prefix ? stored.slice(t.prefix.length) : stored, key);
          return i === 0 ? r : { value: r.value, stale: true };
        } catch (err) {
          if (err instanceof IdentityReadError) continue;
          const msg = (err as Error).message;
          if (!errs.includes(msg)) errs.push(msg);
        }
      }
      if (errs.length) throw new Error(errs.length === 1 ? errs[0] : `[${errs.join(', ')}]`);
      throw new Error(noMatch);
    },
    toStorage: (plain, key) => first.prefix + first.transformer.toStorage(plain, key),
  };
}

export type ProviderType = 'aescbc' | 'aesgcm' | 'secretbox';
const CIPHERS: Record<ProviderType, (secret: Buffer) => Cipher> = { aescbc: aesCbc, aesgcm: aesGcm, secretbox };

/** One provider with its keys, the first key writing: `k8s:enc:<type>:v1:<name>:...`. */
export function providerTransformer(type: ProviderType, keys: Array<{ name: string; secret: Buffer }>): PrefixTransformer {
  const perKey = keys.map((k) => ({ prefix: `${k.name}:`, transformer: cipherTransformer(CIPHERS[type](k.secret)) }));
  const noMatch = type === 'secretbox' ? 'no matching key was found for the provided Secretbox transformer' : 'no matching key was found for the provided AES transformer';
  return { prefix: `${ENCRYPTED_PREFIX}${type}:v1:`, transformer: prefixTransformers(noMatch, perKey) };
}
