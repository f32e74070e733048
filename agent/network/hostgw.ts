// Pod network between nodes, the way flannel's host-gw backend does it: every node routes
// each other node's podCIDR via that node's InternalIP (nodes share one L2 network), accepts
// forwarding for the cluster CIDR (Docker sets the FORWARD policy to DROP), and masquerades
// pod traffic that leaves the cluster CIDR. Routes follow Nodes joining and leaving.
import { logger } from '../../api/log.js';
import { type Runner, execRunner, mustRun } from '../netfilter/exec.js';
import { IptablesCmd, type Iptables, type Table } from '../netfilter/iptables.js';
import type { NodeObj } from '../proxy/model.js';
import type { KubeClient } from '../kubelet/client.js';
import { watchResource } from '../proxy/watch.js';

/** Routing-protocol number marking our routes, so sync and cleanup never touch others'. */
export const HOSTGW_ROUTE_PROTO = '188';
export const HOSTGW_FORWARD_CHAIN = 'K8TS-FORWARD';
export const HOSTGW_POSTROUTING_CHAIN = 'K8TS-POSTROUTING';

const JUMPS: Array<[Table, string, string[]]> = [
  ['filter', 'FORWARD', ['-m', 'comment', '--comment', 'k8ts pod network forwarding', '-j', HOSTGW_FORWARD_CHAIN]],
  ['nat', 'POSTROUTING', ['-m', 'comment', '--comment', 'k8ts pod network masquerade', '-j', HOSTGW_POSTROUTING_CHAIN]],
];

export interface DesiredRoute {
  cidr: string;
  via: string;
  node: string;
}

function internalIP(n: NodeObj): string | undefined {
  return n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
}

/** Routes to every other node's pod CIDR. Pure. */
export function desiredRoutes(nodes: NodeObj[], self: string): DesiredRoute[] {
  const out: DesiredRoute[] = [];
  for (const n of nodes) {
    const name = n.metadata?.name ?? '';
    if (name === self) continue;
    const via = internalIP(n);
    const cidrs = n.spec?.podCIDRs?.length ? n.spec.podCIDRs : n.spec?.podCIDR ? [n.spec.podCIDR] : [];
    if (!via) continue;
    for (const cidr of cidrs) if (!cidr.includes(':')) out.push({ cidr, via, node: name });
  }
  return out.sort((a, b) => a.cidr.localeCompare(b.cidr));
}

/** The iptables restore text for forwarding and masquerade of the cluster CIDR. Pure. */
export function renderHostGwRules(clusterCIDR: string): string {
  return [
    '*filter',
    `:${HOSTGW_FORWARD_CHAIN} - [0:0]`,
    `-A ${HOSTGW_FORWARD_CHAIN} -s ${clusterCIDR} -m comment --comment "k8ts pod traffic" -j ACCEPT`,
    `-A ${HOSTGW_FORWARD_CHAIN} -d ${clusterCIDR} -m comment --comment "k8ts pod traffic" -j ACCEPT`,
    'COMMIT',
    '*nat',
    `:${HOSTGW_POSTROUTING_CHAIN} - [0:0]`,
    `-A ${HOSTGW_POSTROUTING_CHAIN} -s ${clusterCIDR} -d ${clusterCIDR} -m comment --comment "k8ts pod to pod: keep source" -j RETURN`,
    `-A ${HOSTGW_POSTROUTING_CHAIN} -s ${clusterCIDR} ! -d 224.0.0.0/4 -m comment --comment "k8ts pod traffic leaving the cluster" -j MASQUERADE --random-fully`,
    'COMMIT',
    '',
  ].join('\n');
}

/** Applies desired routes and rules through a Runner; level-triggered and idempotent. */
export class HostGw {
  private readonly ipt: Iptables;
  private rulesDone = false;
  constructor(
    private readonly self: string,
    private readonly clusterCIDR: string,
    private readonly run: Runner = execRunner(),
  ) {
    this.ipt = new IptablesCmd(run);
  }

  /** Our routes currently in the main table: cidr -> via */
  async currentRoutes(): Promise<Map<string, string>> {
    const r = await mustRun(this.run, 'ip', ['-4', 'route', 'show', 'proto', HOSTGW_ROUTE_PROTO]);
    const m = new Map<string, string>();
    for (const line of r.stdout.split('\n')) {
      const x = /^(\S+)\s+via\s+(\S+)/.exec(line.trim());
      if (x) m.set(x[1]!, x[2]!);
    }
    return m;
  }

