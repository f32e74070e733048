import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import tls from 'node:tls';
import zlib from 'node:zlib';
import WebSocket from 'ws';
import { ensurePki, type ClusterPki } from '../../control-plane/apiserver/pki.js';
import { X509Certificate } from 'node:crypto';
import { Kubelet } from '../../agent/kubelet/kubelet.js';
import { KubeletServer } from '../../agent/kubelet/server.js';
import { SPDY_DICTIONARY, decodeHeaderBlock, encodeHeaderBlock } from '../../agent/kubelet/spdy.js';
import { FakeRuntime } from '../helpers/fake-runtime.js';
import { waitFor } from '../helpers/wait.js';

let dir: string;
let pki: ClusterPki;
let kubelet: Kubelet;
let server: KubeletServer;
let port: number;
let rt: FakeRuntime;
let nodeCert: { certPem: string; keyPem: string };
let otherCert: { certPem: string; keyPem: string };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kl-srv-'));
  pki = await ensurePki({ dataDir: dir } as never);
  nodeCert = await pki.issue({ cn: 'system:node:n1', server: true, ips: ['127.0.0.1'] } as never);
  otherCert = await pki.issue({ cn: 'system:node:n2', orgs: ['system:nodes'], client: true } as never);
  rt = new FakeRuntime();
  kubelet = new Kubelet({ nodeName: 'n1', nodeIP: '127.0.0.1', runtime: rt, rootDir: join(dir, 'root'), logDir: join(dir, 'logs'), resyncMs: 100_000 });
  kubelet.setPod({ metadata: { name: 'p', namespace: 'default', uid: 'u1' }, spec: { containers: [{ name: 'c', image: 'docker.io/library/busybox:latest', imagePullPolicy: 'IfNotPresent' }] } }, 'http');
  await kubelet.start();
  await waitFor('pod p Running', () => kubelet.findPod('default', 'p')?.status?.phase === 'Running', 15_000, 20);
  // A CRI-format log file where the runtime would have written it.
  const c = [...rt.containers.values()][0]!;
  mkdirSync(join(c.logPath, '..'), { recursive: true });
  writeFileSync(
    c.logPath,
    ['2024-01-01T00:00:01.000000001Z stdout F line one', '2024-01-01T00:00:02.000000002Z stderr P part-', '2024-01-01T00:00:02.500000000Z stderr F two', '2024-01-01T00:00:03.000000003Z stdout F line three', ''].join('\n'),
  );
  server = new KubeletServer({ kubelet, caPem: pki.ca.certPem, certPem: nodeCert.certPem, keyPem: nodeCert.keyPem, port: 0, address: '127.0.0.1' });
  port = await server.listen();
});

afterAll(async () => {
  await server?.close();
  await kubelet?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function get(path: string, cert?: { certPem: string; keyPem: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path, ca: pki.ca.certPem, cert: cert?.certPem, key: cert?.keyPem }, (res) => {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
      })
      .on('error', reject);
  });
}

const client = () => ({ certPem: pki.kubeletClient.certPem, keyPem: pki.kubeletClient.keyPem });

