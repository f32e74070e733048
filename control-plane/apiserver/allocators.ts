// Service ClusterIP and NodePort allocators. In memory, rebuilt from the stored Services on
// start; the apiserver allocates before writing and releases when the write fails or the
// Service is deleted. (One apiserver per store: several apiservers on one etcd would need
// the allocation bitmaps in the store, as upstream keeps them.)
import type { FieldError } from '../../api/registry.js';

export function ipToInt(ip: string): number {
  const p = ip.split('.');
  if (p.length !== 4) return NaN;
  let n = 0;
  for (const x of p) {
    if (!/^\d{1,3}$/.test(x)) return NaN;
    const v = Number(x);
    if (v > 255) return NaN;
    n = n * 256 + v;
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export class AllocationError extends Error {
  constructor(readonly fieldError: FieldError) {
    super(fieldError.message);
  }
}

export class ClusterIPAllocator {
  readonly base: number;
  readonly size: number;
  private used = new Set<number>();

  constructor(readonly cidr = '10.96.0.0/12') {
    const [ip, bits] = cidr.split('/');
    const b = Number(bits);
    if (!(b >= 8 && b <= 30) || Number.isNaN(ipToInt(ip))) throw new Error(`invalid service CIDR ${cidr}`);
    this.size = 2 ** (32 - b);
    this.base = ipToInt(ip) - (ipToInt(ip) % this.size);
  }

  /** The first usable address: the `kubernetes` Service's ClusterIP (10.96.0.1). */
  firstIP(): string {
    return intToIp(this.base + 1);
  }

  contains(ip: string): boolean {
    const n = ipToInt(ip);
    return n > this.base && n < this.base + this.size - 1;
  }

  isAllocated(ip: string): boolean {
    return this.used.has(ipToInt(ip));
  }

  /** Marks ip used, or throws the upstream 422 cause when taken / out of range. */
  allocateSpecific(ip: string, field = 'spec.clusterIP'): void {
    const n = ipToInt(ip);
    if (Number.isNaN(n)) {
      throw new AllocationError({ type: 'FieldValueInvalid', field, message: `${field}: Invalid value: ${JSON.stringify(ip)}: must be a valid IP address` });
    }
    if (!this.contains(ip)) {
      throw new AllocationError({
        type: 'FieldValueInvalid',
        field,
        message: `${field}: Invalid value: ${JSON.stringify(ip)}: provided IP is not in the valid range. The range of valid IPs is ${this.cidr}`,
      });
    }
    if (this.used.has(n)) {
      throw new AllocationError({ type: 'FieldValueInvalid', field, message: `${field}: Invalid value: ${JSON.stringify(ip)}: provided IP is already allocated` });
    }
    this.used.add(n);
  }

  allocateNext(): string {
    const usable = this.size - 2;
    if (this.used.size >= usable) throw new Error('range is full');
    // Random start, then scan: cheap while the range is sparse, always terminates.
    const off = Math.floor(Math.random() * usable);
    for (let i = 0; i < usable; i++) {
      const n = this.base + 1 + ((off + i) % usable);
      // Keep the first address for the kubernetes Service.
      if (n === this.base + 1) continue;
      if (!this.used.has(n)) {
        this.used.add(n);
        return intToIp(n);
      }
    }
    throw new Error('range is full');
  }

  /** Marks used without checks (rebuilding from the store). */
  markUsed(ip: string): void {
    const n = ipToInt(ip);
    if (!Number.isNaN(n)) this.used.add(n);
  }

  release(ip: string | undefined): void {
    if (!ip) return;
    const n = ipToInt(ip);
    if (!Number.isNaN(n)) this.used.delete(n);
  }

  get allocatedCount(): number {
    return this.used.size;
  }
}

/**
 * The one owner of --service-node-port-range: validation leaves the range to it, and a
 * nodePort outside it is the 422 upstream's allocator gives.
 */
export class NodePortAllocator {
  private used = new Set<number>();

  constructor(
    readonly min = 30000,
    readonly max = 32767,
  ) {
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65535 || max < min) {
      throw new Error(`invalid NodePort range ${min}-${max}`);
    }
  }

  allocateSpecific(port: number, field: string): void {
    if (!Number.isInteger(port) || port < this.min || port > this.max) {
      throw new AllocationError({
        type: 'FieldValueInvalid',
        field,
        message: `${field}: Invalid value: ${port}: provided port is not in the valid range. The range of valid ports is ${this.min}-${this.max}`,
      });
    }
    if (this.used.has(port)) {
      throw new AllocationError({ type: 'FieldValueInvalid', field, message: `${field}: Invalid value: ${port}: provided port is already allocated` });
    }
    this.used.add(port);
  }

  allocateNext(): number {
    const n = this.max - this.min + 1;
    if (this.used.size >= n) throw new Error('range is full');
    const off = Math.floor(Math.random() * n);
    for (let i = 0; i < n; i++) {
      const p = this.min + ((off + i) % n);
      if (!this.used.has(p)) {
        this.used.add(p);
        return p;
      }
    }
    throw new Error('range is full');
  }

  isAllocated(port: number): boolean {
    return this.used.has(port);
  }

  markUsed(port: number): void {
    this.used.add(port);
  }

  release(port: number | undefined): void {
    if (port !== undefined) this.used.delete(port);
  }
}
