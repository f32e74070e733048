// Go's time.ParseDuration: "300ms", "1.5h", "2h45m", "-1m"; units ns us µs ms s m h. A bare
// "0" is allowed; any other number needs a unit.
const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export class DurationError extends Error {}

/** Milliseconds of a Go duration string; throws DurationError with Go's message. */
export function parseDuration(s: string): number {
  const orig = s;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw new DurationError(`time: invalid duration ${JSON.stringify(orig)}`);
  let total = 0;
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (s.length) {
    const m = re.exec(s);
    if (!m) {
      if (/^(\d+(?:\.\d*)?|\.\d+)$/.test(s)) throw new DurationError(`time: missing unit in duration ${JSON.stringify(orig)}`);
      const u = /^(?:\d+(?:\.\d*)?|\.\d+)([^\d.]+)/.exec(s);
      throw new DurationError(u ? `time: unknown unit ${JSON.stringify(u[1])} in duration ${JSON.stringify(orig)}` : `time: invalid duration ${JSON.stringify(orig)}`);
    }
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    s = s.slice(m[0].length);
  }
  return sign * total;
}
