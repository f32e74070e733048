// PodSecurity (upstream's k8s.io/pod-security-admission, in-tree as plugin/pkg/admission/
// security/podsecurity): a namespace's pod-security.kubernetes.io/{enforce,audit,warn}
// labels (and their -version labels) choose a Pod Security Standard for each mode. Pods that
// violate the enforce level are refused ("violates PodSecurity \"restricted:latest\": ...");
// the warn level answers with a Warning header the client prints; the audit level is
// recorded (upstream puts it in the audit event; k8ts has no audit log, so the apiserver
// logs it). Workload objects (ReplicationControllers, ReplicaSets, Deployments, DaemonSets)
// are checked for warn and audit only. Namespace labels are validated, and raising a
// namespace's enforce level warns about the pods already there that would not pass.
import {
  evaluatePod,
  forbiddenDetail,
  forbiddenReason,
  fullyPrivileged,
  levelVersionString,
  policyToEvaluate,
  PRIVILEGED_POLICY,
  sameLevelVersion,
  compareLevels,
  type Evaluation,
  type LevelVersion,
  type Policy,
} from '../../../api/podsecurity.js';
import type { FieldError, KObject } from '../../../api/registry.js';
import { StatusError, internalError, invalid } from '../../../api/status.js';
import { logger } from '../../../api/log.js';
import type { ApiCore } from '../core.js';
import { admissionForbidden, type AdmissionAttributes, type AdmissionPlugin } from './index.js';
import { cachedNamespace, getNamespace } from './lookup.js';

const log = logger('pod-security');

export interface PodSecurityConfig {
  defaults: Policy;
  exemptions: { usernames: string[]; namespaces: string[]; runtimeClasses: string[] };
}

export const DEFAULT_POD_SECURITY_CONFIG: PodSecurityConfig = { defaults: PRIVILEGED_POLICY, exemptions: { usernames: [], namespaces: [], runtimeClasses: [] } };

/** Pod subresources that cannot change what the checks look at. */
const IGNORED_POD_SUBRESOURCES = new Set(['exec', 'attach', 'binding', 'eviction', 'log', 'portforward', 'proxy', 'status']);
const POD_CONTROLLERS = new Set(['/replicationcontrollers', 'apps/replicasets', 'apps/deployments', 'apps/daemonsets', 'apps/statefulsets', 'batch/jobs', 'batch/cronjobs', '/podtemplates']);
const MAX_PODS_TO_CHECK = 3000;
const POD_CHECK_BUDGET_MS = 1000;

/** The pod template of a workload object (a CronJob's is one level deeper). */
function templateOf(o: KObject): { meta: KObject; spec: KObject } | undefined {
  const t = o.kind === 'CronJob' ? o.spec?.jobTemplate?.spec?.template : o.kind === 'PodTemplate' ? o.template : o.spec?.template;
  if (!t || typeof t !== 'object') return undefined;
  return { meta: t.metadata ?? {}, spec: t.spec ?? {} };
}

const images = (l: unknown): string[] => (Array.isArray(l) ? l.map((c: KObject) => String(c?.image ?? '')) : []);

/** isSignificantPodUpdate: only images, container counts and new ephemeral containers change what is checked. */
function significantPodUpdate(pod: KObject, old: KObject): boolean {
  const a = pod.spec ?? {};
  const b = old.spec ?? {};
  for (const k of ['containers', 'initContainers']) {
    const x = images(a[k]);
    const y = images(b[k]);
    if (x.length !== y.length || x.some((img, i) => img !== y[i])) return true;
  }
  const oldEphemeral = new Map<string, string>((Array.isArray(b.ephemeralContainers) ? b.ephemeralContainers : []).map((c: KObject) => [String(c?.name), String(c?.image ?? '')]));
  for (const c of Array.isArray(a.ephemeralContainers) ? a.ephemeralContainers : []) {
    const prev = oldEphemeral.get(String(c?.name));
    if (prev === undefined || prev !== String(c?.image ?? '')) return true;
  }
  return false;
}

const sameErrors = (a: FieldError[], b: FieldError[]) => JSON.stringify(a) === JSON.stringify(b);

export class PodSecurity implements AdmissionPlugin {
  readonly name = 'PodSecurity';

  constructor(
    private readonly core: ApiCore,
    private readonly config: PodSecurityConfig = DEFAULT_POD_SECURITY_CONFIG,
  ) {}

  validate(a: AdmissionAttributes): void | Promise<void> {
    if ((a.operation !== 'CREATE' && a.operation !== 'UPDATE') || !a.obj) return;
    const gr = `${a.def.group}/${a.def.plural}`;
    if (gr === '/namespaces') return this.validateNamespace(a);
    if (gr === '/pods') return this.validatePod(a);
    if (POD_CONTROLLERS.has(gr)) return this.validatePodController(a);
  }

