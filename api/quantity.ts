// resource.Quantity parsing, the one parser every component uses: "100m", "1Gi", "500M",
// "1e3". Exact (in nano-units, as upstream stores a Quantity), with upstream's rounding:
// up to a whole nano at parse, and up (away from zero) for MilliValue and Value.

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
const BINARY_EXP: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL_EXP: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const SUFFIX_CHARS = 'eEinumkKMGTP';
const NANO = 1_000_000_000n;
/** Upstream caps a quantity at 2^63-1 base units. */
const MAX_NANOS = (2n ** 63n - 1n) * NANO;
/** Significant digits kept exactly; beyond them the value is rounded up (only a hand-made string has that many). */
const MAX_DIGITS = 200;

interface Decimal {
  negative: boolean;
  /** significand digits, no leading or trailing zeros ('' for zero) */
  digits: string;
  exp10: number;
  exp2: number;
}

const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';

/** Upstream's parseQuantityString + suffix interpretation: sign, digits, fraction, suffix. */
function parseDecimal(q: string | number): Decimal {
  if (typeof q === 'number' && !Number.isFinite(q)) throw new QuantityError(QUANTITY_FORMAT_ERROR);
  const str = typeof q === 'number' ? String(q) : q;
  if (str === '') throw new QuantityError(QUANTITY_FORMAT_ERROR);
  let pos = 0;
  let negative = false;
  if (str[0] === '-' || str[0] === '+') {
    negative = str[0] === '-';
    pos++;
  }
  const numStart = pos;
  while (isDigit(str[pos])) pos++;
  const num = str.slice(numStart, pos);
  let denom = '';
  if (str[pos] === '.') {
    const start = ++pos;
    while (isDigit(str[pos])) pos++;
    denom = str.slice(start, pos);
  }
  const sufStart = pos;
  while (pos < str.length && SUFFIX_CHARS.includes(str[pos]!)) pos++;
  if (str[pos] === '-' || str[pos] === '+') pos++;
  while (isDigit(str[pos])) pos++;
  if (pos < str.length) throw new QuantityError(QUANTITY_FORMAT_ERROR);
  const suffix = str.slice(sufStart);
  let exp10 = 0;
  let exp2 = 0;
  if (suffix in DECIMAL_EXP) exp10 = DECIMAL_EXP[suffix]!;
  else if (suffix in BINARY_EXP) exp2 = BINARY_EXP[suffix]!;
  else if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E') && /^[-+]?[0-9]+$/.test(suffix.slice(1))) {
    const e = BigInt(suffix.slice(1));
    if (e > 2n ** 63n - 1n || e < -(2n ** 63n)) throw new QuantityError("unable to parse quantity's suffix");
    exp10 = Number(BigInt.asIntN(32, e)); // upstream keeps an int32 of the parsed int64
  } else throw new QuantityError("unable to parse quantity's suffix");
  let digits = (num + denom).replace(/^0+/, '');
  exp10 -= denom.length;
  const trimmed = digits.replace(/0+$/, '');
  exp10 += digits.length - trimmed.length;
  digits = trimmed;
  return { negative, digits, exp10, exp2 };
}

/** ceil(n / d) for n >= 0, d > 0 */
const ceilDiv = (n: bigint, d: bigint) => (n % d === 0n ? n / d : n / d + 1n);

/**
 * The exact value of a quantity in nano-units of its base unit (cores, bytes), rounded up
 * (away from zero) to a whole nano and capped at 2^63-1 units, as upstream's ParseQuantity
 * stores it. Throws QuantityError on bad input.
 */
export function quantityNanos(q: string | number): bigint {
  if (typeof q === 'string') {
    const hit = parsedNanos.get(q);
    if (hit !== undefined) return hit;
    const n = parseNanos(q);
    if (parsedNanos.size >= PARSE_CACHE_SIZE) parsedNanos.clear();
    parsedNanos.set(q, n);
    return n;
  }
  return parseNanos(q);
}

