// A raw HTTPS client for tests that need to send exactly what a hostile or unusual client
// sends (odd bodies, media types, query strings, trickled bodies), as JsonValue identity: client
// certificates are issued from the test control plane's own CA (its data dir's pki/).
import https from 'node:https';
import tls from 'node:tls';
import { ensurePki, type KeyPairPem } from '../../control-plane/apiserver/pki.js';
import type { TestControlPlane } from './controlplane.js';
import type { JsonValue } from '../../api/object.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): JsonValue;
}

export interface RawClient {
  readonly cert: KeyPairPem;
  request(method: string, path: string, body?: string | Buffer | object, headers?: Record<string, string>): Promise<RawResponse>;
  /** A TLS socket with this identity, for hand-written requests (trickled bodies, upgrades). */
  connect(): Promise<tls.TLSSocket>;
  close(): void;
}

/** A client with a certificate for `cn` in groups `orgs` (e.g. system:node:n1 in system:nodes). */
export async function certClient(cp: TestControlPlane, cn: string, orgs: string[] = []): Promise<RawClient> {
  const pki = await ensurePki({ dataDir: cp.dataDir, advertiseAddress: '127.0.0.1' });
  const cert = await pki.issue({ cn, orgs, client: true });
  const agent = new https.Agent({ keepAlive: true, ca: cp.caPem, cert: cert.certPem, key: cert.keyPem, maxSockets: 16 });
  return {
    cert,
    request(method, path, body, headers = {}) {
      const data = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      const h: Record<string, string | number> = { accept: 'application/json', ...headers };
      if (data !== undefined) {
        h['content-type'] ??= 'application/json';
        h['content-length'] = Buffer.byteLength(data);
      }
      return new Promise((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: cp.port, method, path, headers: h, agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
          });
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(data);
      });
    },
    connect() {
      return new Promise((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port: cp.port, ca: cp.caPem, cert: cert.certPem, key: cert.keyPem, servername: 'localhost' }, () => resolve(s));
        s.once('error', reject);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

export const adminClient = (cp: TestControlPlane) => certClient(cp, 'test-admin', ['system:masters']);
export const nodeClient = (cp: TestControlPlane, node: string) => certClient(cp, `system:node:${node}`, ['system:nodes']);
