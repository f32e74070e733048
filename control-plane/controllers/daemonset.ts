// DaemonSet controller: one pod per eligible node (node selector / required affinity match
// and taints tolerated, with the tolerations upstream adds to every daemon pod). Pods are
// pinned with required node affinity on metadata.name, as upstream does, and the default
// scheduler binds them.
import type { Node, Pod, Toleration } from 'kubernetes-types/core/v1.js';
import { semanticJSON } from '../../api/json.js';
import { nodeMatchesSelectorAndAffinity, toleratesAll } from '../../api/scheduling.js';
import { labelSelectorFromSpec, matches, type MetaLabelSelector } from '../../api/selectors.js';
import { parseTime } from '../../api/time.js';
import { isNotFound, objectKey, type SharedIndexInformer } from '../../client/index.js';
import { Controller, type ControllerContext, Expectations } from './base/controller.js';
import { clone, controllerRef, isPodActive, isPodAvailable, isPodReady, ownerRefFor, withStatus } from './base/util.js';
import { podTemplateHash } from './deployment.js';
import type { JsonValue } from '../../api/object.js';

type Obj = JsonValue;

/** upstream AddOrUpdateDaemonPodTolerations */
export const DAEMON_TOLERATIONS: Toleration[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
];

export function daemonPodFits(ds: Obj, node: Node): boolean {
  const spec = ds.spec?.template?.spec ?? {};
  const labels = node.metadata?.labels ?? {};
  if (!nodeMatchesSelectorAndAffinity(spec.nodeSelector, spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution, labels, node.metadata!.name!)) return false;
  return toleratesAll(node.spec?.taints ?? [], [...(spec.tolerations ?? []), ...DAEMON_TOLERATIONS]);
}

export class DaemonSetController extends Controller {
  readonly expectations = new Expectations();
  private dss!: SharedIndexInformer<Obj>;
  private nodes!: SharedIndexInformer<Node>;
  private pods!: SharedIndexInformer<Pod>;

  constructor(ctx: ControllerContext) {
    super('daemonset-controller', ctx, 2);
  }

  register(): void {
    this.dss = this.ctx.informers.get('daemonsets');
    this.nodes = this.ctx.informers.get('nodes');
    this.pods = this.ctx.informers.get('pods');
    this.dss.addEventHandler({
      add: (d) => this.enqueue(objectKey(d)),
      update: (_o, d) => this.enqueue(objectKey(d)),
      delete: (d) => this.expectations.delete(objectKey(d)),
    });
    const all = () => this.dss.list().forEach((d) => this.enqueue(objectKey(d)));
    this.nodes.addEventHandler({
      add: all,
      update: (o, n) => {
        if (semanticJSON([o.metadata?.labels, o.spec?.taints]) !== semanticJSON([n.metadata?.labels, n.spec?.taints])) all();
      },
      delete: all,
    });
    const podOwner = (p: Pod, observe?: 'add' | 'del') => {
      const ref = controllerRef(p);
      if (ref?.kind !== 'DaemonSet') return;
      const key = `${p.metadata!.namespace}/${ref.name}`;
      if (observe === 'add') this.expectations.creationObserved(key);
      if (observe === 'del') this.expectations.deletionObserved(key);
      this.enqueue(key);
    };
    this.pods.addEventHandler({
      add: (p) => podOwner(p, 'add'),
      update: (o, n) => podOwner(n, n.metadata?.deletionTimestamp && !o.metadata?.deletionTimestamp ? 'del' : undefined),
      delete: (p) => podOwner(p, p.metadata?.deletionTimestamp ? undefined : 'del'),
    });
  }

