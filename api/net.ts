// IP and CIDR helpers on node:net's parsers (the one definition of "an IPv4 address" for the
// flags, the validation and the allocators), and IPv4 arithmetic for CIDR allocation.
import net from 'node:net';

export const isIPv4 = (s: string): boolean => net.isIPv4(s);
export const isIPv6 = (s: string): boolean => net.isIPv6(s);
export const isIP = (s: string): boolean => net.isIP(s) !== 0;

/** An IPv4 address as an unsigned 32-bit integer; NaN when s is not one. */
export function ipv4ToInt(s: string): number {
  if (!net.isIPv4(s)) return NaN;
  const p = s.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

export function intToIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface IPv4CIDR {
  /** the network address (host bits cleared), as an integer */
  base: number;
  prefix: number;
  /** addresses in the range */
  size: number;
}

/** "10.244.0.0/16"; undefined when it is not an IPv4 CIDR. Host bits are cleared, as net.ParseCIDR does. */
export function parseIPv4CIDR(s: string): IPv4CIDR | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = ipv4ToInt(s.slice(0, slash));
  const bits = s.slice(slash + 1);
  if (Number.isNaN(ip) || !/^\d{1,2}$/.test(bits)) return undefined;
  const prefix = Number(bits);
  if (prefix > 32) return undefined;
  const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
  return { base: (ip & mask) >>> 0, prefix, size: 2 ** (32 - prefix) };
}
