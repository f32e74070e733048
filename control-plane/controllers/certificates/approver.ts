// The CSR approving controller (upstream csrapproving, pkg/controller/certificates/approver):
// pending kubelet requests get Approved or Denied through the approval subresource, by the
// rules in policy.ts. The Node a request names is read live: a cache that has not seen a
// just-registered Node would let a bootstrap token through. Those reads (and the apiserver's
// own names) go with the controller manager's identity, which may list anything: upstream's
// certificate-controller role has no Node or Endpoints reads, as its approver needs none.
import { isIP } from 'node:net';
import tls from 'node:tls';
import { requestOf } from '../../../api/certificates.js';
import { isDNS1123Subdomain } from '../../../api/validation.js';
import type { KObject } from '../../../api/registry.js';
import { rfc3339 } from '../../../api/time.js';
import type { CertificateSigningRequest } from 'kubernetes-types/certificates/v1.js';
import { isConflict, isNotFound, type SharedIndexInformer } from '../../../client/index.js';
import { Controller, type ControllerContext } from '../base/controller.js';
import { ReservedNames, decide, needsNode, nodeNameOf } from './policy.js';

export interface ApproverOptions {
  /** the Service ClusterIP range(s) (upstream --service-cluster-ip-range) */
  serviceClusterIPRange?: string;
}


export class CSRApprovingController extends Controller {
  private csrs!: SharedIndexInformer<KObject>;
  private nodes!: SharedIndexInformer<KObject>;
  private reserved: ReservedNames;
  private apiserverNamesLoaded = false;

  constructor(ctx: ControllerContext, o: ApproverOptions = {}) {
    super('csrapproving', ctx, 1);
    this.reserved = new ReservedNames((o.serviceClusterIPRange ?? '10.96.0.0/12').split(',').filter(Boolean));
  }

  register(): void {
    this.csrs = this.ctx.informers.get<'certificatesigningrequests', KObject>('certificatesigningrequests');
    this.nodes = this.ctx.informers.get<'nodes', KObject>('nodes');
    const on = (c: KObject) => this.enqueue(c.metadata?.name);
    this.csrs.addEventHandler({ add: on, update: (_o, n) => on(n) });
  }

  /** The names and addresses of the apiserver: its serving certificate's SANs and its endpoints. */
  private async loadApiserverNames(): Promise<void> {
    if (this.apiserverNamesLoaded) return;
    const { config } = this.ctx.client;
    const names: string[] = [];
    const ep = (await this.ctx.rootClient.endpoints.namespace('default').list({ fieldSelector: 'metadata.name=kubernetes' }).catch(() => undefined))?.items[0];
    for (const s of ep?.subsets ?? []) for (const a of s.addresses ?? []) if (a.ip) names.push(a.ip);
    const server = new URL(config.server);
    const opts = { ca: config.caPem };
    const san = await new Promise<string>((resolve) => {
      const s = tls.connect({ host: server.hostname, port: Number(server.port || 443), ca: opts.ca, servername: isIP(server.hostname) ? undefined : server.hostname }, () => {
        const v = s.getPeerCertificate()?.subjectaltname ?? '';
        s.end();
        resolve(v);
      });
      s.setTimeout(10_000, () => s.destroy());
      s.on('error', () => resolve(''));
      s.on('close', () => resolve(''));
    });
    for (const part of san.split(', ')) {
      const m = /^(DNS|IP Address):(.+)$/.exec(part.trim());
      if (m) names.push(m[2]!);
    }
    if (names.length) {
      this.reserved.add(names);
      this.apiserverNamesLoaded = true;
    }
  }

  async sync(name: string): Promise<void> {
    const csr = this.csrs.get(name);
    if (!csr) return;
    let req;
    try {
      req = requestOf(csr);
    } catch (err) {
      this.log.warn({ csr: name, err: (err as Error).message }, 'unable to parse csr');
      return;
    }
    await this.loadApiserverNames();
    let node: KObject | undefined;
    const nodeName = nodeNameOf(req);
    if (needsNode(csr) && nodeName) {
      // A name no Node can have (it would not be one selector term) names no Node.
      if (isDNS1123Subdomain(nodeName).length === 0) node = (await this.ctx.rootClient.nodes.list({ fieldSelector: `metadata.name=${nodeName}` })).items[0];
    }
    const d = decide(csr, req, { node, otherNodes: this.nodes.list(), reserved: this.reserved });
    if (d.action === 'none') {
      this.log.debug({ csr: name, why: d.why }, 'not deciding');
      return;
    }
    const now = rfc3339();
    const cond = { type: d.action === 'approve' ? 'Approved' : 'Denied', status: 'True', reason: d.reason, message: d.message, lastUpdateTime: now, lastTransitionTime: now };
    const body = { ...csr, status: { ...(csr.status ?? {}), conditions: [...(csr.status?.conditions ?? []), cond] } };
    try {
      await this.ctx.client.certificatesigningrequests.updateApproval(body as CertificateSigningRequest);
    } catch (err) {
      // a conflict: the cache was stale; the update event brings the key back.
      if (isNotFound(err) || isConflict(err)) return;
      throw err;
    }
    const requestor = csr.spec?.username;
    if (d.action === 'approve') this.log.info({ csr: name, requestor, signer: csr.spec?.signerName }, d.message);
    else this.log.warn({ csr: name, requestor, signer: csr.spec?.signerName, reason: d.reason }, d.message);
  }
}