describe('kubelet server', () => {
  it('a rotated serving certificate is presented on the next handshakes', async () => {
    const served = () =>
      new Promise<string>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port, ca: pki.ca.certPem }, () => {
          resolve(s.getPeerCertificate().serialNumber);
          s.end();
        });
        s.on('error', reject);
      });
    const before = await served();
    expect(before).toBe(new X509Certificate(nodeCert.certPem).serialNumber);
    const next = await pki.issue({ cn: 'system:node:n1', server: true, ips: ['127.0.0.1'] } as never);
    server.setCertificate(next.certPem, next.keyPem);
    expect(await served()).toBe(new X509Certificate(next.certPem).serialNumber);
    expect((await get('/healthz', client())).status).toBe(200);
  });

  it('refuses anonymous (401) and other identities (403); lets the apiserver client in', async () => {
    expect((await get('/healthz')).status).toBe(401);
    expect((await get('/healthz', otherCert)).status).toBe(403);
    const ok = await get('/healthz', client());
    expect(ok).toEqual({ status: 200, body: 'ok' });
  });

  it('serves /pods, /metrics and /stats/summary', async () => {
    const pods = JSON.parse((await get('/pods', client())).body);
    expect(pods.items.map((p: { metadata: { name: string } }) => p.metadata.name)).toEqual(['p']);
    const m = (await get('/metrics', client())).body;
    expect(m).toContain('kubelet_pod_start_duration_seconds');
    expect(m).toContain('kubelet_runtime_operations_duration_seconds_bucket{le="0.005",operation_type="run_podsandbox"}');
    const s = JSON.parse((await get('/stats/summary', client())).body);
    expect(s.node.nodeName).toBe('n1');
    expect(s.node.memory.workingSetBytes).toBeGreaterThan(0);
  });

  it('serves container logs with tailLines, timestamps, limitBytes, sinceTime and joins partial lines', async () => {
    expect((await get('/containerLogs/default/p/c', client())).body).toBe('line one\npart-two\nline three\n');
    expect((await get('/containerLogs/default/p/c?tailLines=2', client())).body).toBe('part-two\nline three\n');
    expect((await get('/containerLogs/default/p/c?tailLines=1&timestamps=true', client())).body).toBe('2024-01-01T00:00:03.000000003Z line three\n');
    expect((await get('/containerLogs/default/p/c?limitBytes=5', client())).body).toBe('line ');
    expect((await get('/containerLogs/default/p/c?sinceTime=2024-01-01T00:00:02Z', client())).body).toBe('part-two\nline three\n');
    expect((await get('/containerLogs/default/nope/c', client())).status).toBe(404);
  });

  it('exec over v5.channel.k8s.io: stdin, stdout, stdin close, resize and the exit status', async () => {
    rt.execHandler = () => ({ exitCode: 3, stdout: 'bye' });
    const ws = new WebSocket(`wss://127.0.0.1:${port}/exec/default/p/c?command=sh&command=-c&command=x&stdin=1&stdout=1&stderr=1`, ['v5.channel.k8s.io'], {
      ca: pki.ca.certPem,
      cert: pki.kubeletClient.certPem,
      key: pki.kubeletClient.keyPem,
    });
    const frames: { ch: number; data: string }[] = [];
    ws.on('message', (d: Buffer) => frames.push({ ch: d[0]!, data: d.subarray(1).toString() }));
    await new Promise((r) => ws.once('open', r));
    expect(ws.protocol).toBe('v5.channel.k8s.io');
    ws.send(Buffer.concat([Buffer.from([4]), Buffer.from('{"Width":80,"Height":24}')]));
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('hello')]));
    ws.send(Buffer.from([255, 0])); // close stdin
    await new Promise((r) => ws.once('close', r));
    const out = frames.filter((f) => f.ch === 1).map((f) => f.data).join('');
    expect(out).toBe('hellobye[80x24]');
    const st = JSON.parse(frames.find((f) => f.ch === 3)!.data);
    expect(st).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
  });

  it('exec over base64.channel.k8s.io with a successful exit', async () => {
    rt.execHandler = () => ({ exitCode: 0, stdout: 'fine' });
    const ws = new WebSocket(`wss://127.0.0.1:${port}/exec/default/p/c?command=true&stdout=1`, ['v4.base64.channel.k8s.io'], {
      ca: pki.ca.certPem,
      cert: pki.kubeletClient.certPem,
      key: pki.kubeletClient.keyPem,
    });
    const frames: string[] = [];
    ws.on('message', (d: Buffer) => frames.push(d.toString()));
    await new Promise((r) => ws.once('close', r));
    expect(frames.filter((f) => f[0] === '1').map((f) => Buffer.from(f.slice(1), 'base64').toString()).join('')).toBe('fine');
    expect(JSON.parse(Buffer.from(frames.find((f) => f[0] === '3')!.slice(1), 'base64').toString())).toEqual({ metadata: {}, status: 'Success' });
  });

  it('port-forward over the v4 WebSocket protocol', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/portForward/default/p?ports=8080`, ['v4.channel.k8s.io'], { ca: pki.ca.certPem, cert: pki.kubeletClient.certPem, key: pki.kubeletClient.keyPem });
    const frames: { ch: number; data: Buffer }[] = [];
    ws.on('message', (d: Buffer) => frames.push({ ch: d[0]!, data: d.subarray(1) }));
    await new Promise((r) => ws.once('open', r));
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('ping')]));
    await waitFor('the echoed data', () => frames.some((f) => f.ch === 0 && f.data.toString() === '8080:ping'), 15_000, 10);
    expect(frames[0]).toEqual({ ch: 0, data: Buffer.from([0x90, 0x1f]) }); // port prefix, little endian
    ws.close();
  });

  it('port-forward over SPDY/3.1 (plain upgrade), as kubectl falls back to', async () => {
    const sock = tls.connect({ host: '127.0.0.1', port, ca: pki.ca.certPem, cert: pki.kubeletClient.certPem, key: pki.kubeletClient.keyPem });
    await new Promise((r) => sock.once('secureConnect', r));
    sock.write('POST /portForward/default/p HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n');
    let buf = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
    await waitFor('the upgrade response', () => buf.includes('\r\n\r\n'), 15_000, 10);
    expect(buf.toString()).toMatch(/^HTTP\/1\.1 101/);
    buf = buf.subarray(buf.indexOf('\r\n\r\n') + 4);
    // Client side: one deflate context for our header blocks, one inflate for the server's.
    const def = zlib.createDeflate({ dictionary: SPDY_DICTIONARY });
    const deflate = (b: Buffer) =>
      new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        const on = (d: Buffer) => chunks.push(d);
        def.on('data', on);
        def.write(b);
        def.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          def.off('data', on);
          resolve(Buffer.concat(chunks));
        });
      });
    const syn = async (id: number, headers: Record<string, string>) => {
      const block = await deflate(encodeHeaderBlock(headers));
      const body = Buffer.alloc(10);
      body.writeUInt32BE(id, 0);
      const h = Buffer.alloc(8);
      h.writeUInt16BE(0x8003, 0);
      h.writeUInt16BE(1, 2);
      h.writeUInt32BE(10 + block.length, 4);
      sock.write(Buffer.concat([h, body, block]));
    };
    await syn(1, { streamtype: 'error', port: '9000', requestid: '0' });
    await syn(3, { streamtype: 'data', port: '9000', requestid: '0' });
    const data = Buffer.alloc(8);
    data.writeUInt32BE(3, 0);
    data.writeUInt32BE(3, 4);
    sock.write(Buffer.concat([data, Buffer.from('abc')]));
    // Parse frames until the echoed data arrives on stream 3.
    const inf = zlib.createInflate({ dictionary: SPDY_DICTIONARY });
    let echoed = '';
    const replies: number[] = [];
    for (const end = Date.now() + 15_000; !echoed.includes('9000:abc') && Date.now() < end; ) {
      while (buf.length >= 8 && buf.length >= 8 + (buf.readUInt32BE(4) & 0xffffff)) {
        const len = buf.readUInt32BE(4) & 0xffffff;
        const f = buf.subarray(0, 8 + len);
        buf = buf.subarray(8 + len);
        if (f[0]! & 0x80) {
          if (f.readUInt16BE(2) === 2) {
            replies.push(f.readUInt32BE(8));
            const hb = await new Promise<Buffer>((resolve) => {
              const chunks: Buffer[] = [];
              const on = (d: Buffer) => chunks.push(d);
              inf.on('data', on);
              inf.write(f.subarray(12));
              inf.flush(zlib.constants.Z_SYNC_FLUSH, () => {
                inf.off('data', on);
                resolve(Buffer.concat(chunks));
              });
            });
            expect(decodeHeaderBlock(hb)).toEqual({});
          }
        } else if (f.readUInt32BE(0) === 3) echoed += f.subarray(8).toString();
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(replies).toEqual([1, 3]);
    expect(echoed).toBe('9000:abc');
    sock.destroy();
  });

  it('accepts pod manifests on POST /run (the authenticated http pod source)', async () => {
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'posted' }, spec: { containers: [{ name: 'x', image: 'docker.io/library/busybox:latest' }] } });
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, path: '/run', method: 'POST', ca: pki.ca.certPem, cert: pki.kubeletClient.certPem, key: pki.kubeletClient.keyPem }, (r) => {
        let b = '';
        r.on('data', (d) => (b += d));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body: b }));
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(res.status).toBe(201);
    expect(kubelet.findPod('default', 'posted-n1')).toBeTruthy();
  });
});