  private podFor(ds: Obj, nodeName: string, hash: string): Obj {
    const t = clone(ds.spec.template ?? {});
    const spec = t.spec ?? {};
    spec.tolerations = [...(spec.tolerations ?? []), ...DAEMON_TOLERATIONS];
    // pin to the node through affinity (replacing any metadata.name term), as upstream does
    spec.affinity = spec.affinity ?? {};
    spec.affinity.nodeAffinity = spec.affinity.nodeAffinity ?? {};
    spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution = {
      nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] }],
    };
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: `${ds.metadata.name}-`,
        namespace: ds.metadata.namespace,
        labels: { ...(t.metadata?.labels ?? {}), 'controller-revision-hash': hash },
        annotations: t.metadata?.annotations,
        ownerReferences: [ownerRefFor({ apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: ds.metadata })],
      },
      spec,
    };
  }

  private static podNode(p: Pod): string | undefined {
    if (p.spec?.nodeName) return p.spec.nodeName;
    const terms = p.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
    for (const t of terms) for (const f of t.matchFields ?? []) if (f.key === 'metadata.name' && f.values?.length === 1) return f.values[0];
    return undefined;
  }

  async sync(key: string): Promise<void> {
    const ds = this.dss.get(key);
    if (!ds || ds.metadata.deletionTimestamp) return;
    const ns = ds.metadata.namespace;
    const sel = labelSelectorFromSpec((ds.spec?.selector ?? null) as MetaLabelSelector | null);
    const hash = podTemplateHash(ds.spec?.template);
    const byNode = new Map<string, Pod[]>();
    for (const p of this.pods.list(ns)) {
      if (controllerRef(p)?.uid !== ds.metadata.uid || !matches(sel, p.metadata?.labels) || !isPodActive(p)) continue;
      const n = DaemonSetController.podNode(p);
      if (!n) continue;
      let l = byNode.get(n);
      if (!l) byNode.set(n, (l = []));
      l.push(p);
    }
    const podClient = this.ctx.client.pods.namespace(ns);
    const create: string[] = [];
    const del: Pod[] = [];
    let desired = 0, misscheduled = 0, current = 0, ready = 0, available = 0, updated = 0;
    const eligible = new Set<string>();
    for (const node of this.nodes.list()) {
      const name = node.metadata!.name!;
      const pods = (byNode.get(name) ?? []).sort((a, b) => parseTime(a.metadata?.creationTimestamp) - parseTime(b.metadata?.creationTimestamp));
      if (daemonPodFits(ds, node)) {
        eligible.add(name);
        desired++;
        if (pods.length === 0) create.push(name);
        else {
          current++;
          // keep the oldest; on a template change replace out-of-date pods one node at a time
          del.push(...pods.slice(1));
          const keep = pods[0]!;
          if (keep.metadata?.labels?.['controller-revision-hash'] === hash) updated++;
          if (isPodReady(keep)) ready++;
          if (isPodAvailable(keep, ds.spec?.minReadySeconds ?? 0)) available++;
        }
      } else if (pods.length) {
        misscheduled++;
        del.push(...pods);
      }
    }
    for (const [n, pods] of byNode) if (!eligible.has(n) && !this.nodes.get(n)) del.push(...pods);
    // rolling update, maxUnavailable 1: replace one outdated pod when everything else is up
    if (create.length === 0 && del.length === 0 && (ds.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate') {
      const outdated = [...byNode.values()].map((l) => l[0]!).filter((p) => p.metadata?.labels?.['controller-revision-hash'] !== hash);
      if (outdated.length && ready === desired) del.push(outdated[0]!);
    }
    if (this.expectations.satisfied(key) && (create.length || del.length)) {
      this.expectations.expect(key, create.length, del.length);
      const results = await Promise.allSettled([
        ...create.map((n) => podClient.create(this.podFor(ds, n, hash))),
        ...del.map((p) => podClient.delete(p.metadata!.name!)),
      ]);
      let failure: unknown;
      results.forEach((r, i) => {
        if (r.status === 'fulfilled') return;
        if (i < create.length) this.expectations.lower(key, 1, 0);
        else this.expectations.lower(key, 0, 1);
        if (!isNotFound(r.reason)) failure = r.reason;
      });
      if (failure) throw failure;
    }
    const status = {
      desiredNumberScheduled: desired,
      currentNumberScheduled: current,
      numberMisscheduled: misscheduled,
      numberReady: ready,
      numberAvailable: available,
      numberUnavailable: Math.max(0, desired - available),
      updatedNumberScheduled: updated,
      observedGeneration: ds.metadata.generation ?? 1,
    };
    if (semanticJSON(ds.status ?? {}) !== semanticJSON(status)) {
      await this.ctx.client.daemonsets.namespace(ns).updateStatus(withStatus(ds, status)).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
    }
  }
}
