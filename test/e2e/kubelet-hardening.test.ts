// Hardening of the kubelet and its proxying, live on both runtimes: the subPath symlink
// escape tried for real, volume paths refused at the API, exec/attach over SPDY (kubectl
// with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false) and WebSocket, a SPDY header bomb against the
// kubelet, services/nodes proxy forms, and container log rotation. A control plane in this
// process, one agent (the real CLI) on a private containerd or dockerd, the real kubectl.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import Docker from 'dockerode';
import YAML from 'yaml';
import { startControlPlane, type ControlPlane } from '../../control-plane/apiserver/index.js';
import { joinControllers, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { startTestRegistry, type TestRegistry } from '../helpers/podnet.js';
import { headerBomb, spdyConnect } from '../helpers/spdy-client.js';
import type { JsonValue } from '../../api/object.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.log('kubelet hardening e2e skipped: needs root (containerd/dockerd, CNI, mounts)');

const RUNTIMES = (process.env.K8TS_E2E_RUNTIMES ?? 'cri,docker').split(',') as ('cri' | 'docker')[];
const BUSYBOX = 'docker.io/library/busybox:latest';

async function eventually<T>(what: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await fn();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  throw new Error(`${what}: ${last instanceof Error ? last.message : String(last)}`);
}

async function rssBytes(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(s)![1]) * 1024;
}

