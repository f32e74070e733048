// Node IPAM (upstream's range allocator): every node gets a /24 (by default) podCIDR out of
// --cluster-cidr. Allocations are read back from existing nodes before anything new is
// handed out, so a restarted controller never gives one range to two nodes.
import type { V1Node } from '@kubernetes/client-node';
import { rawRequest } from './base/clients.js';
import { Controller, type ControllerContext } from './base/controller.js';
import type { SharedInformer } from './base/informer.js';

function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !(x >= 0 && x <= 255))) throw new Error(`invalid IPv4 address ${ip}`);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export class CIDRAllocator {
  private readonly base: number;
  private readonly count: number;
  private readonly step: number;
  private used = new Set<number>();
  private next = 0;

  constructor(
    readonly clusterCIDR = '10.244.0.0/16',
    readonly nodeMaskSize = 24,
  ) {
    const [ip, bits] = clusterCIDR.split('/');
    const prefix = Number(bits);
    if (!(prefix >= 0 && prefix <= nodeMaskSize && nodeMaskSize <= 32)) throw new Error(`invalid cluster CIDR ${clusterCIDR} for /${nodeMaskSize} node ranges`);
    const mask = prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
    this.base = (ipToInt(ip!) & mask) >>> 0;
    this.count = 2 ** (nodeMaskSize - prefix);
    this.step = 2 ** (32 - nodeMaskSize);
  }

  /** Index of a CIDR in our range, or -1 if it isn't one of ours. */
  indexOf(cidr: string): number {
    const [ip, bits] = cidr.split('/');
    if (Number(bits) !== this.nodeMaskSize) return -1;
    const off = ipToInt(ip!) - this.base;
    if (off < 0 || off % this.step !== 0 || off / this.step >= this.count) return -1;
    return off / this.step;
  }

  occupy(cidr: string): void {
    const i = this.indexOf(cidr);
    if (i >= 0) this.used.add(i);
  }

  release(cidr: string): void {
    const i = this.indexOf(cidr);
    if (i >= 0) this.used.delete(i);
  }

  allocate(): string {
    for (let k = 0; k < this.count; k++) {
      const i = (this.next + k) % this.count;
      if (this.used.has(i)) continue;
      this.used.add(i);
      this.next = (i + 1) % this.count;
      return `${intToIp((this.base + i * this.step) >>> 0)}/${this.nodeMaskSize}`;
    }
    throw new Error(`CIDR allocation failed: no free /${this.nodeMaskSize} left in ${this.clusterCIDR}`);
  }
}

export class NodeIpamController extends Controller {
  private nodes!: SharedInformer<V1Node>;
  readonly allocator: CIDRAllocator;
  private seeded = false;
  /** allocations written but not yet seen in the cache: never allocate twice for one node */
  private pending = new Map<string, string>();

  constructor(ctx: ControllerContext, clusterCIDR = '10.244.0.0/16', nodeMaskSize = 24) {
    super('node-ipam-controller', ctx, 1);
    this.allocator = new CIDRAllocator(clusterCIDR, nodeMaskSize);
  }

  register(): void {
    this.nodes = this.ctx.informers.get<V1Node>('nodes');
    this.nodes.addHandlers({
      add: (n) => this.enqueue(n.metadata!.name),
      update: (_o, n) => (!n.spec?.podCIDR || this.pending.has(n.metadata!.name!)) && this.enqueue(n.metadata!.name),
      delete: (n) => {
        this.pending.delete(n.metadata!.name!);
        for (const c of n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : [])) this.allocator.release(c);
      },
    });
  }

  async sync(name: string): Promise<void> {
    // one worker, and the informer has listed every node before the first sync: seed once
    await this.nodes.synced;
    if (!this.seeded) {
      for (const n of this.nodes.list()) for (const c of n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : [])) this.allocator.occupy(c);
      this.seeded = true;
    }
    const node = this.nodes.get(name);
    if (!node || node.spec?.podCIDR) {
      if (node?.spec?.podCIDR) this.allocator.occupy(node.spec.podCIDR);
      const p = this.pending.get(name);
      if (p && p !== node?.spec?.podCIDR) this.allocator.release(p);
      this.pending.delete(name);
      return;
    }
    if (this.pending.has(name)) return;
    const cidr = this.allocator.allocate();
    try {
      await rawRequest(this.ctx.clients.kc, 'PATCH', `/api/v1/nodes/${name}`, { spec: { podCIDR: cidr, podCIDRs: [cidr] } }, 'application/merge-patch+json');
      this.pending.set(name, cidr);
      this.log.info({ node: name, podCIDR: cidr }, 'allocated pod CIDR');
    } catch (err) {
      this.allocator.release(cidr);
      throw err;
    }
  }
}
