// Key-range helpers shared by the backends. Keys are compared bytewise (UTF-8), as etcd and
// SQLite's BINARY collation both do.

/**
 * The smallest string greater than every string that starts with `prefix`, or undefined for
 * the empty prefix (no upper bound). Kubernetes keys are ASCII paths, so bumping the last
 * code unit is enough; a trailing U+FFFF is dropped and the one before it bumped.
 */
export function prefixEnd(prefix: string): string | undefined {
  let p = prefix;
  while (p.length > 0) {
    const last = p.charCodeAt(p.length - 1);
    if (last < 0xffff) return p.slice(0, -1) + String.fromCharCode(last + 1);
    p = p.slice(0, -1);
  }
  return undefined;
}

/** The smallest string strictly greater than `key` (keys never contain NUL). */
export function keyAfter(key: string): string {
  return key + '\u0000';
}

/**
 * Values that start with this are bytes, not text: what the encryption layer writes
 * (`k8s:enc:<provider>:v1:<key>:` + ciphertext, upstream's layout). They travel through the
 * Store as latin1 strings (one char per byte, so any byte sequence round-trips) and the
 * backends store them as those raw bytes, as upstream's etcd holds them. No JSON value
 * starts with it, and identity refuses to read it.
 */
export const ENCRYPTED_PREFIX = 'k8s:enc:';
const ENCRYPTED_PREFIX_BYTES = Buffer.from(ENCRYPTED_PREFIX);

/** The bytes a backend stores for a value. */
export function valueToBytes(value: string): Buffer {
  return Buffer.from(value, value.startsWith(ENCRYPTED_PREFIX) ? 'latin1' : 'utf8');
}

/** A stored value's bytes back as the Store's string. */
export function valueFromBytes(b: Uint8Array): string {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const encrypted = buf.length >= ENCRYPTED_PREFIX_BYTES.length && buf.compare(ENCRYPTED_PREFIX_BYTES, 0, ENCRYPTED_PREFIX_BYTES.length, 0, ENCRYPTED_PREFIX_BYTES.length) === 0;
  return buf.toString(encrypted ? 'latin1' : 'utf8');
}
