// The token cleaner (upstream pkg/controller/bootstrap/tokencleaner.go): bootstrap token
// Secrets in kube-system are deleted once their expiration has passed. Each Secret is looked
// at again when it is due, so a token goes within a second of expiring.
import { BOOTSTRAP_TOKEN_NAMESPACE, BOOTSTRAP_TOKEN_SECRET_TYPE, isSecretExpired, secretExpiration } from '../../api/bootstraptoken.js';
import type { KObject } from '../../api/registry.js';
import { errorCode, rawRequest } from './base/clients.js';
import { Controller, type ControllerContext } from './base/controller.js';
import type { SharedInformer } from './base/informer.js';

export class TokenCleaner extends Controller {
  private secrets!: SharedInformer<KObject>;

  constructor(ctx: ControllerContext) {
    super('tokencleaner', ctx, 1);
  }

  register(): void {
    this.secrets = this.ctx.informers.get<KObject>('secrets', BOOTSTRAP_TOKEN_NAMESPACE);
    const on = (s: KObject) => {
      if (s.type === BOOTSTRAP_TOKEN_SECRET_TYPE) this.enqueue(s.metadata?.name);
    };
    this.secrets.addHandlers({ add: on, update: (_o, n) => on(n) });
  }

  async sync(name: string): Promise<void> {
    const s = this.secrets.getByName(BOOTSTRAP_TOKEN_NAMESPACE, name);
    if (!s || s.type !== BOOTSTRAP_TOKEN_SECRET_TYPE || s.metadata?.deletionTimestamp) return;
    if (!isSecretExpired(s)) {
      const exp = secretExpiration(s);
      if (exp !== undefined) this.queue.addAfter(name, Math.min(Math.max(0, exp - Date.now()) + 50, 2 ** 31 - 1));
      return;
    }
    try {
      await rawRequest(this.ctx.clients.kc, 'DELETE', `/api/v1/namespaces/${BOOTSTRAP_TOKEN_NAMESPACE}/secrets/${encodeURIComponent(name)}`, {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        preconditions: { uid: s.metadata?.uid },
      });
      this.log.info({ secret: `${BOOTSTRAP_TOKEN_NAMESPACE}/${name}` }, 'deleted expired bootstrap token');
    } catch (err) {
      if (errorCode(err) !== 404 && errorCode(err) !== 409) throw err;
    }
  }
}
