// The apiserver's authorization: the modes of --authorization-mode over the Node and RBAC
// authorizers (auth.ts authorize), and the rules a user holds for SelfSubjectRulesReview
// (upstream's union RuleResolver). The RBAC indexes are kept whatever the modes: the
// escalation checks on roles and bindings use them even when RBAC does not authorize requests.
import type { PolicyRule } from '../../../api/rbac.js';
import { authorize, nodeNameOf, type Authorizers, type Decision, type RequestAttributes, type UserInfo } from '../auth.js';
import { DEFAULT_AUTHORIZATION_MODES, type AuthorizationMode } from './modes.js';
import type { ApiCore } from '../core.js';
import { NodeAuthorizer } from './node.js';
import { RbacAuthorizer } from './rbac.js';

export interface ResourceRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}

export interface NonResourceRule {
  verbs: string[];
  nonResourceURLs?: string[];
}

/** SelfSubjectRulesReview's status. */
export interface RulesReviewStatus {
  resourceRules: ResourceRule[];
  nonResourceRules: NonResourceRule[];
  incomplete: boolean;
  evaluationError?: string;
}

function split(rules: PolicyRule[], out: RulesReviewStatus): void {
  for (const r of rules) {
    if (r.resources?.length) {
      const rr: ResourceRule = { verbs: r.verbs };
      if (r.apiGroups?.length) rr.apiGroups = r.apiGroups;
      rr.resources = r.resources;
      if (r.resourceNames?.length) rr.resourceNames = r.resourceNames;
      out.resourceRules.push(rr);
    }
    if (r.nonResourceURLs?.length) out.nonResourceRules.push({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs });
  }
}

export class Authorization implements Authorizers {
  readonly node: NodeAuthorizer;
  readonly rbac: RbacAuthorizer;

  constructor(
    core: ApiCore,
    readonly modes: readonly AuthorizationMode[] = DEFAULT_AUTHORIZATION_MODES,
  ) {
    this.node = new NodeAuthorizer(core);
    this.rbac = new RbacAuthorizer(core);
  }

  authorize(user: UserInfo, a: RequestAttributes): Promise<Decision> {
    return authorize(user, a, this);
  }

  /** Whether the modes consult RBAC for requests (the escalation checks apply either way). */
  get rbacEnabled(): boolean {
    return this.modes.includes('RBAC');
  }

  /** RulesFor across the modes, as upstream's unionAuthzRulesHandler. */
  rulesFor(user: UserInfo, namespace: string): RulesReviewStatus {
    const out: RulesReviewStatus = { resourceRules: [], nonResourceRules: [], incomplete: false };
    const errors: string[] = [];
    for (const mode of this.modes) {
      switch (mode) {
        case 'AlwaysAllow':
          out.resourceRules.push({ verbs: ['*'], apiGroups: ['*'], resources: ['*'] });
          out.nonResourceRules.push({ verbs: ['*'], nonResourceURLs: ['*'] });
          break;
        case 'Node':
          if (nodeNameOf(user)) {
            // A node's rights depend on the pods bound to it: they cannot be listed.
            out.incomplete = true;
            errors.push('node authorizer does not support user rule resolution');
          }
          break;
        case 'RBAC': {
          const { rules, errors: e } = this.rbac.rulesFor(user, namespace);
          split(rules, out);
          errors.push(...e);
          break;
        }
        case 'AlwaysDeny':
          break;
      }
    }
    if (errors.length) {
      const uniq = [...new Set(errors)];
      out.evaluationError = uniq.length === 1 ? uniq[0] : `[${uniq.join(', ')}]`;
    }
    return out;
  }

  /** Resolves once the node graph and the RBAC indexes hold what the watch caches had at start. */
  synced(): Promise<void> {
    return Promise.all([this.node.synced(), this.rbac.synced]).then(() => undefined);
  }

  stop(): void {
    this.node.stop();
    this.rbac.stop();
  }
}
