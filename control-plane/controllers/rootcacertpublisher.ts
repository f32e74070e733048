// Root CA publisher (after upstream pkg/controller/certificates/rootcacertpublisher): every
// namespace holds a ConfigMap kube-root-ca.crt with the cluster CA under ca.crt, so pods can
// verify the apiserver at kubernetes.default.svc. Put back when deleted or edited; left out
// of namespaces being deleted.
import type { ConfigMap, Namespace } from 'kubernetes-types/core/v1.js';
import { isAlreadyExists, isForbidden, isNotFound, type SharedIndexInformer } from '../../client/index.js';
import { Controller, type ControllerContext } from './base/controller.js';

export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
export const DESCRIPTION_ANNOTATION = 'kubernetes.io/description';
export const DESCRIPTION =
  'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. ' +
  'No other usage is guaranteed across distributions of Kubernetes clusters.';

export class RootCACertPublisher extends Controller {
  private namespaces!: SharedIndexInformer<Namespace>;
  private configMaps!: SharedIndexInformer<ConfigMap>;

  constructor(
    ctx: ControllerContext,
    private readonly rootCA: string,
  ) {
    super('root-ca-cert-publisher', ctx, 1);
  }

  register(): void {
    this.namespaces = this.ctx.informers.get('namespaces');
    // Only the one ConfigMap per namespace: the publisher needs no cache of every ConfigMap.
    this.configMaps = this.ctx.informers.get('configmaps', { fieldSelector: `metadata.name=${ROOT_CA_CONFIGMAP}` });
    this.namespaces.addEventHandler({
      add: (n) => this.enqueue(n.metadata?.name),
      update: (_o, n) => !n.metadata?.deletionTimestamp && this.enqueue(n.metadata?.name),
    });
    const cmChanged = (cm: ConfigMap) => cm.metadata?.name === ROOT_CA_CONFIGMAP && this.enqueue(cm.metadata.namespace);
    this.configMaps.addEventHandler({ update: (_o, cm) => cmChanged(cm), delete: cmChanged });
  }

  async sync(namespace: string): Promise<void> {
    const ns = this.namespaces.get(namespace);
    if (!ns || ns.metadata?.deletionTimestamp) return;
    const configMaps = this.ctx.client.configmaps.namespace(namespace);
    const data = { 'ca.crt': this.rootCA };
    const cm = this.configMaps.getByName(namespace, ROOT_CA_CONFIGMAP);
    if (!cm) {
      const body: ConfigMap = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: ROOT_CA_CONFIGMAP, namespace, annotations: { [DESCRIPTION_ANNOTATION]: DESCRIPTION } },
        data,
      };
      try {
        await configMaps.create(body);
      } catch (err) {
        // gone, or being deleted since the cache saw it (403 NamespaceTerminating): nothing to publish
        if (isNotFound(err) || isForbidden(err)) return;
        // it exists and the informer has not shown it yet; its event brings us back
        if (!isAlreadyExists(err)) throw err;
      }
      return;
    }
    const cur = cm.data ?? {};
    if (Object.keys(cur).length === 1 && cur['ca.crt'] === this.rootCA && cm.metadata?.annotations?.[DESCRIPTION_ANNOTATION]) return;
    const body: ConfigMap = {
      ...cm,
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { ...cm.metadata, annotations: { ...(cm.metadata?.annotations ?? {}), [DESCRIPTION_ANNOTATION]: DESCRIPTION } },
      data,
    };
    try {
      await configMaps.update(body);
    } catch (err) {
      if (!isNotFound(err)) throw err; // a 409 retries once the cache has the newer version
    }
  }
}
