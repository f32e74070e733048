// Go's time.ParseDuration and Duration.String, which upstream's duration flags use
// (--ttl 24h, --cluster-signing-duration 8760h0m0s, --token-ttl 1h30m).

const UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3,
  'μs': 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Milliseconds of a Go duration ("300ms", "-1.5h", "2h45m", "0"); throws on anything else. */
export function parseGoDuration(text: string): number {
  const s = String(text).trim();
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw new Error(`time: invalid duration ${JSON.stringify(s)}`);
  let total = 0;
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest) {
    const m = re.exec(rest);
    if (!m) {
      if (/^(\d+(?:\.\d*)?|\.\d+)$/.test(rest)) throw new Error(`time: missing unit in duration ${JSON.stringify(s)}`);
      throw new Error(`time: invalid duration ${JSON.stringify(s)}`);
    }
    total += Number(m[1]) * UNITS[m[2]];
    rest = rest.slice(m[0].length);
  }
  if (!Number.isFinite(total)) throw new Error(`time: invalid duration ${JSON.stringify(s)}`);
  return sign * total;
}

/** Duration.String for whole milliseconds: "24h0m0s", "1m30s", "500ms", "0s". */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(Math.round(ms));
  let out: string;
  if (rest < 1000) out = `${rest}ms`;
  else {
    const h = Math.floor(rest / 3_600_000);
    rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000);
    rest -= m * 60_000;
    const sec = rest / 1000;
    const secText = `${Number.isInteger(sec) ? sec : sec.toFixed(3).replace(/0+$/, '')}s`;
    out = h ? `${h}h${m}m${secText}` : m ? `${m}m${secText}` : secText;
  }
  return neg ? `-${out}` : out;
}
