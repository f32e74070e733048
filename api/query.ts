// Query parameters decoded as upstream's parameter codec decodes them into ListOptions,
// DeleteOptions, PodLogOptions... (k8s.io/apimachinery/pkg/runtime/conversion.go).
import { StatusError, badRequest } from './status.js';

/**
 * Convert_Slice_string_To_bool: absent is false; "0" and "false" in any case are false;
 * every other value, the empty string included, is true ("True", "1", "t", "yes").
 */
export function queryBool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null) return false;
  return !(v === '0' || v.toLowerCase() === 'false');
}

/** As queryBool, but undefined when the parameter is absent (Go's *bool left nil). */
export function queryOptionalBool(q: URLSearchParams, name: string): boolean | undefined {
  return q.has(name) ? queryBool(q, name) : undefined;
}

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/**
 * strconv.ParseInt(v, 10, 64): decimal digits with an optional sign, in int64 range, else a
 * 400 with Go's message. Values past 2^53 keep their magnitude, not their last digits.
 */
export function parseInt64(v: string): number {
  if (!/^[+-]?\d+$/.test(v)) throw new StatusError(badRequest(`strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`));
  const n = BigInt(v);
  if (n > INT64_MAX || n < INT64_MIN) throw new StatusError(badRequest(`strconv.ParseInt: parsing ${JSON.stringify(v)}: value out of range`));
  return Number(n);
}

/** An int64 query parameter; undefined when absent (present but empty is a 400, as upstream). */
export function queryInt64(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  return v === null ? undefined : parseInt64(v);
}
