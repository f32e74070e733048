// ServiceAccounts controller (after upstream pkg/controller/serviceaccount): every active
// namespace has a ServiceAccount `default`, put back when deleted.
import type { Namespace, ServiceAccount } from 'kubernetes-types/core/v1.js';
import { isAlreadyExists, isForbidden, isNotFound, type SharedIndexInformer } from '../../client/index.js';
import { Controller, type ControllerContext } from './base/controller.js';

export const DEFAULT_SERVICE_ACCOUNTS = ['default'];

export class ServiceAccountsController extends Controller {
  private namespaces!: SharedIndexInformer<Namespace>;
  private accounts!: SharedIndexInformer<ServiceAccount>;

  constructor(ctx: ControllerContext) {
    super('serviceaccount', ctx, 1);
  }

  register(): void {
    this.namespaces = this.ctx.informers.get('namespaces');
    // Only the accounts it keeps: no cache of every ServiceAccount.
    this.accounts = this.ctx.informers.get('serviceaccounts', { fieldSelector: `metadata.name=${DEFAULT_SERVICE_ACCOUNTS[0]}` });
    this.namespaces.addEventHandler({
      add: (n) => this.enqueue(n.metadata?.name),
      update: (_o, n) => n.status?.phase === 'Active' && this.enqueue(n.metadata?.name),
    });
    this.accounts.addEventHandler({ delete: (sa) => DEFAULT_SERVICE_ACCOUNTS.includes(sa.metadata?.name ?? '') && this.enqueue(sa.metadata?.namespace) });
  }

  async sync(namespace: string): Promise<void> {
    const ns = this.namespaces.get(namespace);
    if (!ns || ns.metadata?.deletionTimestamp || ns.status?.phase !== 'Active') return;
    for (const name of DEFAULT_SERVICE_ACCOUNTS) {
      if (this.accounts.getByName(namespace, name)) continue;
      try {
        await this.ctx.client.serviceaccounts.namespace(namespace).create({ metadata: { name, namespace } });
      } catch (err) {
        // made meanwhile (the cache shows it soon); 403/404: the namespace is going
        if (!isAlreadyExists(err) && !isForbidden(err) && !isNotFound(err)) throw err;
      }
    }
  }
}
