// Root CA publisher (after upstream pkg/controller/certificates/rootcacertpublisher): every
// namespace holds a ConfigMap kube-root-ca.crt with the cluster CA under ca.crt, so pods can
// verify the apiserver at kubernetes.default.svc. Put back when deleted or edited; left out
// of namespaces being deleted.
import type { V1ConfigMap, V1Namespace } from '@kubernetes/client-node';
import { errorCode, rawRequest } from './base/clients.js';
import { Controller, type ControllerContext } from './base/controller.js';
import type { SharedInformer } from './base/informer.js';

export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
export const DESCRIPTION_ANNOTATION = 'kubernetes.io/description';
export const DESCRIPTION =
  'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. ' +
  'No other usage is guaranteed across distributions of Kubernetes clusters.';

export class RootCACertPublisher extends Controller {
  private namespaces!: SharedInformer<V1Namespace>;
  private configMaps!: SharedInformer<V1ConfigMap>;

  constructor(
    ctx: ControllerContext,
    private readonly rootCA: string,
  ) {
    super('root-ca-cert-publisher', ctx, 1);
  }

  register(): void {
    this.namespaces = this.ctx.informers.get<V1Namespace>('namespaces');
    // Only the one ConfigMap per namespace: the publisher needs no cache of every ConfigMap.
    this.configMaps = this.ctx.informers.get<V1ConfigMap>('configmaps', undefined, `metadata.name=${ROOT_CA_CONFIGMAP}`);
    this.namespaces.addHandlers({
      add: (n) => this.enqueue(n.metadata?.name),
      update: (_o, n) => !n.metadata?.deletionTimestamp && this.enqueue(n.metadata?.name),
    });
    const cmChanged = (cm: V1ConfigMap) => cm.metadata?.name === ROOT_CA_CONFIGMAP && this.enqueue(cm.metadata.namespace);
    this.configMaps.addHandlers({ update: (_o, cm) => cmChanged(cm), delete: cmChanged });
  }

  async sync(namespace: string): Promise<void> {
    const ns = this.namespaces.get(namespace);
    if (!ns || ns.metadata?.deletionTimestamp) return;
    const kc = this.ctx.clients.kc;
    const data = { 'ca.crt': this.rootCA };
    const cm = this.configMaps.getByName(namespace, ROOT_CA_CONFIGMAP);
    if (!cm) {
      const body = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: ROOT_CA_CONFIGMAP, namespace, annotations: { [DESCRIPTION_ANNOTATION]: DESCRIPTION } },
        data,
      };
      try {
        await rawRequest(kc, 'POST', `/api/v1/namespaces/${namespace}/configmaps`, body);
      } catch (err) {
        // gone, or being deleted since the cache saw it (403 NamespaceTerminating): nothing to publish
        const code = errorCode(err);
        if (code === 404 || code === 403) return;
        // 409: it exists and the informer has not shown it yet; its event brings us back
        if (code !== 409) throw err;
      }
      return;
    }
    const cur = cm.data ?? {};
    if (Object.keys(cur).length === 1 && cur['ca.crt'] === this.rootCA && cm.metadata?.annotations?.[DESCRIPTION_ANNOTATION]) return;
    const body = {
      ...cm,
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { ...cm.metadata, annotations: { ...(cm.metadata?.annotations ?? {}), [DESCRIPTION_ANNOTATION]: DESCRIPTION } },
      data,
    };
    try {
      await rawRequest(kc, 'PUT', `/api/v1/namespaces/${namespace}/configmaps/${ROOT_CA_CONFIGMAP}`, body);
    } catch (err) {
      if (errorCode(err) !== 404) throw err; // a 409 retries once the cache has the newer version
    }
  }
}
