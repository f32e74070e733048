// exec/attach over SPDY/3.1 against the kubelet server (fake runtime), and the SPDY
// session's limits: a header block that inflates past the cap and an oversized control
// frame end the session without the server buffering them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { ensurePki, type ClusterPki } from '../../control-plane/apiserver/pki.js';
import { Kubelet } from '../../agent/kubelet/kubelet.js';
import { KubeletServer } from '../../agent/kubelet/server.js';
import { JsonObjectSplitter, negotiate } from '../../agent/kubelet/spdy-remotecommand.js';
import { FakeRuntime } from '../helpers/fake-runtime.js';
import { waitFor } from '../helpers/wait.js';
import { headerBomb, spdyConnect, type SpdyConnectOptions } from '../helpers/spdy-client.js';

let dir: string;
let pki: ClusterPki;
let kubelet: Kubelet;
let server: KubeletServer;
let port: number;
let rt: FakeRuntime;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kl-spdy-'));
  pki = await ensurePki({ dataDir: dir } as never);
  const nodeCert = await pki.issue({ cn: 'system:node:n1', server: true, ips: ['127.0.0.1'] } as never);
  rt = new FakeRuntime();
  kubelet = new Kubelet({ nodeName: 'n1', nodeIP: '127.0.0.1', runtime: rt, rootDir: join(dir, 'root'), logDir: join(dir, 'logs'), resyncMs: 100_000 });
  kubelet.setPod({ metadata: { name: 'p', namespace: 'default', uid: 'u1' }, spec: { containers: [{ name: 'c', image: 'docker.io/library/busybox:latest', imagePullPolicy: 'IfNotPresent' }] } }, 'http');
  await kubelet.start();
  await waitFor('pod p Running', () => kubelet.findPod('default', 'p')?.status?.phase === 'Running', 15_000, 20);
  server = new KubeletServer({ kubelet, caPem: pki.ca.certPem, certPem: nodeCert.certPem, keyPem: nodeCert.keyPem, port: 0, address: '127.0.0.1' });
  port = await server.listen();
});

afterAll(async () => {
  await server?.close();
  await kubelet?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const connect = (path: string, protocols: string[] = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io']) =>
  spdyConnect({
    host: '127.0.0.1',
    port,
    path,
    ca: pki.ca.certPem,
    cert: pki.kubeletClient.certPem,
    key: pki.kubeletClient.keyPem,
    headers: protocols.map((p): [string, string] => ['X-Stream-Protocol-Version', p]),
  } satisfies SpdyConnectOptions);

describe('exec and attach over SPDY/3.1', () => {
  it('exec (v4): stdin in, stdout and stderr out, the exit status as a Status on the error stream', async () => {
    rt.execHandler = () => ({ exitCode: 7, stdout: '-out', stderr: 'err!' });
    const c = await connect('/exec/default/p/c?command=sh&command=-c&command=x&stdin=1&stdout=1&stderr=1');
    expect(c.status).toBe(101);
    expect(c.response).toContain('X-Stream-Protocol-Version: v4.channel.k8s.io');
    // kubectl's order: the error stream first, then the data streams.
    await c.syn(1, { streamtype: 'error' });
    await c.syn(3, { streamtype: 'stdin' });
    await c.syn(5, { streamtype: 'stdout' });
    await c.syn(7, { streamtype: 'stderr' });
    c.data(3, Buffer.from('hi'));
    c.data(3, Buffer.alloc(0), true); // stdin EOF
    await c.waitFor('connection end', () => c.events.closed);
    expect(c.events.replies).toEqual([1, 3, 5, 7]);
    expect(c.text(5)).toBe('hi-out');
    expect(c.text(7)).toBe('err!');
    expect(JSON.parse(c.text(1))).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '7' }] } });
    expect([...c.events.fin].sort()).toEqual([1, 3, 5, 7]);
  });

  it('attach with a tty (v4): resize messages reach the session; no stderr stream is waited for', async () => {
    rt.execHandler = () => ({ exitCode: 0, stdout: '' });
    const c = await connect('/attach/default/p/c?stdin=1&stdout=1&tty=1');
    await c.syn(1, { streamtype: 'error' });
    await c.syn(3, { streamtype: 'stdin' });
    await c.syn(5, { streamtype: 'stdout' });
    await c.syn(7, { streamtype: 'resize' });
    c.data(7, Buffer.from('{"Width":120,"Height":40}{"Wid'));
    c.data(7, Buffer.from('th":100,"Height":30}'));
    c.data(3, Buffer.from('typed'), true);
    await c.waitFor('connection end', () => c.events.closed);
    expect(JSON.parse(c.text(1))).toEqual({ metadata: {}, status: 'Success' });
    expect(c.text(5)).toBe('typed');
  });

  it('v2 sends a failure as text on the error stream and nothing on success', async () => {
    rt.execHandler = () => ({ exitCode: 2, stdout: 'x' });
    const c = await connect('/exec/default/p/c?command=false&stdout=1', ['v2.channel.k8s.io']);
    expect(c.response).toContain('X-Stream-Protocol-Version: v2.channel.k8s.io');
    await c.syn(1, { streamtype: 'error' });
    await c.syn(3, { streamtype: 'stdout' });
    await c.waitFor('connection end', () => c.events.closed);
    expect(c.text(1)).toMatch(/^command terminated with non-zero exit code/);
    rt.execHandler = () => ({ exitCode: 0, stdout: 'y' });
    const ok = await connect('/exec/default/p/c?command=true&stdout=1', ['v2.channel.k8s.io']);
    await ok.syn(1, { streamtype: 'error' });
    await ok.syn(3, { streamtype: 'stdout' });
    await ok.waitFor('connection end', () => ok.events.closed);
    expect(ok.text(1)).toBe('');
    expect(ok.text(3)).toBe('y');
  });

  it('a stream of an unknown or repeated type is reset; the command still runs', async () => {
    rt.execHandler = () => ({ exitCode: 0, stdout: 'ran' });
    const c = await connect('/exec/default/p/c?command=true&stdout=1');
    await c.syn(1, { streamtype: 'error' });
    await c.syn(3, { streamtype: 'bogus' });
    await c.syn(5, { streamtype: 'error' });
    await c.syn(7, { streamtype: 'stdout' });
    await c.waitFor('connection end', () => c.events.closed);
    expect(c.events.resets.map((r) => r.id)).toEqual([3, 5]);
    expect(c.text(7)).toBe('ran');
  });

  it('protocol negotiation: none offered is the original protocol, none we serve is 403', async () => {
    rt.execHandler = () => ({ exitCode: 0, stdout: 'v1' });
    const none = await connect('/exec/default/p/c?command=true&stdout=1', []);
    expect(none.status).toBe(101);
    expect(none.response).not.toContain('X-Stream-Protocol-Version');
    await none.syn(1, { streamtype: 'error' });
    await none.syn(3, { streamtype: 'stdout' });
    await none.waitFor('connection end', () => none.events.closed);
    expect(none.text(3)).toBe('v1');
    const bad = await connect('/exec/default/p/c?command=true&stdout=1', ['v5.channel.k8s.io']);
    expect(bad.status).toBe(403);
    expect(negotiate(['v9', 'v3.channel.k8s.io', 'v4.channel.k8s.io'])).toEqual({ protocol: 'v3.channel.k8s.io' });
    const noStreams = await connect('/exec/default/p/c?command=true');
    expect(noStreams.status).toBe(400);
    expect(noStreams.response).not.toContain('Upgrade: SPDY');
  });

  it('resize messages: concatenated JSON objects, garbage refused', () => {
    const s = new JsonObjectSplitter();
    expect(s.push(Buffer.from('{"Width":1,"Height":2} {"Width":3,'))).toEqual([{ Width: 1, Height: 2 }]);
    expect(s.push(Buffer.from('"Height":4}'))).toEqual([{ Width: 3, Height: 4 }]);
    expect(() => new JsonObjectSplitter().push(Buffer.from('nope'))).toThrow();
    expect(() => new JsonObjectSplitter().push(Buffer.from('{' + '"a":"'.padEnd(5000, 'x')))).toThrow(/too large/);
  });
});

