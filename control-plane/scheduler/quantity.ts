// Resource quantities as the scheduler needs them: cpu in millicores, everything else in
// base units, as plain numbers. Parsing is api/quantity's; the scheduler's hot path reads
// the same few strings ("100m", "128Mi") over and over, so results are memoised.
import { parseQuantity as parse } from '../../api/quantity.js';

const cache = new Map<string, number>();

/** Parses a Kubernetes quantity ("100m", "1.5Gi", "2e3") to a number of base units. */
export function parseQuantity(q: string | number | undefined | null): number {
  if (q === undefined || q === null || q === '') return 0;
  if (typeof q === 'number') return q;
  const hit = cache.get(q);
  if (hit !== undefined) return hit;
  const v = parse(q);
  if (cache.size < 10_000) cache.set(q, v);
  return v;
}

/** CPU in millicores, rounded up as upstream's MilliValue does. */
export function milliCPU(q: string | number | undefined | null): number {
  return Math.ceil(parseQuantity(q) * 1000 - 1e-9);
}
