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
