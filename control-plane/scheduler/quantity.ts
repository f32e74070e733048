// Resource quantities as the scheduler needs them: cpu in millicores, everything else in
// base units, as plain numbers. (api/ has no quantity module yet; this is deliberately the
// minimal subset: decimal and binary suffixes, exponents, milli.)
const SUFFIX: Record<string, number> = {
  n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

const cache = new Map<string, number>();

/** Parses a Kubernetes quantity ("100m", "1.5Gi", "2e3") to a number of base units. */
export function parseQuantity(q: string | number | undefined | null): number {
  if (q === undefined || q === null || q === '') return 0;
  if (typeof q === 'number') return q;
  const hit = cache.get(q);
  if (hit !== undefined) return hit;
  const m = /^([+-]?[0-9.]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)$/.exec(q.trim());
  if (!m) throw new Error(`quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);
  let v = Number(m[1]);
  if (m[2]) v *= 10 ** Number(m[2].slice(1));
  else v *= SUFFIX[m[3] ?? '']!;
  if (cache.size < 10_000) cache.set(q, v);
  return v;
}

/** CPU in millicores, rounded up as upstream's MilliValue does. */
export function milliCPU(q: string | number | undefined | null): number {
  return Math.ceil(parseQuantity(q) * 1000 - 1e-9);
}