// The same few texts ("100m", "64Mi") are parsed for every pod: remember them (bounded).
const PARSE_CACHE_SIZE = 4096;
const parsedNanos = new Map<string, bigint>();

function parseNanos(q: string | number): bigint {
  const d = parseDecimal(q);
  if (d.digits === '') return 0n;
  const sign = d.negative ? -1n : 1n;
  // Order of magnitude of the result in nanos, to settle absurd exponents without big powers.
  const order = d.digits.length + d.exp10 + 9 + d.exp2 * Math.log10(2);
  if (order > 40) return sign * MAX_NANOS;
  if (order <= 0) return sign; // non-zero but below 1n: rounds up to 1n
  let digits = d.digits;
  let exp10 = d.exp10 + 9;
  let sticky = false;
  if (digits.length > MAX_DIGITS) {
    exp10 += digits.length - MAX_DIGITS;
    digits = digits.slice(0, MAX_DIGITS);
    sticky = true;
  }
  let n = (BigInt(digits) + (sticky ? 1n : 0n)) << BigInt(d.exp2);
  n = exp10 >= 0 ? n * 10n ** BigInt(exp10) : ceilDiv(n, 10n ** BigInt(-exp10));
  return sign * (n > MAX_NANOS ? MAX_NANOS : n);
}

/** A quantity's value in base units as a float (upstream's AsApproximateFloat64). */
export function parseQuantity(q: string | number): number {
  return Number(quantityNanos(q)) / 1e9;
}

export function isValidQuantity(q: unknown): boolean {
  if (typeof q !== 'string' && typeof q !== 'number') return false;
  try {
    quantityNanos(q);
    return true;
  } catch {
    return false;
  }
}

/** x / unit rounded away from zero. */
function scaledAwayFromZero(n: bigint, unit: bigint): number {
  return Number(n < 0n ? -ceilDiv(-n, unit) : ceilDiv(n, unit));
}

/**
 * Upstream's MilliValue: the quantity in thousandths, rounded up (away from zero). CPU
 * "0.0001" is 1m, "1.0005" is 1001m: the scheduler, the kubelet's cgroups and the API agree.
 */
export function milliValue(q: string | number): number {
  return scaledAwayFromZero(quantityNanos(q), 1_000_000n);
}

/** Upstream's Value: the quantity in whole base units (bytes, pods), rounded up (away from zero). */
export function intValue(q: string | number): number {
  return scaledAwayFromZero(quantityNanos(q), NANO);
}

