// The RBAC authorizer (upstream's plugin/pkg/auth/authorizer/rbac with the DefaultRuleResolver
// of pkg/registry/rbac/validation), fed from the apiserver's own watch caches of the four RBAC
// kinds. Bindings are indexed by subject (user name, group name, a service account's user
// name) and, for RoleBindings, by namespace, so a decision is a handful of map lookups and
// rule checks for the bindings that name the user, however many others exist.
import type { KObject, ResourceDef } from '../../../api/registry.js';
import {
  appliesTo,
  describeSubject,
  roleRefOf,
  rulesOf,
  ruleAllows,
  subjectKey,
  subjectsOf,
  userKeys,
  type PolicyRule,
  type RoleRef,
  type RuleAttributes,
  type Subject,
} from '../../../api/rbac.js';
import type { Decision, UserInfo } from '../auth.js';
import type { ApiCore } from '../core.js';
import type { CacheEvent, WatchCache } from '../watchcache.js';

interface Binding {
  kind: 'ClusterRoleBinding' | 'RoleBinding';
  name: string;
  namespace: string;
  ref: RoleRef;
  subjects: Subject[];
  /** The index keys it is filed under (for removal). */
  keys: string[];
}

/** Where a rule came from: upstream's clusterRoleBindingDescriber / roleBindingDescriber. */
function describe(b: Binding, user: Pick<UserInfo, 'name' | 'groups'>): string {
  const s = b.subjects.find((x) => appliesTo(user, x, b.namespace)) ?? b.subjects[0];
  const who = s ? describeSubject(s, b.namespace) : '';
  const name = b.kind === 'RoleBinding' ? `${b.name}/${b.namespace}` : b.name;
  return `${b.kind} ${JSON.stringify(name)} of ${b.ref.kind} ${JSON.stringify(b.ref.name)} to ${who}`;
}

/** utilerrors.NewAggregate(errs).Error(): one message as is, several deduplicated in brackets. */
export function aggregateErrors(errs: string[]): string {
  const uniq = [...new Set(errs)];
  return uniq.length === 1 ? uniq[0]! : `[${uniq.join(', ')}]`;
}

/** Follows one watch cache: a snapshot on (re)start, then every event, as PodGraphFeed does. */
class Feed {
  private stopped = false;
  private detach?: () => void;
  readonly synced: Promise<void>;

  constructor(
    private cache: WatchCache,
    private reset: (objs: KObject[]) => void,
    private apply: (e: CacheEvent) => void,
  ) {
    this.synced = this.follow();
  }

  private async follow(): Promise<void> {
    await this.cache.ready();
    if (this.stopped) return;
    this.reset([...this.cache.objects.values()].map((e) => e.obj));
    this.detach = this.cache.addWatcher({
      deliver: (e) => this.apply(e),
      terminate: () => {
        this.detach = undefined;
        if (!this.stopped) queueMicrotask(() => void this.follow());
      },
    });
  }

  stop(): void {
    this.stopped = true;
    this.detach?.();
  }
}

