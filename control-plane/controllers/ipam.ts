// Node IPAM (upstream's range allocator): every node gets a /24 (by default) podCIDR out of
// --cluster-cidr. Allocations are read back from existing nodes before anything new is
// handed out, so a restarted controller never gives one range to two nodes.
import type { Node } from 'kubernetes-types/core/v1.js';
import { intToIPv4, ipv4ToInt, parseIPv4CIDR } from '../../api/net.js';
import type { SharedIndexInformer } from '../../client/index.js';
import { Controller, type ControllerContext } from './base/controller.js';

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
    const c = parseIPv4CIDR(clusterCIDR);
    if (!c || !(c.prefix <= nodeMaskSize && nodeMaskSize <= 32)) throw new Error(`invalid cluster CIDR ${clusterCIDR} for /${nodeMaskSize} node ranges`);
    this.base = c.base;
    this.count = 2 ** (nodeMaskSize - c.prefix);
    this.step = 2 ** (32 - nodeMaskSize);
  }

  /** Index of a CIDR in our range, or -1 if it isn't one of ours. */
  indexOf(cidr: string): number {
    const slash = cidr.indexOf('/');
    if (slash < 0 || Number(cidr.slice(slash + 1)) !== this.nodeMaskSize) return -1;
    const ip = ipv4ToInt(cidr.slice(0, slash));
    if (Number.isNaN(ip)) return -1;
    const off = ip - this.base;
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
      return `${intToIPv4((this.base + i * this.step) >>> 0)}/${this.nodeMaskSize}`;
    }
    throw new Error(`CIDR allocation failed: no free /${this.nodeMaskSize} left in ${this.clusterCIDR}`);
  }
}

export class NodeIpamController extends Controller {
  private nodes!: SharedIndexInformer<Node>;
  readonly allocator: CIDRAllocator;
  private seeded = false;
  /** allocations written but not yet seen in the cache: never allocate twice for one node */
  private pending = new Map<string, string>();

  constructor(ctx: ControllerContext, clusterCIDR = '10.244.0.0/16', nodeMaskSize = 24) {
    super('node-ipam-controller', ctx, 1);
    this.allocator = new CIDRAllocator(clusterCIDR, nodeMaskSize);
  }

  register(): void {
    this.nodes = this.ctx.informers.get('nodes');
    this.nodes.addEventHandler({
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
      await this.ctx.client.nodes.patch(name, { spec: { podCIDR: cidr, podCIDRs: [cidr] } });
      this.pending.set(name, cidr);
      this.log.info({ node: name, podCIDR: cidr }, 'allocated pod CIDR');
    } catch (err) {
      this.allocator.release(cidr);
      throw err;
    }
  }
}
