// Defaulting as upstream's SetDefaults_* (pkg/apis/*/v1/defaults.go) plus the bits of admission
// that every real cluster runs (ServiceAccount, DefaultTolerationSeconds, Priority), so stored
// objects look the way kubectl users expect.
import type { KObject } from './registry.js';
import { compareQuantity } from './quantity.js';
import { hasOwn, isPlainObject, ownValue, setOwn, type JsonObject } from './object.js';
import { isMirrorPod } from './podrefs.js';

type Obj = JsonObject;

function obj(o: Obj, k: string): Obj {
  const v = ownValue(o, k);
  if (isPlainObject(v)) return v;
  const fresh = {};
  setOwn(o, k, fresh);
  return fresh;
}

function arr(v: unknown): Obj[] {
  return Array.isArray(v) ? (v as Obj[]) : [];
}

/** Always for ":latest" or no tag (and no digest), IfNotPresent otherwise. */
export function defaultImagePullPolicy(image: string | undefined): 'Always' | 'IfNotPresent' {
  if (!image) return 'Always';
  if (image.includes('@')) return 'IfNotPresent';
  const lastSlash = image.lastIndexOf('/');
  const tail = image.slice(lastSlash + 1);
  const colon = tail.lastIndexOf(':');
  if (colon < 0) return 'Always';
  return tail.slice(colon + 1) === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultProbe(p: Obj | undefined): void {
  if (!p || typeof p !== 'object') return;
  p.timeoutSeconds ??= 1;
  p.periodSeconds ??= 10;
  p.successThreshold ??= 1;
  p.failureThreshold ??= 3;
  defaultHandler(p);
}

function defaultHandler(h: Obj | undefined): void {
  if (!h || typeof h !== 'object') return;
  if (h.httpGet && typeof h.httpGet === 'object') {
    h.httpGet.path ??= '/';
    h.httpGet.scheme ??= 'HTTP';
  }
}

function defaultEnv(env: unknown): void {
  for (const e of arr(env)) {
    const fr = e?.valueFrom?.fieldRef;
    if (fr && typeof fr === 'object') fr.apiVersion ??= 'v1';
  }
}

export function defaultContainer(c: Obj, hostNetwork: boolean): void {
  if (!c || typeof c !== 'object') return;
  c.imagePullPolicy ??= defaultImagePullPolicy(c.image);
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  // The internal type holds resources by value, so upstream always serializes "resources: {}".
  if (c.resources === undefined || c.resources === null) c.resources = {};
  for (const p of arr(c.ports)) {
    if (!p || typeof p !== 'object') continue;
    p.protocol ??= 'TCP';
    if (hostNetwork && p.hostPort === undefined && p.containerPort !== undefined) p.hostPort = p.containerPort;
  }
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
  if (c.lifecycle && typeof c.lifecycle === 'object') {
    defaultHandler(c.lifecycle.postStart);
    defaultHandler(c.lifecycle.preStop);
  }
  defaultEnv(c.env);
}

function defaultVolume(v: Obj): void {
  if (!v || typeof v !== 'object') return;
  const sources = Object.keys(v).filter((k) => k !== 'name');
  if (sources.length === 0) v.emptyDir = {};
  if (v.secret && typeof v.secret === 'object') v.secret.defaultMode ??= 420;
  if (v.configMap && typeof v.configMap === 'object') v.configMap.defaultMode ??= 420;
  if (v.downwardAPI && typeof v.downwardAPI === 'object') {
    v.downwardAPI.defaultMode ??= 420;
    for (const it of arr(v.downwardAPI.items)) if (it?.fieldRef) it.fieldRef.apiVersion ??= 'v1';
  }
  if (v.projected && typeof v.projected === 'object') v.projected.defaultMode ??= 420;
  if (v.hostPath && typeof v.hostPath === 'object') v.hostPath.type ??= '';
}

/** SetDefaults_PodSpec + container/volume defaults: applies to Pods and pod templates alike. */
export function defaultPodSpec(spec: Obj): void {
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.restartPolicy ??= 'Always';
  if (spec.securityContext === undefined || spec.securityContext === null) spec.securityContext = {};
  spec.terminationGracePeriodSeconds ??= 30;
  spec.schedulerName ??= 'default-scheduler';
  const hostNetwork = spec.hostNetwork === true;
  for (const c of arr(spec.initContainers)) defaultContainer(c, hostNetwork);
  for (const c of arr(spec.containers)) defaultContainer(c, hostNetwork);
  for (const c of arr(spec.ephemeralContainers)) defaultContainer(c, false);
  for (const v of arr(spec.volumes)) defaultVolume(v);
}

export const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';
export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';

function tolerates(tols: Obj[], key: string): boolean {
  return tols.some(
    (t) =>
      (t.operator === 'Exists' && (t.key === undefined || t.key === '') && (!t.effect || t.effect === 'NoExecute')) ||
      (t.key === key && (!t.effect || t.effect === 'NoExecute')),
  );
}

/** Pod-only defaults (SetDefaults_Pod) plus the admission plugins every cluster runs. */
export function defaultPod(pod: KObject): void {
  const spec = obj(pod, 'spec');
  defaultPodSpec(spec);
  spec.enableServiceLinks ??= true;
  // Requests default to limits where only limits are given.
  for (const c of [...arr(spec.containers), ...arr(spec.initContainers)]) {
    const lim = c?.resources?.limits;
    if (lim && typeof lim === 'object') {
      const req = obj(c.resources, 'requests');
      for (const [k, v] of Object.entries(lim)) if (!hasOwn(req, k) || req[k] === undefined) setOwn(req, k, v);
    }
  }
  // v1's deprecated serviceAccount, then ServiceAccount admission's default, which leaves
  // mirror pods alone (NodeRestriction refuses mirror pods that name a service account).
  if (!spec.serviceAccountName && spec.serviceAccount) spec.serviceAccountName = spec.serviceAccount;
  if (!spec.serviceAccountName && !isMirrorPod(pod)) spec.serviceAccountName = 'default';
  if (spec.serviceAccountName) spec.serviceAccount ??= spec.serviceAccountName;
  // DefaultTolerationSeconds admission.
  const tols: Obj[] = Array.isArray(spec.tolerations) ? spec.tolerations : [];
  for (const key of [NOT_READY_TAINT, UNREACHABLE_TAINT]) {
    if (!tolerates(tols, key)) tols.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 });
  }
  spec.tolerations = tols;
  // Priority admission with no PriorityClass.
  if (spec.priority === undefined && !spec.priorityClassName) spec.priority = 0;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
  // Upstream computes the QoS class when the pod is created; it never changes afterwards.
  if (pod.status && typeof pod.status === 'object' && !Array.isArray(pod.status) && !pod.status.qosClass) {
    pod.status.qosClass = podQOSClass(pod);
  }
}

