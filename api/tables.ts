// Server-side printing (the Table kubectl get shows) following upstream's
// pkg/printers/internalversion/printers.go: same columns, same cell logic.
import type { KObject, TableColumn } from './registry.js';
import type { JsonObject, JsonValue } from './object.js';

type Obj = JsonObject;
const list = (v: unknown): JsonValue[] => (Array.isArray(v) ? v : []);
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** duration.HumanDuration: "5s", "3m20s", "2d4h", "3y". */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(seconds / 3600);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.trunc(hours / 24) % 365;
    const y = Math.trunc(hours / 24 / 365);
    return dy === 0 ? `${y}y` : `${y}y${dy}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}

/** translateTimestampSince: "<unknown>" for a missing time. */
export function since(ts: unknown, now: Date): string {
  if (typeof ts !== 'string' || ts === '') return '<unknown>';
  const t = Date.parse(ts);
  if (Number.isNaN(t)) return '<unknown>';
  return humanDuration(now.getTime() - t);
}

/** labels.FormatLabels: sorted "k=v,k2=v2" or "<none>". */
export function formatLabels(m: unknown): string {
  if (!isObj(m) || Object.keys(m).length === 0) return '<none>';
  return Object.keys(m)
    .sort()
    .map((k) => `${k}=${m[k]}`)
    .join(',');
}

/** metav1.FormatLabelSelector: "<none>" for empty, "<error>" for bad operators. */
export function formatLabelSelector(sel: unknown): string {
  if (!isObj(sel)) return '<none>';
  const parts: string[] = [];
  const ml = isObj(sel.matchLabels) ? sel.matchLabels : {};
  const reqs: { key: string; s: string }[] = [];
  for (const k of Object.keys(ml)) reqs.push({ key: k, s: `${k}=${ml[k]}` });
  for (const e of list(sel.matchExpressions)) {
    const vals = [...new Set(list(e?.values).map(String))].sort().join(',');
    switch (e?.operator) {
      case 'In': reqs.push({ key: e.key, s: `${e.key} in (${vals})` }); break;
      case 'NotIn': reqs.push({ key: e.key, s: `${e.key} notin (${vals})` }); break;
      case 'Exists': reqs.push({ key: e.key, s: e.key }); break;
      case 'DoesNotExist': reqs.push({ key: e.key, s: `!${e.key}` }); break;
      default: return '<error>';
    }
  }
  reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const r of reqs) parts.push(r.s);
  const s = parts.join(',');
  return s === '' ? '<none>' : s;
}

function col(name: string, type: TableColumn['type'], description: string, priority = 0, format?: string): TableColumn {
  return format ? { name, type, format, description, priority } : { name, type, description, priority };
}

const NAME = col('Name', 'string', 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names', 0, 'name');
const AGE = col('Age', 'string', 'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata');

export interface TableDef {
  columns: TableColumn[];
  row(obj: KObject, now: Date): unknown[];
}

const name = (o: KObject) => o.metadata?.name ?? '';
const age = (o: KObject, now: Date) => since(o.metadata?.creationTimestamp, now);

// ---------- pods ----------

function isRestartableInit(c: Obj | undefined): boolean {
  return !!c && c.restartPolicy === 'Always';
}

function later(a: string | undefined, b: string | undefined): string | undefined {
  if (!b) return a;
  if (!a) return b;
  return Date.parse(b) > Date.parse(a) ? b : a;
}

function hasPodReadyCondition(conds: unknown): boolean {
  return list(conds).some((c) => c?.type === 'Ready' && c?.status === 'True');
}

/** The READY / STATUS / RESTARTS cells of `kubectl get pods`. */
export function podStatusCells(pod: KObject, now: Date): { ready: string; status: string; restarts: string } {
  const spec: Obj = isObj(pod.spec) ? pod.spec : {};
  const status: Obj = isObj(pod.status) ? pod.status : {};
  let restarts = 0;
  let sidecarRestarts = 0;
  let totalContainers = list(spec.containers).length;
  let readyContainers = 0;
  let lastRestart: string | undefined;
  let lastSidecarRestart: string | undefined;
  const phase: string = status.phase ?? '';
  let reason: string = status.reason || phase;
  for (const c of list(status.conditions)) if (c?.type === 'PodScheduled' && c?.reason === 'SchedulingGated') reason = 'SchedulingGated';

  const initByName = new Map<string, Obj>();
  for (const c of list(spec.initContainers)) {
    if (!isObj(c)) continue;
    initByName.set(c.name, c);
    if (isRestartableInit(c)) totalContainers++;
  }
  let initializing = false;
  const initStatuses = list(status.initContainerStatuses);
  for (let i = 0; i < initStatuses.length; i++) {
    const cs: Obj = initStatuses[i] ?? {};
    restarts += cs.restartCount ?? 0;
    const lastTerm = cs.lastState?.terminated;
    if (lastTerm) lastRestart = later(lastRestart, lastTerm.finishedAt);
    const sidecar = isRestartableInit(initByName.get(cs.name));
    if (sidecar) {
      sidecarRestarts += cs.restartCount ?? 0;
      if (lastTerm) lastSidecarRestart = later(lastSidecarRestart, lastTerm.finishedAt);
    }
    const term = cs.state?.terminated;
    const waiting = cs.state?.waiting;
    if (term && (term.exitCode ?? 0) === 0) continue;
    if (sidecar && cs.started === true) {
      if (cs.ready) readyContainers++;
      continue;
    }
    if (term) {
      if (!term.reason) reason = term.signal ? `Init:Signal:${term.signal}` : `Init:ExitCode:${term.exitCode ?? 0}`;
      else reason = `Init:${term.reason}`;
    } else if (waiting && waiting.reason && waiting.reason !== 'PodInitializing') {
      reason = `Init:${waiting.reason}`;
    } else {
      reason = `Init:${i}/${list(spec.initContainers).length}`;
    }
    initializing = true;
    break;
  }
  const initializedTrue = list(status.conditions).some((c) => c?.type === 'Initialized' && c?.status === 'True');
  if (!initializing || initializedTrue) {
    restarts = sidecarRestarts;
    lastRestart = lastSidecarRestart;
    let hasRunning = false;
    const cstats = list(status.containerStatuses);
    for (let i = cstats.length - 1; i >= 0; i--) {
      const cs: Obj = cstats[i] ?? {};
      restarts += cs.restartCount ?? 0;
      const lastTerm = cs.lastState?.terminated;
      if (lastTerm) lastRestart = later(lastRestart, lastTerm.finishedAt);
      const st: Obj = cs.state ?? {};
      if (st.waiting && st.waiting.reason) reason = st.waiting.reason;
      else if (st.terminated && st.terminated.reason) reason = st.terminated.reason;
      else if (st.terminated && !st.terminated.reason) {
        reason = st.terminated.signal ? `Signal:${st.terminated.signal}` : `ExitCode:${st.terminated.exitCode ?? 0}`;
      } else if (cs.ready && st.running) {
        hasRunning = true;
        readyContainers++;
      }
    }
    if (reason === 'Completed' && hasRunning) reason = hasPodReadyCondition(status.conditions) ? 'Running' : 'NotReady';
  }
  const deleting = !!pod.metadata?.deletionTimestamp;
  if (deleting && status.reason === 'NodeLost') reason = 'Unknown';
  else if (deleting && phase !== 'Succeeded' && phase !== 'Failed') reason = 'Terminating';
  let restartsStr = String(restarts);
  if (restarts !== 0 && lastRestart) restartsStr = `${restarts} (${since(lastRestart, now)} ago)`;
  return { ready: `${readyContainers}/${totalContainers}`, status: reason, restarts: restartsStr };
}

export const podTable: TableDef = {
  columns: [
    NAME,
    col('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
    col('Status', 'string', 'The aggregate status of the containers in this pod.'),
    col('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
    AGE,
    col('IP', 'string', 'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', 1),
    col('Node', 'string', 'NodeName is a request to schedule this pod onto a specific node. If it is non-empty, the scheduler simply schedules this pod onto that node, assuming that it fits resource requirements.', 1),
    col('Nominated Node', 'string', 'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.', 1),
    col('Readiness Gates', 'string', 'If specified, all readiness gates will be evaluated for pod readiness. More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates', 1),
  ],
  row(pod, now) {
    const c = podStatusCells(pod, now);
    const status: Obj = pod.status ?? {};
    const spec: Obj = pod.spec ?? {};
    const podIP = list(status.podIPs)[0]?.ip || status.podIP || '<none>';
    let gates = '<none>';
    const rg = list(spec.readinessGates);
    if (rg.length) {
      let t = 0;
      for (const g of rg) {
        const cond = list(status.conditions).find((x) => x?.type === g?.conditionType);
        if (cond?.status === 'True') t++;
      }
      gates = `${t}/${rg.length}`;
    }
    return [name(pod), c.ready, c.status, c.restarts, age(pod, now), podIP, spec.nodeName || '<none>', status.nominatedNodeName || '<none>', gates];
  },
};

// ---------- services ----------

function makePortString(ports: unknown): string {
  return list(ports)
    .map((p: Obj) => (p?.nodePort > 0 ? `${p.port}:${p.nodePort}/${p.protocol ?? 'TCP'}` : `${p?.port}/${p?.protocol ?? 'TCP'}`))
    .join(',');
}

function lbIngress(svc: KObject): string {
  return list(svc.status?.loadBalancer?.ingress)
    .map((i: Obj) => i?.ip || i?.hostname || '')
    .filter((s: string) => s)
    .join(',');
}

function serviceExternalIP(svc: KObject): string {
  const spec: Obj = svc.spec ?? {};
  const ext = list(spec.externalIPs);
  switch (spec.type) {
    case 'ClusterIP':
    case 'NodePort':
      return ext.length ? ext.join(',') : '<none>';
    case 'LoadBalancer': {
      const lb = lbIngress(svc);
      if (ext.length) return [...(lb ? lb.split(',') : []), ...ext].join(',');
      return lb || '<pending>';
    }
    case 'ExternalName':
      return spec.externalName ?? '';
  }
  return '<unknown>';
}

export const serviceTable: TableDef = {
  columns: [
    NAME,
    col('Type', 'string', 'type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer.'),
    col('Cluster-IP', 'string', 'clusterIP is the IP address of the service and is usually assigned randomly.'),
    col('External-IP', 'string', 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.'),
    col('Port(s)', 'string', 'The list of ports that are exposed by this service.'),
    AGE,
    col('Selector', 'string', 'Route service traffic to pods with label keys and values matching this selector.', 1),
  ],
  row(svc, now) {
    const spec: Obj = svc.spec ?? {};
    const ips = list(spec.clusterIPs);
    const internal = ips[0] || spec.clusterIP || '<none>';
    return [name(svc), spec.type ?? '', internal, serviceExternalIP(svc), makePortString(spec.ports) || '<none>', age(svc, now), formatLabels(spec.selector)];
  },
};

// ---------- workloads ----------

function containerCells(tmplSpec: unknown): [string, string] {
  const cs = list(isObj(tmplSpec) ? tmplSpec.containers : undefined);
  return [cs.map((c) => c?.name ?? '').join(','), cs.map((c) => c?.image ?? '').join(',')];
}

const CONTAINERS = col('Containers', 'string', 'Names of each container in the template.', 1);
const IMAGES = col('Images', 'string', 'Images referenced by each container in the template.', 1);
const SELECTOR = col('Selector', 'string', 'Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.', 1);

const n = (v: unknown): number => (typeof v === 'number' ? v : 0);

export const replicationControllerTable: TableDef = {
  columns: [
    NAME,
    col('Desired', 'integer', 'Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1.'),
    col('Current', 'integer', 'Replicas is the most recently observed number of replicas.'),
    col('Ready', 'integer', 'The number of ready replicas for this replication controller.'),
    AGE,
    CONTAINERS,
    IMAGES,
    col('Selector', 'string', 'Selector is a label query over pods that should match the Replicas count.', 1),
  ],
  row(rc, now) {
    const [cn, im] = containerCells(rc.spec?.template?.spec);
    return [name(rc), n(rc.spec?.replicas), n(rc.status?.replicas), n(rc.status?.readyReplicas), age(rc, now), cn, im, formatLabels(rc.spec?.selector)];
  },
};

export const replicaSetTable: TableDef = {
  columns: [
    NAME,
    col('Desired', 'integer', 'Replicas is the number of desired pods.'),
    col('Current', 'integer', 'Replicas is the most recently observed number of replicas.'),
    col('Ready', 'integer', 'The number of ready replicas for this replica set.'),
    AGE,
    CONTAINERS,
    IMAGES,
    col('Selector', 'string', 'Selector is a label query over pods that should match the replica count.', 1),
  ],
  row(rs, now) {
    const [cn, im] = containerCells(rs.spec?.template?.spec);
    return [name(rs), n(rs.spec?.replicas), n(rs.status?.replicas), n(rs.status?.readyReplicas), age(rs, now), cn, im, formatLabelSelector(rs.spec?.selector)];
  },
};

export const deploymentTable: TableDef = {
  columns: [
    NAME,
    col('Ready', 'string', 'Number of the pod with ready state'),
    col('Up-to-date', 'string', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.'),
    col('Available', 'string', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.'),
    AGE,
    CONTAINERS,
    IMAGES,
    SELECTOR,
  ],
  row(d, now) {
    const [cn, im] = containerCells(d.spec?.template?.spec);
    const st: Obj = d.status ?? {};
    return [name(d), `${n(st.readyReplicas)}/${n(d.spec?.replicas)}`, n(st.updatedReplicas), n(st.availableReplicas), age(d, now), cn, im, formatLabelSelector(d.spec?.selector)];
  },
};

export const daemonSetTable: TableDef = {
  columns: [
    NAME,
    col('Desired', 'integer', 'The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).'),
    col('Current', 'integer', 'The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.'),
    col('Ready', 'integer', 'numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.'),
    col('Up-to-date', 'integer', 'The total number of nodes that are running updated daemon pod'),
    col('Available', 'integer', 'The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)'),
    col('Node Selector', 'string', "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node."),
    AGE,
    CONTAINERS,
    IMAGES,
    col('Selector', 'string', 'A label query over pods that are managed by the daemon set.', 1),
  ],
  row(ds, now) {
    const [cn, im] = containerCells(ds.spec?.template?.spec);
    const st: Obj = ds.status ?? {};
    return [
      name(ds),
      n(st.desiredNumberScheduled),
      n(st.currentNumberScheduled),
      n(st.numberReady),
      n(st.updatedNumberScheduled),
      n(st.numberAvailable),
      formatLabels(ds.spec?.template?.spec?.nodeSelector),
      age(ds, now),
      cn,
      im,
      formatLabelSelector(ds.spec?.selector),
    ];
  },
};

// ---------- nodes, namespaces ----------

export function nodeRoles(node: KObject): string[] {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries((node.metadata?.labels ?? {}) as Obj)) {
    if (k.startsWith('node-role.kubernetes.io/')) {
      const r = k.slice('node-role.kubernetes.io/'.length);
      if (r) roles.add(r);
    } else if (k === 'kubernetes.io/role' && v) roles.add(String(v));
  }
  return [...roles].sort();
}

export function nodeStatusString(node: KObject): string {
  const status: string[] = [];
  const ready = list(node.status?.conditions).find((c) => c?.type === 'Ready');
  if (ready) status.push(ready.status === 'True' ? 'Ready' : 'NotReady');
  if (status.length === 0) status.push('Unknown');
  if (node.spec?.unschedulable) status.push('SchedulingDisabled');
  return status.join(',');
}

function nodeAddress(node: KObject, type: string): string {
  return list(node.status?.addresses).find((a) => a?.type === type)?.address ?? '<none>';
}

export const nodeTable: TableDef = {
  columns: [
    NAME,
    col('Status', 'string', 'The status of the node'),
    col('Roles', 'string', 'The roles of the node'),
    AGE,
    col('Version', 'string', 'Kubelet Version reported by the node.'),
    col('Internal-IP', 'string', 'List of addresses reachable to the node. Queried from cloud provider, if available.', 1),
    col('External-IP', 'string', 'List of addresses reachable to the node. Queried from cloud provider, if available.', 1),
    col('OS-Image', 'string', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', 1),
    col('Kernel-Version', 'string', "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
    col('Container-Runtime', 'string', 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).', 1),
  ],
  row(node, now) {
    const info: Obj = node.status?.nodeInfo ?? {};
    const roles = nodeRoles(node).join(',') || '<none>';
    return [
      name(node),
      nodeStatusString(node),
      roles,
      age(node, now),
      info.kubeletVersion ?? '',
      nodeAddress(node, 'InternalIP'),
      nodeAddress(node, 'ExternalIP'),
      info.osImage || '<unknown>',
      info.kernelVersion || '<unknown>',
      info.containerRuntimeVersion || '<unknown>',
    ];
  },
};

export const namespaceTable: TableDef = {
  columns: [NAME, col('Status', 'string', 'The status of the namespace'), AGE],
  row: (ns, now) => [name(ns), ns.status?.phase ?? '', age(ns, now)],
};

// ---------- endpoints, endpointslices ----------

function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function formatEndpoints(ep: KObject): string {
  const subsets = list(ep.subsets);
  if (subsets.length === 0) return '<none>';
  const out: string[] = [];
  const max = 3;
  let more = false;
  let count = 0;
  for (const ss of subsets) {
    const addrs = list(ss?.addresses);
    const ports = list(ss?.ports);
    if (ports.length === 0) {
      count += addrs.length;
      for (const a of addrs) {
        if (out.length === max) {
          more = true;
          break;
        }
        out.push(a?.ip ?? '');
      }
      continue;
    }
    for (const p of ports) {
      count += addrs.length;
      for (const a of addrs) {
        if (out.length === max) {
          more = true;
          break;
        }
        out.push(joinHostPort(a?.ip ?? '', p?.port ?? 0));
      }
    }
  }
  const s = out.join(',');
  return more ? `${s} + ${count - max} more...` : s;
}

export const endpointsTable: TableDef = {
  columns: [NAME, col('Endpoints', 'string', 'Endpoints of the Service'), AGE],
  row: (ep, now) => [name(ep), formatEndpoints(ep), age(ep, now)],
};

function listWithMore(items: string[], more: boolean, count: number, max: number): string {
  const s = items.join(',');
  if (more) return `${s} + ${count - max} more...`;
  return s === '' ? '<unset>' : s;
}

export const endpointSliceTable: TableDef = {
  columns: [
    NAME,
    col('AddressType', 'string', 'addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type.'),
    col('Ports', 'string', 'ports specifies the list of network ports exposed by each endpoint in this slice.'),
    col('Endpoints', 'string', 'endpoints is a list of unique endpoints in this slice.'),
    AGE,
  ],
  row(es, now) {
    const max = 3;
    const ports: string[] = [];
    let pc = 0;
    let pmore = false;
    for (const p of list(es.ports)) {
      if (ports.length < max) ports.push(p?.port !== undefined && p?.port !== null ? String(p.port) : p?.name ? String(p.name) : '*');
      else if (ports.length === max) pmore = true;
      pc++;
    }
    const addrs: string[] = [];
    let ac = 0;
    let amore = false;
    for (const e of list(es.endpoints))
      for (const a of list(e?.addresses)) {
        if (addrs.length < max) addrs.push(String(a));
        else if (addrs.length === max) amore = true;
        ac++;
      }
    return [name(es), es.addressType ?? '', listWithMore(ports, pmore, pc, max), listWithMore(addrs, amore, ac, max), age(es, now)];
  },
};

// ---------- events ----------

function formatEventSource(ev: KObject): string {
  const src: Obj = ev.source ?? {};
  let comp = src.component ?? '';
  let host = src.host ?? '';
  if (!comp) {
    comp = ev.reportingComponent ?? ev.reportingController ?? '';
    host = ev.reportingInstance ?? '';
  }
  return host ? `${comp}, ${host}` : comp;
}

export const eventTable: TableDef = {
  columns: [
    col('Last Seen', 'string', 'The time at which the most recent occurrence of this event was recorded.'),
    col('Type', 'string', 'Type of this event (Normal, Warning), new types could be added in the future'),
    col('Reason', 'string', "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    col('Object', 'string', 'The object that this event is about.'),
    col('Subobject', 'string', 'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].', 1),
    col('Source', 'string', 'The component reporting this event. Should be a short machine understandable string.', 1),
    col('Message', 'string', 'A human-readable description of the status of this operation.'),
    col('First Seen', 'string', 'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)', 1),
    col('Count', 'string', 'The number of times this event has occurred.', 1),
    col('Name', 'string', NAME.description, 1, 'name'),
  ],
  row(ev, now) {
    let first = since(ev.firstTimestamp, now);
    if (!ev.firstTimestamp) first = since(ev.eventTime, now);
    let last = ev.lastTimestamp ? since(ev.lastTimestamp, now) : first;
    let count = n(ev.count);
    if (isObj(ev.series)) {
      last = since(ev.series.lastObservedTime, now);
      count = n(ev.series.count);
    } else if (count === 0) count = 1;
    const io: Obj = ev.involvedObject ?? {};
    const target = io.name ? `${String(io.kind ?? '').toLowerCase()}/${io.name}` : String(io.kind ?? '').toLowerCase();
    return [last, ev.type ?? '', ev.reason ?? '', target, io.fieldPath ?? '', formatEventSource(ev), String(ev.message ?? '').trim(), first, count, name(ev)];
  },
};

// ---------- config ----------

export const configMapTable: TableDef = {
  columns: [NAME, col('Data', 'integer', 'Data contains the configuration data.'), AGE],
  row: (cm, now) => [name(cm), Object.keys(cm.data ?? {}).length + Object.keys(cm.binaryData ?? {}).length, age(cm, now)],
};

export const secretTable: TableDef = {
  columns: [NAME, col('Type', 'string', 'Used to facilitate programmatic handling of secret data.'), col('Data', 'integer', 'Data contains the secret data.'), AGE],
  row: (s, now) => [name(s), s.type ?? '', Object.keys(s.data ?? {}).length, age(s, now)],
};

export const serviceAccountTable: TableDef = {
  columns: [NAME, col('Secrets', 'integer', 'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.'), AGE],
  row: (sa, now) => [name(sa), list(sa.secrets).length, age(sa, now)],
};

export const leaseTable: TableDef = {
  columns: [NAME, col('Holder', 'string', 'holderIdentity contains the identity of the holder of a current lease.'), AGE],
  row: (l, now) => [name(l), l.spec?.holderIdentity ?? '', age(l, now)],
};

// ---------- policy ----------

export const limitRangeTable: TableDef = {
  columns: [NAME, col('Created At', 'date', AGE.description)],
  row: (lr) => [name(lr), lr.metadata?.creationTimestamp ?? null],
};

/** printResourceQuota: "used/hard" per resource, limits.* in LIMIT and the rest in REQUEST, by name. */
export const resourceQuotaTable: TableDef = {
  columns: [
    NAME,
    AGE,
    col('Request', 'string', 'Request represents a minimum amount of cpu/memory that a container may consume.'),
    col('Limit', 'string', 'Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.'),
  ],
  row: (q, now) => {
    const hard: Obj = isObj(q.status?.hard) ? q.status.hard : {};
    const used: Obj = isObj(q.status?.used) ? q.status.used : {};
    const request: string[] = [];
    const limit: string[] = [];
    for (const r of Object.keys(hard).sort()) {
      const pieces = r.split('.');
      const cell = `${r}: ${String(used[r] ?? '0')}/${String(hard[r])}`;
      if (pieces.length > 1 && pieces[0] === 'limits') limit.push(cell);
      else request.push(cell);
    }
    return [name(q), age(q, now), request.join(', '), limit.join(', ')];
  },
};

/** Fallback for anything without a printer: NAME AGE. */
export const defaultTable: TableDef = {
  columns: [NAME, AGE],
  row: (o, now) => [name(o), age(o, now)],
};