  async sync(nodes: NodeObj[]): Promise<void> {
    if (!this.rulesDone) {
      await this.run('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
      if (this.clusterCIDR) {
        await this.ipt.restore(renderHostGwRules(this.clusterCIDR));
        // Last, as flannel appends: kube-proxy's jumps (inserted at the top) must come first.
        // Accepting pod traffic ahead of them skips the REJECT of Services without endpoints,
        // and such a SYN leaves un-NATed with a conntrack entry that outlives the endpoints'
        // arrival (a redis replica then waits out its 60 s connect timeout). A copy left
        // above them (by an older agent) is moved down.
        for (const [t, c, a] of JUMPS) await this.ipt.ensureJump(t, c, a, 'last');
      }
      this.rulesDone = true;
    }
    const want = desiredRoutes(nodes, this.self);
    const have = await this.currentRoutes();
    for (const r of want) {
      if (have.get(r.cidr) === r.via) continue;
      await mustRun(this.run, 'ip', ['route', 'replace', r.cidr, 'via', r.via, 'proto', HOSTGW_ROUTE_PROTO]);
    }
    const wanted = new Set(want.map((r) => r.cidr));
    for (const cidr of have.keys())
      if (!wanted.has(cidr)) await this.run('ip', ['route', 'del', cidr, 'proto', HOSTGW_ROUTE_PROTO]);
  }

  /** Forces the rules to be rewritten on the next sync (e.g. after someone flushed them). */
  invalidate(): void {
    this.rulesDone = false;
  }
}

/** Removes our routes, chains and jumps. */
export async function cleanupHostGw(run: Runner = execRunner()): Promise<void> {
  await run('ip', ['-4', 'route', 'flush', 'proto', HOSTGW_ROUTE_PROTO]);
  const ipt = new IptablesCmd(run);
  for (const [t, c, a] of JUMPS) await ipt.deleteJump(t, c, a);
  let text = '';
  for (const [table, chain] of [['filter', HOSTGW_FORWARD_CHAIN], ['nat', HOSTGW_POSTROUTING_CHAIN]] as const) {
    const saved = await ipt.save(table);
    if (saved.includes(`:${chain} `)) text += `*${table}\n:${chain} - [0:0]\n-X ${chain}\nCOMMIT\n`;
  }
  if (text) await ipt.restore(text);
}

export interface StartHostGwOptions {
  client: KubeClient;
  nodeName: string;
  clusterCIDR: string;
  runner?: Runner;
  /** periodic re-check of routes and rules (default 30 s) */
  resyncPeriodMs?: number;
}

export interface HostGwHandle {
  ready: Promise<void>;
  syncNow(): Promise<void>;
  stop(): Promise<void>;
}

export async function startHostGw(o: StartHostGwOptions): Promise<HostGwHandle> {
  const log = logger('hostgw', { node: o.nodeName });
  const gw = new HostGw(o.nodeName, o.clusterCIDR, o.runner);
  const nodes = new Map<string, NodeObj>();
  let running: Promise<void> = Promise.resolve();
  let listed = false;
  const syncNow = (): Promise<void> => {
    running = running
      .catch(() => undefined)
      .then(() => gw.sync([...nodes.values()]))
      .catch((err) => {
        gw.invalidate();
        log.error({ err: String((err as Error)?.message ?? err) }, 'host-gw sync failed');
        throw err;
      });
    return running;
  };
  const kick = () => {
    if (listed) syncNow().catch(() => undefined);
  };
  const w = watchResource<NodeObj>(
    o.client,
    '/api/v1/nodes',
    {
      upsert: (n) => {
        nodes.set(n.metadata?.name ?? '', n);
        kick();
      },
      remove: (n) => {
        nodes.delete(n.metadata?.name ?? '');
        kick();
      },
    },
    log,
  );
  const timer = setInterval(() => {
    gw.invalidate();
    kick();
  }, o.resyncPeriodMs ?? 30_000);
  timer.unref();
  const ready = (async () => {
    await w.synced;
    listed = true;
    for (;;) {
      try {
        await syncNow();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();
  ready.catch(() => undefined);
  return {
    ready,
    syncNow,
    async stop() {
      clearInterval(timer);
      await w.stop();
      await running.catch(() => undefined);
    },
  };
}