describe.skipIf(!isRoot).each(RUNTIMES)('kubelet hardening on %s', (runtime) => {
  let cp: ControlPlane;
  let cpDir: string;
  let reg: TestRegistry;
  let agent: TestAgent;
  const node = `kh-${runtime}`;
  const kubectl = (args: string[], o: { input?: string; env?: Record<string, string> } = {}) =>
    execa('kubectl', ['--kubeconfig', cp.adminKubeconfig, ...args], { reject: false, all: true, input: o.input, env: o.env, timeout: 60_000 });
  const json = async (args: string[]) => {
    const r = await kubectl([...args, '-o', 'json']);
    if (r.exitCode !== 0) throw new Error(r.all);
    return JSON.parse(r.stdout);
  };
  const apply = async (manifest: object) => {
    const r = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest) });
    if (r.exitCode !== 0) throw new Error(r.all);
  };
  const pod = (name: string, containers: object[], spec: object = {}) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: name } },
    spec: { nodeName: node, terminationGracePeriodSeconds: 1, containers, ...spec },
  });
  const running = (name: string) =>
    eventually(`${name} Running`, 60_000, async () => {
      const p = await json(['get', 'pod', name]);
      if (p.status?.phase !== 'Running' || !p.status.containerStatuses?.every((c: JsonValue) => c.ready)) throw new Error(JSON.stringify(p.status));
      return p;
    });
  const admin = () => {
    const kc = YAML.parse(readFileSync(cp.adminKubeconfig, 'utf8'));
    const b64 = (x: string) => Buffer.from(x, 'base64').toString();
    return { cert: b64(kc.users[0].user['client-certificate-data']), key: b64(kc.users[0].user['client-key-data']) };
  };

  beforeAll(async () => {
    cpDir = await mkdtemp(join(tmpdir(), 'k8ts-kh-cp-'));
    cp = await startControlPlane({ dataDir: cpDir, securePort: 0, bindAddress: '127.0.0.1', advertiseAddress: '127.0.0.1', components: [joinControllers()] });
    await cp.ready;
    reg = await startTestRegistry(['pause', 'busybox']);
    agent = await startTestAgent({
      controlPlane: cp,
      runtime,
      nodeName: node,
      registryMirror: reg.url,
      crashLoopBackoffMs: 500,
      extraArgs: ['--container-log-max-size', '64Ki', '--container-log-max-files', '3', '--container-log-monitor-interval', '3s'],
    });
    await apply(
      pod('web', [
        { name: 'server', image: BUSYBOX, command: ['sh', '-c', 'mkdir -p /www; echo hello-from-web > /www/index.html; httpd -f -p 8080 -h /www'], ports: [{ name: 'http', containerPort: 8080 }] },
        { name: 'talker', image: BUSYBOX, stdin: true, command: ['sh', '-c', 'while true; do read l && echo got:$l; done'] },
      ]),
    );
    await running('web');
  });

  afterAll(async () => {
    if (agent && process.env.K8TS_E2E_DUMP) console.log(agent.output().slice(-20000));
    await agent?.stop().catch((e) => console.error('agent stop', e));
    await reg?.stop().catch(() => undefined);
    await cp?.stop().catch(() => undefined);
    if (cpDir) await rm(cpDir, { recursive: true, force: true });
  });

  it('a subPath turned into a symlink to / between two starts is refused, never mounted', async () => {
    // First run: the kubelet creates vol/x and binds it at /data. The container then swaps
    // x for a symlink to / (CVE-2017-1002101) and exits; the restart must not follow it.
    await apply(
      pod(
        'escape',
        [
          {
            name: 'c',
            image: BUSYBOX,
            imagePullPolicy: 'IfNotPresent',
            command: ['sh', '-c', 'echo first > /data/marker; rm -rf /vol/x; ln -s / /vol/x; exit 1'],
            volumeMounts: [
              { name: 'vol', mountPath: '/vol' },
              { name: 'vol', mountPath: '/data', subPath: 'x' },
            ],
          },
        ],
        { volumes: [{ name: 'vol', emptyDir: {} }] },
      ),
    );
    // The restart fails while the kubelet prepares its mounts: an event says so (the pod's
    // waiting reason alternates with CrashLoopBackOff as the kubelet retries).
    await eventually('FailedMount event', 60_000, async () => {
      const ev = await json(['get', 'events', '--field-selector', 'involvedObject.name=escape']);
      const msgs: string[] = ev.items.map((e: JsonValue) => e.message);
      if (!msgs.includes('Error: failed to prepare subPath for volumeMount "vol" of container "c"')) throw new Error(msgs.join(' | '));
    });
    const p = await json(['get', 'pod', 'escape']);
    const c = p.status.containerStatuses[0];
    expect(['CreateContainerConfigError', 'CrashLoopBackOff']).toContain(c.state.waiting?.reason);
    if (c.state.waiting.reason === 'CreateContainerConfigError') expect(c.state.waiting.message).toBe('failed to prepare subPath for volumeMount "vol" of container "c"');
    expect(c.lastState.terminated.exitCode).toBe(1); // the first run happened, and only it
    expect(c.restartCount).toBe(0);
    const cs = { uid: p.metadata.uid as string };
    // Nothing the kubelet mounted for this pod is the host's root directory.
    const podDir = join(agent.dataDir, '..', 'kubelet', 'pods', cs.uid);
    const info = await readFile('/proc/self/mountinfo', 'utf8');
    const root = await stat('/');
    for (const target of info.split('\n').map((l) => l.split(' ')[4] ?? '').filter((t) => t.startsWith(podDir + '/'))) {
      const st = await stat(target);
      expect(st.dev === root.dev && st.ino === root.ino, target).toBe(false);
    }
    // The pod goes away cleanly: no bind left under its directory.
    expect((await kubectl(['delete', 'pod', 'escape', '--wait=true', '--timeout=60s'])).exitCode).toBe(0);
    await eventually('pod dir gone', 30_000, async () => {
      if (await stat(podDir).then(() => true, () => false)) throw new Error(`${podDir} still there`);
    });
  });

  it('volume paths that leave the volume are 422 at the API', async () => {
    const bad = pod('badpath', [{ name: 'c', image: BUSYBOX, volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }, { name: 'cfg', mountPath: '/x', subPath: '../../etc' }] }], {
      volumes: [{ name: 'cfg', configMap: { name: 'cfg', items: [{ key: 'k', path: '../../../../tmp/pwned' }] } }],
    });
    const r = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(bad) });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain(`spec.volumes[0].configMap.items[0].path: Invalid value: "../../../../tmp/pwned": must not contain '..'`);
    expect(r.stderr).toContain(`spec.containers[0].volumeMounts.subPath: Invalid value: "../../etc": must not contain '..'`);
    expect((await kubectl(['get', 'pod', 'badpath'])).exitCode).not.toBe(0);
  });

  for (const transport of ['SPDY', 'WebSocket'] as const) {
    it(`kubectl exec and attach over ${transport}`, async () => {
      const env = { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: transport === 'SPDY' ? 'false' : 'true' };
      const v = await kubectl(['exec', '-v=8', 'web', '-c', 'server', '--', 'cat', '/etc/hostname'], { env });
      expect(v.exitCode, v.all).toBe(0);
      expect(v.stdout.trim()).toBe('web');
      // kubectl's own trace names the upgrade it made.
      expect(v.stderr).toMatch(transport === 'SPDY' ? /Upgrade: SPDY\/3\.1/ : /Upgrade: websocket/i);
      const code = await kubectl(['exec', 'web', '-c', 'server', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'], { env });
      expect(code.exitCode).toBe(3);
      expect(code.stdout).toBe('out');
      expect(code.stderr).toContain('err');
      const piped = await kubectl(['exec', '-i', 'web', '-c', 'server', '--', 'sh', '-c', 'read line; echo got:$line'], { env, input: 'from-stdin\n' });
      expect(piped.stdout).toContain('got:from-stdin');
      // attach -i to the talker: what goes in comes back out; kubectl keeps attaching, so stop it.
      const word = `hello-${transport}-${Date.now()}`;
      const att = execa('kubectl', ['--kubeconfig', cp.adminKubeconfig, 'attach', '-i', 'web', '-c', 'talker'], { reject: false, all: true, env, input: `${word}\n`, timeout: 60_000 });
      let seen = '';
      att.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
      await eventually('attach output', 30_000, async () => {
        if (!seen.includes(`got:${word}`)) throw new Error(seen);
      });
      att.kill('SIGTERM');
      await att;
    });
  }

  it('a SPDY header block inflating to ~400 MB is refused by the kubelet with bounded memory', async () => {
    const { block, inflatedBytes } = await headerBomb(400_000);
    const pid = agent.pid()!;
    const before = await rssBytes(pid);
    const c = await spdyConnect({
      host: agent.nodeIP, // the kubelet listens on its node address, which its serving certificate names
      port: agent.kubeletPort,
      path: '/exec/default/web/server?command=true&stdout=1',
      ca: cp.caPem,
      ...admin(),
      headers: [['X-Stream-Protocol-Version', 'v4.channel.k8s.io']],
    });
    expect(c.status).toBe(101);
    c.synRaw(1, block);
    await c.waitFor('session end', () => c.events.closed, 30_000);
    const after = await rssBytes(pid);
    console.log(`SPDY header bomb: ${(block.length / 1024).toFixed(0)} KiB compressed, ${(inflatedBytes / 2 ** 20).toFixed(0)} MiB inflated; kubelet RSS ${(before / 2 ** 20).toFixed(1)} -> ${(after / 2 ** 20).toFixed(1)} MiB`);
    expect(c.events.resets).toEqual([{ id: 1, status: 11 }]);
    expect(c.events.replies).toEqual([]);
    expect(after - before).toBeLessThan(64 << 20);
    // Still serving.
    const ok = await kubectl(['exec', 'web', '-c', 'server', '--', 'echo', 'alive'], { env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' } });
    expect(ok.stdout).toBe('alive');
  });

  it('services/[scheme:]NAME[:PORT]/proxy reaches a ready endpoint; nodes/NAME:PORT/proxy a plain-HTTP port', async () => {
    const p = await json(['get', 'pod', 'web']);
    await apply({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
    await apply({
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: 'web', namespace: 'default' },
      subsets: [{ addresses: [{ ip: p.status.podIP, targetRef: { kind: 'Pod', namespace: 'default', name: 'web', uid: p.metadata.uid } }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }],
    });
    for (const id of ['web:80', 'web:http', 'http:web:80', 'http:web:http']) {
      const r = await kubectl(['get', '--raw', `/api/v1/namespaces/default/services/${id}/proxy/`]);
      expect(r.exitCode, `${id}: ${r.all}`).toBe(0);
      expect(r.stdout.trim()).toBe('hello-from-web');
    }
    const r = await kubectl(['get', '--raw', `/api/v1/namespaces/default/pods/web:8080/proxy/index.html`]);
    expect(r.stdout.trim()).toBe('hello-from-web');
    const none = await kubectl(['get', '--raw', '/api/v1/namespaces/default/services/web:81/proxy/']);
    expect(none.exitCode).not.toBe(0);
    expect(none.stderr).toContain('no service port 81 found for service "web"');
    const nameOnly = await kubectl(['get', '--raw', '/api/v1/namespaces/default/services/web/proxy/']);
    expect(nameOnly.stderr).toContain('no endpoints available for service "web"');

    const srv = http.createServer((q, w) => w.end(`plain ${q.url}`));
    await new Promise<void>((res) => srv.listen(0, agent.nodeIP, () => res()));
    try {
      const port = (srv.address() as AddressInfo).port;
      const n = await kubectl(['get', '--raw', `/api/v1/nodes/${node}:${port}/proxy/ping`]);
      expect(n.exitCode, n.all).toBe(0);
      expect(n.stdout).toBe('plain /ping');
      // Without a port it is the kubelet, as before.
      expect((await kubectl(['get', '--raw', `/api/v1/nodes/${node}/proxy/healthz`])).stdout).toBe('ok');
    } finally {
      await new Promise((res) => srv.close(res));
    }
  });

  it('container logs rotate past --container-log-max-size, keeping --container-log-max-files', async () => {
    await apply(
      pod('chatty', [
        {
          name: 'c',
          image: BUSYBOX,
          imagePullPolicy: 'IfNotPresent',
          // ~60 KB/s: a rotation every check or two of the 3 s interval.
          command: ['sh', '-c', 'i=0; while true; do j=0; while [ $j -lt 50 ]; do echo "line-$i-$(printf %0200d 0)"; i=$((i+1)); j=$((j+1)); done; sleep 0.2; done'],
        },
      ]),
    );
    const p = await running('chatty');
    const dir = join(agent.logDir, `default_chatty_${p.metadata.uid}`, 'c');
    const maxSeen = { n: 0 };
    const files = await eventually('a compressed rotated log', 60_000, async () => {
      const names = (await readdir(dir)).filter((n) => !n.endsWith('.tmp')).sort();
      maxSeen.n = Math.max(maxSeen.n, names.length);
      // A rotation in progress is seen between its rename and the runtime's reopen: wait on.
      if (!names.some((n) => n.endsWith('.gz')) || !names.includes('0.log')) throw new Error(names.join(' '));
      return names;
    });
    expect(maxSeen.n).toBeLessThanOrEqual(3);
    expect(files.filter((n) => /^0\.log\.\d{8}-\d{6}$/.test(n))).toHaveLength(1);
    // The live file stays near the limit (one monitor interval of output at most past it).
    expect((await stat(join(dir, '0.log'))).size).toBeLessThan(1 << 20);
    // kubectl logs reads the live file (as upstream, only it: just after a rotation it can
    // be empty): recent lines, in order.
    const nums = await eventually('three lines in the live log', 30_000, async () => {
      const tail = await kubectl(['logs', 'chatty', '--tail=3']);
      const n = (tail.stdout.match(/line-(\d+)-/g) ?? []).map((m) => Number(m.slice(5, -1)));
      if (n.length !== 3) throw new Error(tail.all);
      return n;
    });
    expect(nums[2]! - nums[0]!).toBe(2);
    if (runtime === 'docker') {
      const docker = new Docker({ socketPath: agent.runtimeEndpoint.replace(/^unix:\/\//, '') });
      const list = await docker.listContainers({ filters: { label: ['io.kubernetes.pod.name=chatty', 'io.kubernetes.docker.type=container'] } });
      expect(list.length).toBeGreaterThan(0);
      const info = await docker.getContainer(list[0]!.Id).inspect();
      expect(info.HostConfig.LogConfig).toEqual({ Type: 'json-file', Config: { 'max-size': String(64 * 1024), 'max-file': '3' } });
    }
  });
});
