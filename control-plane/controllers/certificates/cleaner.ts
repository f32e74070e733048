// The CSR cleaner (upstream csrcleaner, pkg/controller/certificates/cleaner): requests are
// garbage once decided and old, as upstream counts it: approved, denied or failed ones an hour after that,
// pending ones after a day, and any whose issued certificate has expired.
import { X509Certificate } from 'node:crypto';
import { certificateOf, conditions, hasFailed, isApproved, isDenied } from '../../../api/certificates.js';
import type { KObject } from '../../../api/registry.js';
import { errorCode, rawRequest } from '../base/clients.js';
import type { ControllerContext } from '../base/controller.js';
import type { SharedInformer } from '../base/informer.js';
import { ts } from '../base/util.js';
import { logger } from '../../../api/log.js';

const HOUR = 3600_000;

/** Whether a request is due for deletion at `now` (isIssuedExpired, isPendingPastDeadline, ...). */
export function isGarbage(csr: KObject, now = Date.now()): boolean {
  const pem = certificateOf(csr);
  if (pem) {
    try {
      if (Date.parse(new X509Certificate(pem).validTo) <= now) return true;
    } catch {
      /* unparsable: judged by its conditions */
    }
  }
  const decidedAt = (type: string) => Math.max(0, ...conditions(csr).filter((c) => c.type === type).map((c) => ts(c.lastUpdateTime)));
  if (isDenied(csr)) return decidedAt('Denied') + HOUR <= now;
  if (hasFailed(csr)) return decidedAt('Failed') + HOUR <= now;
  if (isApproved(csr)) return decidedAt('Approved') + HOUR <= now;
  return ts(csr.metadata?.creationTimestamp) + 24 * HOUR <= now;
}

export class CSRCleaner {
  private csrs!: SharedInformer<KObject>;
  private timer?: NodeJS.Timeout;
  private log = logger('csrcleaner');

  constructor(
    private readonly ctx: ControllerContext,
    private readonly periodMs = HOUR,
  ) {}

  register(): void {
    this.csrs = this.ctx.informers.get<KObject>('certificatesigningrequests');
  }

  run(): void {
    this.timer = setInterval(() => void this.clean(), this.periodMs);
    this.timer.unref?.();
    void this.clean();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }

  async clean(): Promise<void> {
    if (!this.csrs.hasSynced) return;
    for (const csr of this.csrs.list()) {
      if (!isGarbage(csr)) continue;
      const name = csr.metadata?.name;
      await rawRequest(this.ctx.clients.kc, 'DELETE', `/apis/certificates.k8s.io/v1/certificatesigningrequests/${encodeURIComponent(name)}`, {
        apiVersion: 'v1',
        kind: 'DeleteOptions',
        preconditions: { uid: csr.metadata?.uid },
      }).then(
        () => this.log.info({ csr: name }, 'deleted old certificate signing request'),
        (err) => {
          if (errorCode(err) !== 404 && errorCode(err) !== 409) this.log.warn({ csr: name, err: String(err) }, 'deleting old certificate signing request failed');
        },
      );
    }
  }
}