function defaultTemplate(spec: Obj): void {
  const tmpl = spec.template;
  if (tmpl && typeof tmpl === 'object') defaultPodSpec(obj(tmpl, 'spec'));
}

export function defaultReplicationController(rc: KObject): void {
  const spec = obj(rc, 'spec');
  const labels = spec.template?.metadata?.labels;
  if (labels && typeof labels === 'object') {
    if (!spec.selector || Object.keys(spec.selector).length === 0) spec.selector = { ...labels };
    const meta = obj(rc, 'metadata');
    if (!meta.labels || Object.keys(meta.labels).length === 0) meta.labels = { ...labels };
  }
  spec.replicas ??= 1;
  defaultTemplate(spec);
}

export function defaultReplicaSet(rs: KObject): void {
  const spec = obj(rs, 'spec');
  spec.replicas ??= 1;
  defaultTemplate(spec);
}

export function defaultDeployment(d: KObject): void {
  const spec = obj(d, 'spec');
  spec.replicas ??= 1;
  const strategy = obj(spec, 'strategy');
  strategy.type ??= 'RollingUpdate';
  if (strategy.type === 'RollingUpdate') {
    const ru = obj(strategy, 'rollingUpdate');
    ru.maxUnavailable ??= '25%';
    ru.maxSurge ??= '25%';
  }
  spec.revisionHistoryLimit ??= 10;
  spec.progressDeadlineSeconds ??= 600;
  defaultTemplate(spec);
}

export function defaultDaemonSet(ds: KObject): void {
  const spec = obj(ds, 'spec');
  const us = obj(spec, 'updateStrategy');
  us.type ??= 'RollingUpdate';
  if (us.type === 'RollingUpdate') {
    const ru = obj(us, 'rollingUpdate');
    ru.maxUnavailable ??= 1;
    ru.maxSurge ??= 0;
  }
  spec.revisionHistoryLimit ??= 10;
  defaultTemplate(spec);
}

