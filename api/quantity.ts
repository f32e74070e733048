// resource.Quantity parsing: "100m", "1Gi", "500M", "1e3". Values become plain numbers in base units
// (cores, bytes); helpers give the integer forms components compare with.

export const QUANTITY_REGEX = '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$';
/** Upstream's ErrFormatWrong text. */
export const QUANTITY_FORMAT_ERROR = `quantities must match the regular expression '${QUANTITY_REGEX}'`;

export class QuantityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuantityError';
  }
}

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

/** Parses a quantity string (or number) to its value in base units; throws QuantityError on bad input. */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') {
    if (!Number.isFinite(q)) throw new QuantityError(QUANTITY_FORMAT_ERROR);
    return q;
  }
  const s = q.trim();
  if (s !== q || s === '') throw new QuantityError(s === '' ? 'quantities must not be empty' : QUANTITY_FORMAT_ERROR);
  const m = /^([+-]?)([0-9]*\.?[0-9]*)(.*)$/.exec(s);
  if (!m || m[2] === '' || m[2] === '.') throw new QuantityError(QUANTITY_FORMAT_ERROR);
  const sign = m[1] === '-' ? -1 : 1;
  const num = Number(m[2]);
  const suffix = m[3]!;
  let mult: number;
  if (suffix in BINARY) mult = BINARY[suffix]!;
  else if (suffix in DECIMAL) mult = DECIMAL[suffix]!;
  else if (/^[eE][-+]?[0-9]+$/.test(suffix)) mult = 10 ** Number(suffix.slice(1));
  else throw new QuantityError(QUANTITY_FORMAT_ERROR);
  if (!Number.isFinite(num)) throw new QuantityError(QUANTITY_FORMAT_ERROR);
  return sign * num * mult;
}

export function isValidQuantity(q: unknown): boolean {
  if (typeof q !== 'string' && typeof q !== 'number') return false;
  try {
    parseQuantity(q);
    return true;
  } catch {
    return false;
  }
}

/** CPU in millicores, rounded up as upstream's MilliValue does. */
export function cpuMillis(q: string | number | undefined): number {
  if (q === undefined) return 0;
  return Math.ceil(Math.round(parseQuantity(q) * 1e9) / 1e6);
}

/** Memory (or any byte quantity) in bytes, rounded up. */
export function memoryBytes(q: string | number | undefined): number {
  if (q === undefined) return 0;
  return Math.ceil(Math.round(parseQuantity(q) * 1e3) / 1e3);
}

/** Compares two quantities: -1, 0, 1. */
export function compareQuantity(a: string | number, b: string | number): number {
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  const eps = Math.max(Math.abs(x), Math.abs(y)) * 1e-12;
  if (Math.abs(x - y) <= eps) return 0;
  return x < y ? -1 : 1;
}

/** Renders millicores the way kubectl shows requests: "250m", "2". */
export function formatMillis(m: number): string {
  return m % 1000 === 0 ? String(m / 1000) : `${m}m`;
}

/** Renders bytes with the largest exact binary suffix: 134217728 -> "128Mi". */
export function formatBytes(b: number): string {
  for (const suf of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki']) {
    const d = BINARY[suf]!;
    if (b !== 0 && b % d === 0) return `${b / d}${suf}`;
  }
  return String(b);
}