const keyOf = (o: KObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class RbacAuthorizer {
  private clusterRoles = new Map<string, PolicyRule[]>();
  private roles = new Map<string, PolicyRule[]>(); // ns/name
  private clusterBindings = new Map<string, Set<Binding>>(); // subject key -> bindings
  private nsBindings = new Map<string, Map<string, Set<Binding>>>(); // ns -> subject key -> bindings
  private byObject = new Map<string, Binding>(); // kind + ns/name -> binding
  private feeds: Feed[] = [];
  readonly synced: Promise<void>;

  constructor(core: ApiCore) {
    const def = (plural: string): ResourceDef => {
      const d = core.find('rbac.authorization.k8s.io', 'v1', plural);
      if (!d) throw new Error(`resource table has no ${plural}`);
      return d;
    };
    this.feeds.push(
      this.follow(core.cache(def('clusterroles')), (o) => this.clusterRoles.set(o.metadata?.name ?? '', rulesOf(o)), (o) => this.clusterRoles.delete(o.metadata?.name ?? ''), () => this.clusterRoles.clear()),
      this.follow(core.cache(def('roles')), (o) => this.roles.set(keyOf(o), rulesOf(o)), (o) => this.roles.delete(keyOf(o)), () => this.roles.clear()),
      this.follow(core.cache(def('clusterrolebindings')), (o) => this.setBinding('ClusterRoleBinding', o), (o) => this.deleteBinding('ClusterRoleBinding', o), () => this.clearBindings('ClusterRoleBinding')),
      this.follow(core.cache(def('rolebindings')), (o) => this.setBinding('RoleBinding', o), (o) => this.deleteBinding('RoleBinding', o), () => this.clearBindings('RoleBinding')),
    );
    this.synced = Promise.all(this.feeds.map((f) => f.synced)).then(() => undefined);
  }

  private follow(cache: WatchCache, set: (o: KObject) => void, del: (o: KObject) => void, clear: () => void): Feed {
    return new Feed(
      cache,
      (objs) => {
        clear();
        for (const o of objs) set(o);
      },
      (e) => (e.type === 'DELETED' ? del(e.obj) : set(e.obj)),
    );
  }

  stop(): void {
    for (const f of this.feeds) f.stop();
  }

  // ---- the indexes

  private index(b: Binding): Map<string, Set<Binding>> {
    if (b.kind === 'ClusterRoleBinding') return this.clusterBindings;
    let m = this.nsBindings.get(b.namespace);
    if (!m) this.nsBindings.set(b.namespace, (m = new Map()));
    return m;
  }

  private setBinding(kind: Binding['kind'], o: KObject): void {
    this.deleteBinding(kind, o);
    const ref = roleRefOf(o);
    if (!ref) return;
    const namespace = kind === 'RoleBinding' ? String(o.metadata?.namespace ?? '') : '';
    const subjects = subjectsOf(o);
    const keys = [...new Set(subjects.map((s) => subjectKey(s, namespace)).filter((k): k is string => k !== undefined))];
    const b: Binding = { kind, name: String(o.metadata?.name ?? ''), namespace, ref, subjects, keys };
    const idx = this.index(b);
    for (const k of keys) {
      let set = idx.get(k);
      if (!set) idx.set(k, (set = new Set()));
      set.add(b);
    }
    this.byObject.set(kind + keyOf(o), b);
  }

  private deleteBinding(kind: Binding['kind'], o: KObject): void {
    const id = kind + keyOf(o);
    const b = this.byObject.get(id);
    if (b) this.removeBinding(id, b);
  }

  private removeBinding(id: string, b: Binding): void {
    this.byObject.delete(id);
    const idx = this.index(b);
    for (const k of b.keys) {
      const set = idx.get(k);
      set?.delete(b);
      if (set?.size === 0) idx.delete(k);
    }
    if (b.kind === 'RoleBinding' && idx.size === 0) this.nsBindings.delete(b.namespace);
  }

  private clearBindings(kind: Binding['kind']): void {
    for (const [id, b] of [...this.byObject]) if (b.kind === kind) this.removeBinding(id, b);
  }

  // ---- resolution

  /** GetRoleReferenceRules: the rules a binding's roleRef names, or why it cannot be resolved. */
  roleRefRules(ref: RoleRef, bindingNamespace: string): { rules: PolicyRule[] } | { error: string } {
    if (ref.kind === 'ClusterRole') {
      const rules = this.clusterRoles.get(ref.name);
      return rules ? { rules } : { error: `clusterrole.rbac.authorization.k8s.io ${JSON.stringify(ref.name)} not found` };
    }
    if (ref.kind === 'Role') {
      const rules = this.roles.get(`${bindingNamespace}/${ref.name}`);
      return rules ? { rules } : { error: `role.rbac.authorization.k8s.io ${JSON.stringify(ref.name)} not found` };
    }
    return { error: `unsupported role reference kind: ${JSON.stringify(ref.kind)}` };
  }

  /**
   * VisitRulesFor: calls visit for every rule of every binding naming the user (cluster-wide,
   * then in `namespace`), and onError for each roleRef that does not resolve; stops when visit
   * returns false.
   */
  private visit(user: Pick<UserInfo, 'name' | 'groups'>, namespace: string | undefined, visit: (b: Binding, r: PolicyRule) => boolean, onError: (e: string) => void): void {
    const keys = userKeys(user);
    const scopes = [this.clusterBindings];
    const ns = namespace ? this.nsBindings.get(namespace) : undefined;
    if (ns) scopes.push(ns);
    for (const idx of scopes) {
      // A binding naming the user and one of its groups is visited once.
      let seen: Set<Binding> | undefined;
      for (const k of keys) {
        const set = idx.get(k);
        if (!set) continue;
        for (const b of set) {
          if (seen?.has(b)) continue;
          (seen ??= new Set()).add(b);
          const res = this.roleRefRules(b.ref, b.namespace);
          if ('error' in res) {
            onError(res.error);
            continue;
          }
          for (const r of res.rules) if (!visit(b, r)) return;
        }
      }
    }
  }

  authorize(user: UserInfo, a: RuleAttributes & { namespace?: string }): Decision {
    let allowedBy: Binding | undefined;
    const errors: string[] = [];
    this.visit(
      user,
      a.path === undefined ? a.namespace : undefined,
      (b, r) => {
        if (!ruleAllows(a, r)) return true;
        allowedBy = b;
        return false;
      },
      (e) => errors.push(e),
    );
    if (allowedBy) return { allowed: true, reason: `RBAC: allowed by ${describe(allowedBy, user)}` };
    return errors.length ? { allowed: false, reason: `RBAC: ${aggregateErrors(errors)}` } : { allowed: false };
  }

  /** RulesFor: every rule the user holds cluster-wide and in `namespace`, and the resolution errors. */
  rulesFor(user: Pick<UserInfo, 'name' | 'groups'>, namespace: string): { rules: PolicyRule[]; errors: string[] } {
    const rules: PolicyRule[] = [];
    const errors: string[] = [];
    this.visit(
      user,
      namespace,
      (_b, r) => {
        rules.push(r);
        return true;
      },
      (e) => errors.push(e),
    );
    return { rules, errors };
  }
}