describe('SPDY session limits', () => {
  it('a header block inflating past 1 MiB resets the stream and ends the session; memory stays bounded', async () => {
    // ~100 KB on the wire, ~100 MB once inflated.
    const { block, inflatedBytes } = await headerBomb(100_000);
    expect(inflatedBytes).toBeGreaterThan(90e6);
    globalThis.gc?.();
    const before = process.memoryUsage().rss;
    const c = await connect('/exec/default/p/c?command=true&stdout=1');
    c.synRaw(1, block);
    await c.waitFor('session end', () => c.events.closed);
    const grew = process.memoryUsage().rss - before;
    expect(c.events.resets).toEqual([{ id: 1, status: 11 }]); // FRAME_TOO_LARGE
    expect(c.events.goaway?.status).toBe(1); // PROTOCOL_ERROR
    expect(c.events.replies).toEqual([]);
    expect(grew).toBeLessThan(48 << 20);
    // The server is fine: the next exec works.
    rt.execHandler = () => ({ exitCode: 0, stdout: 'alive' });
    const next = await connect('/exec/default/p/c?command=true&stdout=1');
    await next.syn(1, { streamtype: 'error' });
    await next.syn(3, { streamtype: 'stdout' });
    await next.waitFor('exec', () => next.events.closed);
    expect(next.text(3)).toBe('alive');
  });

  it('a control frame longer than any allowed header block is refused from its length alone', async () => {
    // SYN_STREAM claiming 8 MiB: the server must not wait for (or buffer) the rest.
    const h = Buffer.alloc(18);
    h.writeUInt16BE(0x8003, 0);
    h.writeUInt16BE(1, 2);
    h.writeUInt32BE(8 << 20, 4);
    h.writeUInt32BE(1, 8);
    const sock = tls.connect({ host: '127.0.0.1', port, ca: pki.ca.certPem, cert: pki.kubeletClient.certPem, key: pki.kubeletClient.keyPem });
    await new Promise((r) => sock.once('secureConnect', r));
    sock.write('POST /portForward/default/p HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n');
    let got = Buffer.alloc(0);
    sock.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
    const closed = new Promise((r) => sock.once('close', r));
    sock.write(h);
    await closed;
    expect(got.toString()).toMatch(/^HTTP\/1\.1 101/);
    const frames = got.subarray(got.indexOf('\r\n\r\n') + 4);
    // RST_STREAM(1, FRAME_TOO_LARGE) then GOAWAY.
    expect(frames.readUInt16BE(2)).toBe(3);
    expect(frames.readUInt32BE(8)).toBe(1);
    expect(frames.readUInt32BE(12)).toBe(11);
    expect(frames.readUInt16BE(18)).toBe(7);
  });
});
