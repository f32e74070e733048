// Flag values as upstream's components parse them: durations in Go's time.ParseDuration
// syntax ("40s", "1m30s", "300ms"), integers and ports range-checked, booleans as Go's
// strconv.ParseBool. Every k8ts command builds its typed flags here, so a bad value is one
// line on stderr and exit 2 everywhere, never a NaN that silently turns a feature off.
import { InvalidArgumentError, Option } from 'commander';
import { isIP, isIPv4 } from 'node:net';
import { DurationError, parseDuration } from '../api/duration.js';

/** A bad flag value (commander prints "option '--x <v>' argument 'y' is invalid. <message>"). */
export class FlagError extends InvalidArgumentError {
  constructor(message: string) {
    super(message);
    this.exitCode = 2;
  }
}

/** A non-negative Go duration in milliseconds (every duration flag k8ts has). */
export function parseDurationFlag(v: string): number {
  let ms: number;
  try {
    ms = parseDuration(v);
  } catch (err) {
    if (err instanceof DurationError) throw new FlagError(err.message);
    throw err;
  }
  if (ms < 0) throw new FlagError('must not be negative');
  return ms;
}

/** A base-10 integer in [min, max]. */
export function parseIntegerFlag(v: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^[-+]?[0-9]+$/.test(v)) throw new FlagError(`strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new FlagError(`strconv.ParseInt: parsing ${JSON.stringify(v)}: value out of range`);
  if (n < min || n > max) throw new FlagError(max === Number.MAX_SAFE_INTEGER ? `must be at least ${min}` : `must be between ${min} and ${max}`);
  return n;
}

/** A TCP port; 0 (any free port, or off) only where the flag allows it. */
export function parsePortFlag(v: string, allowZero = false): number {
  return parseIntegerFlag(v, allowZero ? 0 : 1, 65535);
}

export interface PortRange {
  base: number;
  size: number;
}

/** "30000-32767" (or a single port), as upstream's utilnet.ParsePortRange. */
export function parsePortRange(v: string): PortRange {
  const m = /^\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?$/.exec(v);
  if (!m) throw new FlagError(`unable to parse port range: ${v}`);
  const low = Number(m[1]);
  const high = m[2] === undefined ? low : Number(m[2]);
  if (low > 65535 || high > 65535 || low < 1 || high < low) throw new FlagError(`unable to parse port range: ${v}: invalid range`);
  return { base: low, size: high - low + 1 };
}

export function formatPortRange(r: PortRange): string {
  return `${r.base}-${r.base + r.size - 1}`;
}

/** Go's strconv.ParseBool. */
export function parseBoolFlag(v: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw new FlagError(`strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`);
}

/** An IPv4 CIDR ("10.96.0.0/12"). */
export function parseCIDRFlag(v: string): string {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(v);
  if (!m || !isIPv4(m[1]!) || Number(m[2]) > 32) throw new FlagError(`invalid CIDR address: ${v}`);
  return v;
}

/** An IP address. */
export function parseIPFlag(v: string): string {
  if (!isIP(v)) throw new FlagError(`invalid IP address: ${v}`);
  return v;
}

/**
 * A commander Option parsed by `parse`, whose default is given as the literal a user would
 * type (so `--help` shows "40s", and the default goes through the same parser).
 */
export function flag<T>(flags: string, description: string, parse: (v: string) => T, dflt?: string): Option {
  const o = new Option(flags, description).argParser((v: string) => parse(v));
  if (dflt !== undefined) o.default(parse(dflt), dflt);
  return o;
}

export const durationFlag = (flags: string, description: string, dflt?: string) => flag(flags, description, parseDurationFlag, dflt);
export const intFlag = (flags: string, description: string, dflt: string | undefined, min?: number, max?: number) =>
  flag(flags, description, (v) => parseIntegerFlag(v, min, max), dflt);
export const portFlag = (flags: string, description: string, dflt: string | undefined, allowZero = false) =>
  flag(flags, description, (v) => parsePortFlag(v, allowZero), dflt);
export const boolFlag = (flags: string, description: string, dflt: string) => flag(flags, description, parseBoolFlag, dflt);

/** pino's levels; the default may come from K8TS_LOG_LEVEL. */
export const logLevelFlag = () =>
  new Option('--log-level <level>', 'log level')
    .choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
    .default(process.env.K8TS_LOG_LEVEL ?? 'info');