export function defaultService(svc: KObject): void {
  const spec = obj(svc, 'spec');
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  if (spec.sessionAffinity === 'ClientIP') {
    const cfg = obj(obj(spec, 'sessionAffinityConfig'), 'clientIP');
    cfg.timeoutSeconds ??= 10800;
  }
  for (const p of arr(spec.ports)) {
    if (!p || typeof p !== 'object') continue;
    p.protocol ??= 'TCP';
    if (p.targetPort === undefined || p.targetPort === null || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
  }
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') spec.externalTrafficPolicy ??= 'Cluster';
  if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
  if (spec.type !== 'ExternalName') {
    spec.internalTrafficPolicy ??= 'Cluster';
    spec.ipFamilyPolicy ??= 'SingleStack';
    if (!Array.isArray(spec.ipFamilies) || spec.ipFamilies.length === 0) {
      const ip = typeof spec.clusterIP === 'string' && spec.clusterIP.includes(':') ? 'IPv6' : 'IPv4';
      spec.ipFamilies = [ip];
    }
    if (typeof spec.clusterIP === 'string' && spec.clusterIP !== '' && !Array.isArray(spec.clusterIPs)) spec.clusterIPs = [spec.clusterIP];
  }
}

export function defaultNamespace(ns: KObject): void {
  const meta = obj(ns, 'metadata');
  if (meta.name) obj(meta, 'labels')['kubernetes.io/metadata.name'] = meta.name;
  const spec = obj(ns, 'spec');
  if (!Array.isArray(spec.finalizers)) spec.finalizers = ['kubernetes'];
  const status = obj(ns, 'status');
  status.phase ??= 'Active';
}

export function defaultNode(node: KObject): void {
  // podCIDR and podCIDRs are kept in sync, as the v1 conversion does.
  const spec = node.spec;
  if (spec && typeof spec === 'object' && !Array.isArray(spec)) {
    if (spec.podCIDR && (!Array.isArray(spec.podCIDRs) || spec.podCIDRs.length === 0)) spec.podCIDRs = [spec.podCIDR];
    else if (!spec.podCIDR && Array.isArray(spec.podCIDRs) && spec.podCIDRs.length) spec.podCIDR = spec.podCIDRs[0];
  }
  const status = node.status;
  if (status && typeof status === 'object' && status.capacity && !status.allocatable) status.allocatable = { ...status.capacity };
}

export function defaultSecret(s: KObject): void {
  s.type ??= 'Opaque';
  // stringData is write-only: upstream's v1 conversion folds it into data (base64) and drops it.
  const sd = s.stringData;
  if (sd && typeof sd === 'object' && !Array.isArray(sd)) {
    const data = s.data && typeof s.data === 'object' && !Array.isArray(s.data) ? s.data : (s.data = {});
    for (const [k, v] of Object.entries(sd)) setOwn(data, k, Buffer.from(String(v), 'utf8').toString('base64'));
    delete s.stringData;
  }
}

export function defaultEndpoints(ep: KObject): void {
  for (const ss of arr(ep.subsets)) for (const p of arr(ss?.ports)) if (p && typeof p === 'object') p.protocol ??= 'TCP';
}

export function defaultEndpointSlice(es: KObject): void {
  for (const p of arr(es.ports)) {
    if (!p || typeof p !== 'object') continue;
    p.name ??= '';
    p.protocol ??= 'TCP';
  }
}

function sameQuantity(a: unknown, b: unknown): boolean {
  try {
    return compareQuantity(a as string, b as string) === 0;
  } catch {
    return String(a) === String(b);
  }
}

/** qos.GetPodQOS: Guaranteed / Burstable / BestEffort from requests and limits. */
export function podQOSClass(pod: KObject): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const containers = [...arr(pod.spec?.containers), ...arr(pod.spec?.initContainers)];
  let any = false;
  let guaranteed = true;
  for (const c of containers) {
    const req: Obj = c?.resources?.requests ?? {};
    const lim: Obj = c?.resources?.limits ?? {};
    const names = ['cpu', 'memory'];
    for (const n of names) {
      if (req[n] !== undefined || lim[n] !== undefined) any = true;
      if (lim[n] === undefined) guaranteed = false;
      else if (req[n] !== undefined && !sameQuantity(req[n], lim[n])) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