  private policy(labels: unknown): { policy: Policy; errors: FieldError[] } {
    return policyToEvaluate(labels as KObject, this.config.defaults);
  }

  // Namespaces come from the watch cache, whose objects are never changed: resolve each one's labels once.
  private readonly policies = new WeakMap<KObject, { policy: Policy; errors: FieldError[] }>();

  private exemptNamespace(ns: string | undefined): boolean {
    return !!ns && this.config.exemptions.namespaces.includes(ns);
  }

  private async validateNamespace(a: AdmissionAttributes): Promise<void> {
    if (a.subresource) return;
    const ns = a.obj!;
    const { policy, errors } = this.policy(ns.metadata?.labels);
    const refuse = () => new StatusError(invalid('Namespace', a.name, errors));
    if (a.operation === 'CREATE') {
      if (errors.length) throw refuse();
      if (this.exemptNamespace(a.name)) this.warnExempt(a, policy, ns.metadata?.labels);
      return;
    }
    const old = this.policy(a.old?.metadata?.labels);
    if (errors.length && (!old.errors.length || !sameErrors(errors, old.errors))) throw refuse();
    // Existing pods are looked at only when the enforce level became stricter.
    const ne = policy.enforce;
    const oe = old.policy.enforce;
    const sameVersion = ne.version.minor === oe.version.minor && !!ne.version.latest === !!oe.version.latest;
    if (ne.level === oe.level && sameVersion) return;
    if (ne.level === 'privileged') return;
    if (sameVersion && compareLevels(ne.level, oe.level) < 1) return;
    if (this.exemptNamespace(a.name)) {
      this.warnExempt(a, policy, ns.metadata?.labels);
      return;
    }
    a.warnings?.push(...(await this.evaluatePodsInNamespace(a.name, ne)));
  }

  /** "namespace \"x\" is exempt from Pod Security, and the policy (enforce=restricted:latest) will be ignored". */
  private warnExempt(a: AdmissionAttributes, p: Policy, labels: KObject | undefined): void {
    const d = this.config.defaults;
    if (fullyPrivileged(p) || (sameLevelVersion(p.enforce, d.enforce) && sameLevelVersion(p.audit, d.audit) && sameLevelVersion(p.warn, d.warn))) return;
    const l = labels ?? {};
    const has = (k: string) => Object.prototype.hasOwnProperty.call(l, `pod-security.kubernetes.io/${k}`);
    const parts: string[] = [];
    for (const mode of ['enforce', 'audit', 'warn'] as const) {
      if (p[mode].level !== 'privileged' && (has(mode) || has(`${mode}-version`))) parts.push(`${mode}=${levelVersionString(p[mode])}`);
    }
    a.warnings?.push(`namespace ${JSON.stringify(a.name)} is exempt from Pod Security, and the policy (${parts.join(', ')}) will be ignored`);
  }

  private async evaluatePodsInNamespace(namespace: string, enforce: LevelVersion): Promise<string[]> {
    const deadline = Date.now() + POD_CHECK_BUDGET_MS;
    const podDef = this.core.find('', 'v1', 'pods')!;
    let pods: KObject[];
    try {
      pods = (await this.core.list(podDef, { namespace, selectors: {}, resourceVersion: '0' })).items;
    } catch (err) {
      log.error({ err: String(err), namespace }, 'failed to list pods');
      return ['failed to list pods while checking new PodSecurity enforce level'];
    }
    // One pod per controller first, so a few checks cover many workloads.
    const first: KObject[] = [];
    const rest: KObject[] = [];
    const seen = new Set<string>();
    for (const p of pods) {
      if (this.exemptRuntimeClass(p.spec?.runtimeClassName)) continue;
      const owner = (Array.isArray(p.metadata?.ownerReferences) ? p.metadata.ownerReferences : []).find((r: KObject) => r?.controller === true);
      if (!owner) first.push(p);
      else if (seen.has(String(owner.uid))) rest.push(p);
      else {
        seen.add(String(owner.uid));
        first.push(p);
      }
    }
    const ordered = [...first, ...rest];
    const total = ordered.length;
    const toCheck = ordered.slice(0, MAX_PODS_TO_CHECK);
    let checked = toCheck.length;
    const byWarning = new Map<string, { pod: string; count: number }>();
    const order: string[] = [];
    for (let i = 0; i < toCheck.length; i++) {
      const pod = toCheck[i]!;
      const r = evaluatePod(enforce, pod.metadata, pod.spec);
      if (!r.allowed) {
        const w = forbiddenReason(r);
        const name = String(pod.metadata?.name ?? '');
        const c = byWarning.get(w);
        if (!c) {
          byWarning.set(w, { pod: name, count: 1 });
          order.push(w);
        } else {
          c.count++;
          if (name < c.pod) c.pod = name;
        }
      }
      if (Date.now() > deadline) {
        checked = i + 1;
        break;
      }
    }
    const out: string[] = [];
    if (checked < total) out.push(`new PodSecurity enforce level only checked against the first ${checked} of ${total} existing pods`);
    if (order.length) out.push(`existing pods in namespace ${JSON.stringify(namespace)} violate the new PodSecurity enforce level ${JSON.stringify(levelVersionString(enforce))}`);
    const decorated = order.map((w) => {
      const c = byWarning.get(w)!;
      if (c.count === 1) return `${c.pod}: ${w}`;
      if (c.count === 2) return `${c.pod} (and 1 other pod): ${w}`;
      return `${c.pod} (and ${c.count - 1} other pods): ${w}`;
    });
    return [...out, ...decorated.sort()];
  }

