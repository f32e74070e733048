// Canonical JSON: keys sorted at every level, so two objects that mean the same print the
// same, whatever order their fields came in. For hashes (pod-template-hash) and for semantic
// equality of specs and statuses.
import { setOwn } from './object.js';

export interface CanonicalOptions {
  /** also drop null members (a JSON merge patch's way of saying "absent") */
  omitNull?: boolean;
}

/** JSON with sorted keys; undefined members dropped, as JSON.stringify does; Dates as metav1.Time. */
export function canonicalJSON(v: unknown, o: CanonicalOptions = {}): string {
  const norm = (x: unknown): unknown => {
    if (x instanceof Date) return x.toISOString().replace(/\.\d{3}Z$/, 'Z');
    if (Array.isArray(x)) return x.map(norm);
    if (x && typeof x === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(x).sort()) {
        const val = (x as Record<string, unknown>)[k];
        if (val === undefined || (o.omitNull && val === null)) continue;
        setOwn(out, k, norm(val));
      }
      return out;
    }
    return x;
  };
  return JSON.stringify(norm(v));
}

/** canonicalJSON with null and absent alike: for "did the spec or status change" comparisons. */
export function semanticJSON(v: unknown): string {
  return canonicalJSON(v, { omitNull: true });
}
