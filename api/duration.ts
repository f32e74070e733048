// Go's time.ParseDuration, as upstream's flags and API fields take durations: "300ms",
// "1.5h", "2h45m", "-1m"; units ns us µs ms s m h. A bare "0" is allowed; any other number
// needs a unit.

export class DurationError extends Error {}

const NS_PER_UNIT: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 micro sign
  'μs': 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const MAX_DURATION_NS = 2n ** 63n - 1n;

/**
 * Go's time.ParseDuration: "[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+", or "0". Returns nanoseconds,
 * exact as Go's int64; throws DurationError with Go's own messages ("time: missing unit in
 * duration \"40\"").
 */
export function durationNanos(orig: string): bigint {
  const invalid = () => new DurationError(`time: invalid duration ${JSON.stringify(orig)}`);
  let s = orig;
  let neg = false;
  if (s[0] === '-' || s[0] === '+') {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw invalid();
  let total = 0n;
  while (s !== '') {
    const m = /^([0-9]*)(?:\.([0-9]*))?/.exec(s)!;
    const [all, whole = '', frac] = m;
    if (whole === '' && (frac === undefined || frac === '')) throw invalid();
    s = s.slice(all.length);
    const unitLen = /^[^.0-9]*/.exec(s)![0].length;
    if (unitLen === 0) throw new DurationError(`time: missing unit in duration ${JSON.stringify(orig)}`);
    const unitName = s.slice(0, unitLen);
    s = s.slice(unitLen);
    const unit = NS_PER_UNIT[unitName];
    if (unit === undefined) throw new DurationError(`time: unknown unit ${JSON.stringify(unitName)} in duration ${JSON.stringify(orig)}`);
    let v = BigInt(whole || '0') * unit;
    if (v > MAX_DURATION_NS + 1n) throw invalid();
    if (frac) {
      // Go's leadingFraction keeps the digits that fit in an int64 and scales in float64
      let f = 0n;
      let scale = 1;
      for (const c of frac) {
        const next = f * 10n + BigInt(c);
        if (next > MAX_DURATION_NS) break;
        f = next;
        scale *= 10;
      }
      v += BigInt(Math.floor(Number(f) * (Number(unit) / scale)));
    }
    total += v;
    if (total > MAX_DURATION_NS + (neg ? 1n : 0n)) throw invalid();
  }
  return neg ? -total : total;
}

/** Milliseconds of a Go duration string; throws DurationError with Go's message. */
export function parseDuration(s: string): number {
  return Number(durationNanos(s)) / 1e6;
}
