// The one place where the apiserver forwards to a kubelet: pods/log, pods/exec, pods/attach,
// pods/portforward, pods/proxy and nodes/proxy. Until the kubelet's HTTPS server exists this
// answers a clear error. The kubelet engineer replaces the body of `kubeletProxy`: dial
// https://<node InternalIP>:10250 with `ctx.kubeletClient` (the apiserver-kubelet-client
// certificate, trusted via `ctx.caPem`), forward the request (and the connection upgrade for
// exec/attach/portforward), and stream the answer back.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { KObject } from '../../api/registry.js';
import { serviceUnavailable, type StatusResult } from '../../api/status.js';

export interface KubeletProxyContext {
  /** 'pods' or 'nodes'. */
  resource: string;
  /** 'log', 'exec', 'attach', 'portforward', 'proxy'. */
  subresource: string;
  namespace?: string;
  name: string;
  /** Path after the subresource for proxy requests ('' otherwise). */
  rest: string;
  query: URLSearchParams;
  /** The pod (for pods/*) and the node it runs on (when bound and known). */
  pod?: KObject;
  node?: KObject;
  caPem: string;
  kubeletClient: { certPem: string; keyPem: string };
  /** Upgrade requests (exec/attach/portforward over SPDY or WebSocket) hand over the socket. */
  upgrade?: { socket: Duplex; head: Buffer };
}

/** Answers or forwards the request; returns a Status to send when it does neither itself. */
export async function kubeletProxy(_req: IncomingMessage, _res: ServerResponse | undefined, ctx: KubeletProxyContext): Promise<StatusResult | undefined> {
  const target = ctx.resource === 'pods' ? `pod ${ctx.namespace}/${ctx.name}` : `node ${ctx.name}`;
  if (ctx.resource === 'pods' && !ctx.pod?.spec?.nodeName) {
    return badPodState(ctx);
  }
  return serviceUnavailable(
    `${ctx.resource}/${ctx.subresource} for ${target} is not available yet: this k8ts apiserver does not proxy to kubelets (node ${ctx.node?.metadata?.name ?? ctx.pod?.spec?.nodeName ?? ctx.name})`,
  );
}

function badPodState(ctx: KubeletProxyContext): StatusResult {
  return {
    code: 400,
    body: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      reason: 'BadRequest',
      code: 400,
      message: `pod ${ctx.name} does not have a host assigned`,
    },
  };
}