/** Compares two quantities exactly, as upstream's Cmp: -1, 0, 1. */
export function compareQuantity(a: string | number, b: string | number): number {
  const x = quantityNanos(a);
  const y = quantityNanos(b);
  return x === y ? 0 : x < y ? -1 : 1;
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

// ---------- Quantity values with their format (what a quota adds up and prints) ----------

/** Upstream's resource.Format: how a quantity is printed back. */
export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

/** A parsed quantity: its exact value in nanos and the format its text was written in. */
export interface Quantity {
  nanos: bigint;
  format: QuantityFormat;
}

/** The format a quantity's text implies: Ki..Ei binary, e<n>/E<n> exponent, anything else decimal. */
function formatOfText(s: string): QuantityFormat {
  const m = /[eEinumkKMGTP]*[-+]?[0-9]*$/.exec(s.replace(/^[+-]?[0-9.]+/, ''));
  const suffix = m ? m[0] : '';
  if (suffix in BINARY_EXP) return 'BinarySI';
  if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E') && /^[-+]?[0-9]+$/.test(suffix.slice(1))) return 'DecimalExponent';
  return 'DecimalSI';
}

/** Parses a quantity (throws QuantityError on bad input). */
export function toQuantity(q: string | number): Quantity {
  if (typeof q === 'number') return { nanos: quantityNanos(q), format: 'DecimalSI' };
  let hit = parsedQuantities.get(q);
  if (!hit) {
    hit = Object.freeze({ nanos: quantityNanos(q), format: formatOfText(q) });
    if (parsedQuantities.size >= PARSE_CACHE_SIZE) parsedQuantities.clear();
    parsedQuantities.set(q, hit);
  }
  return hit;
}
const parsedQuantities = new Map<string, Quantity>();

export const ZERO_QUANTITY: Quantity = { nanos: 0n, format: 'DecimalSI' };

/** n whole units (a count), as resource.NewQuantity(n, DecimalSI). */
export function countQuantity(n: number): Quantity {
  return { nanos: BigInt(n) * NANO, format: 'DecimalSI' };
}

/** Quantity.Add: the sum keeps the first operand's format unless that one is zero. */
export function addQuantity(a: Quantity, b: Quantity): Quantity {
  return { nanos: a.nanos + b.nanos, format: a.nanos === 0n ? b.format : a.format };
}

export function subQuantity(a: Quantity, b: Quantity): Quantity {
  return { nanos: a.nanos - b.nanos, format: a.nanos === 0n ? b.format : a.format };
}

export function cmpQuantity(a: Quantity, b: Quantity): number {
  return a.nanos === b.nanos ? 0 : a.nanos < b.nanos ? -1 : 1;
}

/** Upstream's MilliValue (rounded away from zero), exact as a bigint. */
export function milliOf(q: Quantity): bigint {
  const n = q.nanos;
  return n < 0n ? -ceilDiv(-n, 1_000_000n) : ceilDiv(n, 1_000_000n);
}

/** Upstream's Value (whole units, rounded away from zero), exact as a bigint. */
export function unitsOf(q: Quantity): bigint {
  const n = q.nanos;
  return n < 0n ? -ceilDiv(-n, NANO) : ceilDiv(n, NANO);
}

const DECIMAL_SUFFIX: Record<number, string> = { [-9]: 'n', [-6]: 'u', [-3]: 'm', 0: '', 3: 'k', 6: 'M', 9: 'G', 12: 'T', 15: 'P', 18: 'E' };
const BINARY_SUFFIX = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

/**
 * Quantity.String(): the canonical text. Decimal forms strip trailing zeros into an
 * exponent that is a multiple of 3 ("1500m", "100k", "2"); binary forms use the largest
 * exact power of 1024 ("1536Mi"), and fall back to decimal below 1024 or for fractions.
 */
export function formatQuantity(q: Quantity): string {
  let format = q.format;
  if (format === 'BinarySI') {
    const abs = q.nanos < 0n ? -q.nanos : q.nanos;
    if (abs < 1024n * NANO || q.nanos % NANO !== 0n) format = 'DecimalSI';
    else {
      let units = q.nanos / NANO;
      let k = 0;
      while (k < BINARY_SUFFIX.length - 1 && units % 1024n === 0n) {
        units /= 1024n;
        k++;
      }
      return `${units}${BINARY_SUFFIX[k]}`;
    }
  }
  if (q.nanos === 0n) return '0';
  let mantissa = q.nanos;
  let exp = -9;
  while (mantissa % 10n === 0n) {
    mantissa /= 10n;
    exp++;
  }
  const r = ((exp % 3) + 3) % 3;
  if (r) {
    mantissa *= 10n ** BigInt(r);
    exp -= r;
  }
  if (format === 'DecimalExponent') return exp === 0 ? String(mantissa) : `${mantissa}e${exp}`;
  const suffix = DECIMAL_SUFFIX[exp];
  return suffix === undefined ? `${mantissa}e${exp}` : `${mantissa}${suffix}`;
}

/** The canonical text of a quantity as written (what upstream stores and shows), or the input when it does not parse. */
export function canonicalQuantity(q: string | number): string {
  try {
    return formatQuantity(toQuantity(q));
  } catch {
    return String(q);
  }
}
