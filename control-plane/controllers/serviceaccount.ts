// ServiceAccounts controller (after upstream pkg/controller/serviceaccount): every active
// namespace has a ServiceAccount `default`, put back when deleted.
import type { V1Namespace, V1ServiceAccount } from '@kubernetes/client-node';
import { errorCode, rawRequest } from './base/clients.js';
import { Controller, type ControllerContext } from './base/controller.js';
import type { SharedInformer } from './base/informer.js';

export const DEFAULT_SERVICE_ACCOUNTS = ['default'];

export class ServiceAccountsController extends Controller {
  private namespaces!: SharedInformer<V1Namespace>;
  private accounts!: SharedInformer<V1ServiceAccount>;

  constructor(ctx: ControllerContext) {
    super('serviceaccount', ctx, 1);
  }

  register(): void {
    this.namespaces = this.ctx.informers.get<V1Namespace>('namespaces');
    // Only the accounts it keeps: no cache of every ServiceAccount.
    this.accounts = this.ctx.informers.get<V1ServiceAccount>('serviceaccounts', undefined, `metadata.name=${DEFAULT_SERVICE_ACCOUNTS[0]}`);
    this.namespaces.addHandlers({
      add: (n) => this.enqueue(n.metadata?.name),
      update: (_o, n) => n.status?.phase === 'Active' && this.enqueue(n.metadata?.name),
    });
    this.accounts.addHandlers({ delete: (sa) => DEFAULT_SERVICE_ACCOUNTS.includes(sa.metadata?.name ?? '') && this.enqueue(sa.metadata?.namespace) });
  }

  async sync(namespace: string): Promise<void> {
    const ns = this.namespaces.get(namespace);
    if (!ns || ns.metadata?.deletionTimestamp || ns.status?.phase !== 'Active') return;
    for (const name of DEFAULT_SERVICE_ACCOUNTS) {
      if (this.accounts.getByName(namespace, name)) continue;
      try {
        await rawRequest(this.ctx.clients.kc, 'POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
          apiVersion: 'v1',
          kind: 'ServiceAccount',
          metadata: { name, namespace },
        });
      } catch (err) {
        // 409: made meanwhile (the cache shows it soon); 403/404: the namespace is going
        const code = errorCode(err);
        if (code !== 409 && code !== 403 && code !== 404) throw err;
      }
    }
  }
}
