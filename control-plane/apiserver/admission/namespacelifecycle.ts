// NamespaceLifecycle (upstream's k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle):
// nothing is written into a namespace that does not exist (404), nothing is created in one
// being terminated, and the system namespaces cannot be deleted. Namespaces themselves,
// cluster-scoped objects, deletes and access reviews (which must not reveal whether a
// namespace exists) pass.
import { StatusError, notFound } from '../../../api/status.js';
import type { ApiCore } from '../core.js';
import { admissionForbidden, type AdmissionAttributes, type AdmissionPlugin } from './index.js';
import { cachedNamespace, getNamespace } from './lookup.js';
import type { KObject } from '../../../api/registry.js';

const IMMORTAL = new Set(['default', 'kube-system', 'kube-public']);
const ACCESS_REVIEWS = new Set(['authorization.k8s.io/localsubjectaccessreviews']);

export class NamespaceLifecycle implements AdmissionPlugin {
  readonly name = 'NamespaceLifecycle';

  constructor(private readonly core: ApiCore) {}

  admit(a: AdmissionAttributes): void | Promise<void> {
    const isNamespace = a.def.group === '' && a.def.plural === 'namespaces';
    if (isNamespace) {
      if (a.operation === 'DELETE' && IMMORTAL.has(a.name)) throw admissionForbidden(a, 'this namespace may not be deleted');
      return;
    }
    if (!a.namespace || a.operation === 'DELETE' || ACCESS_REVIEWS.has(`${a.def.group}/${a.def.plural}`)) return;
    const ns = cachedNamespace(this.core, a.namespace);
    if (ns) return this.check(a, ns);
    return getNamespace(this.core, a.namespace).then((n) => this.check(a, n));
  }

  private check(a: AdmissionAttributes, ns: KObject | undefined): void {
    if (!ns) throw new StatusError(notFound(this.core.nsDef, a.namespace!));
    if (a.operation === 'CREATE' && ns.status?.phase === 'Terminating') {
      const err = admissionForbidden(a, `unable to create new content in namespace ${a.namespace} because it is being terminated`);
      const details = err.status.body.details;
      if (details) details.causes = [{ reason: 'NamespaceTerminating', message: `namespace ${a.namespace} is being terminated`, field: 'metadata.namespace' }];
      throw err;
    }
  }
}