  private exemptRuntimeClass(rc: unknown): boolean {
    return typeof rc === 'string' && rc !== '' && this.config.exemptions.runtimeClasses.includes(rc);
  }

  private policyOf(a: AdmissionAttributes, ns: KObject | undefined): { policy: Policy; errors: FieldError[] } {
    if (!ns) throw new StatusError(internalError(`failed to lookup namespace ${JSON.stringify(a.namespace)}`));
    let p = this.policies.get(ns);
    if (!p) this.policies.set(ns, (p = this.policy(ns.metadata?.labels)));
    return p;
  }

  /** Runs `fn` with the namespace's policy: at once when the namespace is in the cache (nearly always). */
  private withPolicy(a: AdmissionAttributes, fn: (p: { policy: Policy; errors: FieldError[] }) => void): void | Promise<void> {
    const ns = cachedNamespace(this.core, a.namespace!);
    if (ns) return fn(this.policyOf(a, ns));
    return getNamespace(this.core, a.namespace!).then((n) => fn(this.policyOf(a, n)));
  }

  private validatePod(a: AdmissionAttributes): void | Promise<void> {
    if (a.subresource && IGNORED_POD_SUBRESOURCES.has(a.subresource)) return;
    if (this.exemptNamespace(a.namespace) || this.config.exemptions.usernames.includes(a.user.name)) return;
    return this.withPolicy(a, ({ policy, errors }) => {
      if (!errors.length && fullyPrivileged(policy)) return;
      if (a.operation === 'UPDATE' && a.old && !significantPodUpdate(a.obj!, a.old)) return;
      this.evaluate(a, policy, errors, a.obj!.metadata ?? {}, a.obj!.spec ?? {}, true);
    });
  }

  private validatePodController(a: AdmissionAttributes): void | Promise<void> {
    if (a.subresource) return;
    if (this.exemptNamespace(a.namespace) || this.config.exemptions.usernames.includes(a.user.name)) return;
    return this.withPolicy(a, ({ policy, errors }) => {
      if (!errors.length && policy.warn.level === 'privileged' && policy.audit.level === 'privileged') return;
      const t = templateOf(a.obj!);
      if (t) this.evaluate(a, policy, errors, t.meta, t.spec, false);
    });
  }

  /** EvaluatePod: enforce (pods only), then audit, then warn unless refused. */
  private evaluate(a: AdmissionAttributes, policy: Policy, errors: FieldError[], meta: KObject, spec: KObject, enforce: boolean): void {
    if (this.exemptRuntimeClass(spec.runtimeClassName)) return;
    const audit: Record<string, string> = {};
    if (errors.length) audit.error = `Failed to parse policy: ${errors.map((e) => e.message).join(', ')}`;
    const results = new Map<string, Evaluation>();
    const run = (lv: LevelVersion) => {
      const k = levelVersionString(lv);
      let r = results.get(k);
      if (!r) results.set(k, (r = evaluatePod(lv, meta, spec)));
      return r;
    };
    let refusal: StatusError | undefined;
    if (enforce) {
      const r = run(policy.enforce);
      if (!r.allowed) refusal = admissionForbidden(a, `violates PodSecurity ${JSON.stringify(levelVersionString(policy.enforce))}: ${forbiddenDetail(r)}`);
    }
    const ar = run(policy.audit);
    if (!ar.allowed) audit['pod-security.kubernetes.io/audit-violations'] = `would violate PodSecurity ${JSON.stringify(levelVersionString(policy.audit))}: ${forbiddenDetail(ar)}`;
    if (Object.keys(audit).length) {
      log.info({ user: a.user.name, verb: a.operation.toLowerCase(), resource: a.def.plural, namespace: a.namespace, name: a.name, annotations: audit }, 'pod security audit');
    }
    if (refusal) throw refusal;
    const wr = run(policy.warn);
    if (!wr.allowed) a.warnings?.push(`would violate PodSecurity ${JSON.stringify(levelVersionString(policy.warn))}: ${forbiddenDetail(wr)}`);
  }
}
