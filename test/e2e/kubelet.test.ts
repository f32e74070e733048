// The kubelet live, on both runtimes: a control plane in this process, one agent (the real
// CLI) on a private containerd or dockerd, and the real kubectl. Pods are bound by setting
// spec.nodeName (no scheduler needed).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import YAML from 'yaml';
import { startControlPlane, type ControlPlane } from '../../control-plane/apiserver/index.js';
import { joinControllers, startTestAgent, type TestAgent } from '../helpers/agent.js';
import { startTestRegistry, type TestRegistry } from '../helpers/podnet.js';
import { waitFor } from '../helpers/wait.js';
import type { JsonValue } from '../../api/object.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.log('kubelet e2e skipped: needs root (containerd/dockerd, CNI, iptables)');

const RUNTIMES = (process.env.K8TS_E2E_RUNTIMES ?? 'cri,docker').split(',') as ('cri' | 'docker')[];

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

function ipInCIDR(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/') as [string, string];
  const n = (s: string) => s.split('.').reduce((a, x) => a * 256 + Number(x), 0);
  const mask = 2 ** 32 - 2 ** (32 - Number(bits));
  return (n(ip) & mask) >>> 0 === (n(base) & mask) >>> 0;
}

describe.skipIf(!isRoot).each(RUNTIMES)('kubelet on %s', (runtime) => {
  let cp: ControlPlane;
  let cpDir: string;
  let reg: TestRegistry;
  let agent: TestAgent;
  const node = `kl-${runtime}`;
  const kubectl = (args: string[], input?: string) =>
    execa('kubectl', ['--kubeconfig', cp.adminKubeconfig, ...args], { reject: false, all: true, input, timeout: 60_000 });
  const podJSON = async (name: string) => {
    const r = await kubectl(['get', 'pod', name, '-o', 'json']);
    if (r.exitCode !== 0) throw new Error(r.all);
    return JSON.parse(r.stdout);
  };
  const apply = async (manifest: object) => {
    const r = await kubectl(['apply', '-f', '-'], JSON.stringify(manifest));
    if (r.exitCode !== 0) throw new Error(r.all);
  };
  const pod = (name: string, containers: object[], spec: object = {}) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels: { app: name } },
    spec: { nodeName: node, terminationGracePeriodSeconds: 2, containers, ...spec },
  });
  const BUSYBOX = 'docker.io/library/busybox:latest';
  const running = (name: string, timeout = 60_000) =>
    eventually(`${name} Running`, timeout, async () => {
      const p = await podJSON(name);
      if (p.status?.phase !== 'Running') throw new Error(`phase ${p.status?.phase}: ${JSON.stringify(p.status?.containerStatuses?.map((c: JsonValue) => c.state))}`);
      return p;
    });

  beforeAll(async () => {
    cpDir = await mkdtemp(join(tmpdir(), 'k8ts-kl-cp-'));
    cp = await startControlPlane({ dataDir: cpDir, securePort: 0, bindAddress: '127.0.0.1', advertiseAddress: '127.0.0.1', components: [joinControllers()] });
    await cp.ready;
    reg = await startTestRegistry(['pause', 'busybox']);
    await mkdir(join(cpDir, 'manifests'));
    agent = await startTestAgent({ controlPlane: cp, runtime, nodeName: node, registryMirror: reg.url, crashLoopBackoffMs: 1000, podManifestPath: join(cpDir, 'manifests') });
  });

  afterAll(async () => {
    if (agent && process.env.K8TS_E2E_DUMP) console.log(agent.output().slice(-20000));
    await agent?.stop().catch((e) => console.error('agent stop', e));
    await reg?.stop().catch(() => undefined);
    await cp?.stop().catch(() => undefined);
    if (cpDir) await rm(cpDir, { recursive: true, force: true });
  });

  it('registers a Ready node with capacity, nodeInfo and a Lease', async () => {
    const n = await eventually('node Ready', 30_000, async () => {
      const r = await kubectl(['get', 'node', node, '-o', 'json']);
      const obj = JSON.parse(r.stdout);
      const ready = obj.status.conditions.find((c: JsonValue) => c.type === 'Ready');
      if (ready?.status !== 'True') throw new Error(JSON.stringify(ready));
      return obj;
    });
    expect(n.status.capacity.pods).toBe('110');
    expect(n.status.allocatable.cpu).toBeTruthy();
    expect(n.status.nodeInfo.kubeletVersion).toMatch(/^v1\.32/);
    expect(n.status.nodeInfo.containerRuntimeVersion).toMatch(runtime === 'cri' ? /^containerd:\/\// : /^docker:\/\//);
    expect(n.status.addresses).toContainEqual({ type: 'InternalIP', address: agent.nodeIP });
    expect(n.status.conditions.find((c: JsonValue) => c.type === 'Ready').reason).toBe('KubeletReady');
    expect(n.status.conditions.map((c: JsonValue) => c.type).sort()).toEqual(['DiskPressure', 'MemoryPressure', 'PIDPressure', 'Ready']);
    const lease = await kubectl(['get', 'lease', '-n', 'kube-node-lease', node, '-o', 'json']);
    expect(JSON.parse(lease.stdout).spec.holderIdentity).toBe(node);
  });

  it('runs a two-container pod with an IP from the podCIDR; containers talk over localhost; logs and exec work', async () => {
    await apply(
      pod('web', [
        { name: 'server', image: BUSYBOX, command: ['sh', '-c', 'echo hello from server; mkdir -p /www; echo ok-localhost > /www/index.html; httpd -f -p 8080 -h /www'], ports: [{ containerPort: 8080 }] },
        { name: 'client', image: BUSYBOX, command: ['sh', '-c', 'sleep 1; while true; do wget -q -O - http://127.0.0.1:8080/ && sleep 1000; sleep 0.5; done'] },
      ]),
    );
    const p = await running('web');
    expect(ipInCIDR(p.status.podIP, agent.podCIDR)).toBe(true);
    expect(p.status.podIPs).toEqual([{ ip: p.status.podIP }]);
    expect(p.status.hostIP).toBe(agent.nodeIP);
    expect(p.status.qosClass).toBe('BestEffort');
    expect(p.status.containerStatuses[0].containerID).toMatch(runtime === 'cri' ? /^containerd:\/\// : /^docker:\/\//);
    const ready = await eventually('web Ready', 30_000, async () => {
      const q = await podJSON('web');
      const c = q.status.conditions.find((x: JsonValue) => x.type === 'Ready');
      if (c.status !== 'True') throw new Error(JSON.stringify(q.status.conditions));
      return q;
    });
    expect(ready.status.conditions.map((c: JsonValue) => c.type)).toEqual(expect.arrayContaining(['PodScheduled', 'Initialized', 'ContainersReady', 'Ready']));
    const logs = await eventually('client log', 30_000, async () => {
      const r = await kubectl(['logs', 'web', '-c', 'client']);
      if (!r.stdout.includes('ok-localhost')) throw new Error(r.all);
      return r.stdout;
    });
    expect(logs).toContain('ok-localhost');
    const server = await kubectl(['logs', 'web', '-c', 'server']);
    expect(server.stdout).toContain('hello from server');
    const host = await kubectl(['exec', 'web', '-c', 'server', '--', 'cat', '/etc/hostname']);
    expect(host.exitCode, host.all).toBe(0);
    expect(host.stdout.trim()).toBe('web');
    const code = await kubectl(['exec', 'web', '-c', 'server', '--', 'sh', '-c', 'exit 3']);
    expect(code.exitCode).toBe(3);
    // stdin flows in (EOF propagation depends on the runtime's stream protocol, so the
    // command reads one line instead of waiting for EOF).
    const piped = await kubectl(['exec', '-i', 'web', '-c', 'server', '--', 'sh', '-c', 'read line; echo got:$line'], 'from-stdin\n');
    expect(piped.stdout).toContain('got:from-stdin');
  });

  it('port-forward reaches the pod', async () => {
    const lport = 20000 + Math.floor(Math.random() * 20000);
    const pf = execa('kubectl', ['--kubeconfig', cp.adminKubeconfig, 'port-forward', 'pod/web', `${lport}:8080`], { reject: false, all: true });
    try {
      const body = await eventually('port-forward', 60_000, async () => {
        return await new Promise<string>((resolve, reject) => {
          const s = net.connect(lport, '127.0.0.1');
          let d = '';
          s.on('connect', () => s.write('GET / HTTP/1.0\r\n\r\n'));
          s.on('data', (b) => (d += b));
          s.on('end', () => resolve(d));
          s.on('error', reject);
          setTimeout(() => {
            s.destroy();
            reject(new Error('timeout: ' + d));
          }, 3000);
        });
      });
      expect(body).toContain('ok-localhost');
    } finally {
      pf.kill('SIGTERM');
      await pf;
    }
  });

  it('crash loop backs off with growing restartCount; logs --previous shows the last run', async () => {
    await apply(pod('crash', [{ name: 'crash', image: BUSYBOX, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'echo attempt-$(date +%s); exit 1'] }]));
    const seen = new Set<string>();
    const last = await eventually('CrashLoopBackOff with restarts', 60_000, async () => {
      const p = await podJSON('crash');
      const cs = p.status?.containerStatuses?.[0];
      if (cs?.state?.waiting?.reason) seen.add(cs.state.waiting.reason);
      if (!(cs?.restartCount >= 2 && seen.has('CrashLoopBackOff'))) throw new Error(JSON.stringify(cs));
      return cs;
    });
    expect(last.lastState.terminated.exitCode).toBe(1);
    expect(last.lastState.terminated.reason).toBe('Error');
    const prev = await kubectl(['logs', 'crash', '--previous']);
    expect(prev.exitCode, prev.all).toBe(0);
    expect(prev.stdout).toMatch(/attempt-\d+/);
    const ev = await kubectl(['get', 'events', '--field-selector', 'involvedObject.name=crash', '-o', 'json']);
    const reasons = JSON.parse(ev.stdout).items.map((e: JsonValue) => e.reason);
    expect(reasons).toContain('BackOff');
    const later = await eventually('restartCount grows', 60_000, async () => {
      const p = await podJSON('crash');
      const n = p.status.containerStatuses[0].restartCount;
      if (n <= last.restartCount) throw new Error(`restartCount ${n}`);
      return n;
    });
    expect(later).toBeGreaterThan(last.restartCount);
  });

  it('a failing liveness probe restarts the container; a failing readiness probe flips Ready', async () => {
    await apply(
      pod('live', [
        {
          name: 'live',
          image: BUSYBOX,
          imagePullPolicy: 'IfNotPresent',
          command: ['sh', '-c', 'touch /tmp/healthy; sleep 3; rm /tmp/healthy; sleep 600'],
          livenessProbe: { exec: { command: ['cat', '/tmp/healthy'] }, periodSeconds: 1, failureThreshold: 1 },
        },
      ]),
    );
    await apply(
      pod('ready', [
        {
          name: 'ready',
          image: BUSYBOX,
          imagePullPolicy: 'IfNotPresent',
          command: ['sh', '-c', 'mkdir -p /www; httpd -f -p 8080 -h /www'],
          readinessProbe: { httpGet: { path: '/ready.html', port: 8080 }, periodSeconds: 1, failureThreshold: 1 },
        },
      ]),
    );
    const restarted = await eventually('liveness restart', 60_000, async () => {
      const p = await podJSON('live');
      const n = p.status?.containerStatuses?.[0]?.restartCount ?? 0;
      if (n < 1) throw new Error(`restartCount ${n}`);
      return n;
    });
    expect(restarted).toBeGreaterThanOrEqual(1);
    const ev = await kubectl(['get', 'events', '--field-selector', 'involvedObject.name=live', '-o', 'json']);
    const items = JSON.parse(ev.stdout).items;
    expect(items.map((e: JsonValue) => e.message)).toContain('Container live failed liveness probe, will be restarted');
    expect(items.some((e: JsonValue) => e.reason === 'Unhealthy' && /^Liveness probe failed/.test(e.message))).toBe(true);

    const readyCond = async () => (await podJSON('ready')).status?.conditions?.find((c: JsonValue) => c.type === 'Ready')?.status;
    await running('ready');
    await new Promise((r) => setTimeout(r, 2000));
    expect(await readyCond()).toBe('False');
    expect((await kubectl(['exec', 'ready', '--', 'sh', '-c', 'echo ok > /www/ready.html'])).exitCode).toBe(0);
    await eventually('Ready True', 20_000, async () => {
      if ((await readyCond()) !== 'True') throw new Error('not ready');
    });
    expect((await kubectl(['exec', 'ready', '--', 'rm', '/www/ready.html'])).exitCode).toBe(0);
    await eventually('Ready False again', 20_000, async () => {
      if ((await readyCond()) !== 'False') throw new Error('still ready');
    });
  });

  it('a missing image shows ErrImagePull then ImagePullBackOff', async () => {
    await apply(pod('noimage', [{ name: 'c', image: 'docker.io/library/does-not-exist:v1' }]));
    const reasons = new Set<string>();
    await eventually('ImagePullBackOff', 60_000, async () => {
      const p = await podJSON('noimage');
      const w = p.status?.containerStatuses?.[0]?.state?.waiting;
      if (w?.reason) reasons.add(w.reason);
      if (w?.reason !== 'ImagePullBackOff') throw new Error(JSON.stringify(w));
    });
    expect(reasons.has('ImagePullBackOff')).toBe(true);
    const p = await podJSON('noimage');
    expect(p.status.phase).toBe('Pending');
  });

  it('logs -f streams new lines', async () => {
    await apply(pod('ticker', [{ name: 't', image: BUSYBOX, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', 'i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.3; done'] }]));
    await running('ticker');
    const f = execa('kubectl', ['--kubeconfig', cp.adminKubeconfig, 'logs', '-f', 'ticker', '--tail=1'], { reject: false, all: true });
    // Streamed: lines written after kubectl connected keep arriving (however long a loaded
    // machine takes to start kubectl), one tick after another.
    let streamed = '';
    f.stdout!.on('data', (d: Buffer) => (streamed += d.toString()));
    // (complete lines only: the kill may cut the last one)
    const ticksIn = (t: string) => t.split('\n').slice(0, -1).flatMap((l) => /^tick-(\d+)$/.exec(l.trim())?.[1] ?? []).map(Number);
    await waitFor('4 streamed lines', () => ticksIn(streamed).length >= 4, 60_000);
    f.kill('SIGTERM');
    await f;
    const ticks = ticksIn(streamed);
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    expect(ticks).toEqual(Array.from({ length: ticks.length }, (_, i) => ticks[0]! + i));
    const tail = await kubectl(['logs', 'ticker', '--tail=2', '--timestamps']);
    const lines = tail.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z tick-\d+$/);
  });

  it('exec -it over the v5 WebSocket protocol through the apiserver (tty, resize, exit status)', async () => {
    const kc = YAML.parse(readFileSync(cp.adminKubeconfig, 'utf8'));
    const user = kc.users[0].user;
    const b64 = (x?: string) => (x ? Buffer.from(x, 'base64').toString() : undefined);
    const url = `${cp.url.replace('https', 'wss')}/api/v1/namespaces/default/pods/web/exec?container=server&command=sh&stdin=true&stdout=true&tty=true`;
    const ws = new WebSocket(url, ['v5.channel.k8s.io', 'v4.channel.k8s.io'], {
      ca: b64(kc.clusters[0].cluster['certificate-authority-data']),
      cert: b64(user['client-certificate-data']),
      key: b64(user['client-key-data']),
      headers: user.token ? { Authorization: `Bearer ${user.token}` } : {},
    });
    let out = '';
    let status = '';
    const closed = new Promise<void>((resolve, reject) => {
      ws.on('message', (d: Buffer) => {
        if (d[0] === 1) out += d.subarray(1).toString();
        if (d[0] === 3) status += d.subarray(1).toString();
      });
      ws.on('close', () => resolve());
      ws.on('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    expect(ws.protocol).toBe('v5.channel.k8s.io');
    ws.send(Buffer.concat([Buffer.from([4]), Buffer.from(JSON.stringify({ Width: 100, Height: 30 }))]));
    // Type once the shell shows its prompt, as a person would: input sent before the tty is
    // set up races the shell's own terminal setup.
    await waitFor('the shell prompt', () => out.includes('# '), 60_000);
    // The resize and stdin are separate channels, so a first `stty size` may still see the
    // old size: ask until it is the new one (the default is never 30x100).
    await waitFor('the terminal resized to 30x100', () => {
      if (out.includes('30 100')) return true;
      ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('stty size\n')]));
      return false;
    }, 30_000, 300);
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('echo $((6*7)); exit 5\n')]));
    await closed;
    expect(out).toContain('42');
    const st = JSON.parse(status);
    expect(st.reason).toBe('NonZeroExitCode');
    expect(st.details.causes[0]).toEqual({ reason: 'ExitCode', message: '5' });
  });

  it('survives kill -9 of the agent: pods keep running with the same container IDs', async () => {
    const before = await podJSON('web');
    const ids = before.status.containerStatuses.map((c: JsonValue) => c.containerID);
    await agent.kill9();
    await agent.restart();
    await new Promise((r) => setTimeout(r, 5000));
    const after = await running('web');
    expect(after.status.containerStatuses.map((c: JsonValue) => c.containerID)).toEqual(ids);
    expect(after.status.containerStatuses.map((c: JsonValue) => c.restartCount)).toEqual(before.status.containerStatuses.map((c: JsonValue) => c.restartCount));
    expect(after.status.podIP).toBe(before.status.podIP);
    const host = await kubectl(['exec', 'web', '-c', 'server', '--', 'cat', '/etc/hostname']);
    expect(host.stdout.trim()).toBe('web');
  });

  it('delete honours the grace period and the kubelet finishes the deletion', async () => {
    await apply(pod('slowstop', [{ name: 's', image: BUSYBOX, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', "trap '' TERM; while true; do sleep 0.2; done"] }], { terminationGracePeriodSeconds: 4 }));
    await running('slowstop');
    const t0 = Date.now();
    const r = await kubectl(['delete', 'pod', 'slowstop', '--wait=true', '--timeout=60s']);
    const took = Date.now() - t0;
    expect(r.exitCode, r.all).toBe(0);
    expect(took).toBeGreaterThanOrEqual(3500); // SIGTERM ignored: SIGKILL only after the grace period
    expect(took).toBeLessThan(30_000);
    const gone = await kubectl(['get', 'pod', 'slowstop']);
    expect(gone.exitCode).not.toBe(0);
    expect(gone.all).toContain('NotFound');
  });

  it('a static pod runs and its mirror pod passes NodeRestriction: bound to and owned by the Node, no service account', async () => {
    const manifest = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'static-web', namespace: 'default' }, spec: { containers: [{ name: 'c', image: BUSYBOX, imagePullPolicy: 'IfNotPresent', command: ['sleep', '3600'] }] } };
    await writeFile(join(cpDir, 'manifests', 'static-web.json'), JSON.stringify(manifest));
    const mirror = await running(`static-web-${node}`);
    expect(mirror.metadata.annotations['kubernetes.io/config.mirror']).toBeTruthy();
    const uid = JSON.parse((await kubectl(['get', 'node', node, '-o', 'json'])).stdout).metadata.uid;
    expect(mirror.metadata.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Node', name: node, uid, controller: true }]);
    expect(mirror.spec.nodeName).toBe(node);
    expect(mirror.spec.serviceAccountName).toBeUndefined();
    await rm(join(cpDir, 'manifests', 'static-web.json'));
  });

  it('env (Service links, fieldRef, configMap/secret refs, envFrom) and volumes (configMap, secret, downwardAPI, emptyDir, subPath)', async () => {
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'redis-master', namespace: 'default' }, spec: { selector: { app: 'x' }, ports: [{ name: 'redis', port: 6379 }] } };
    await apply(svc);
    await apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'default' }, data: { greeting: 'hi', 'app.conf': 'k=v\n' } });
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'sec', namespace: 'default' }, data: { password: Buffer.from('s3cret').toString('base64') } });
    await apply(
      pod(
        'envvol',
        [
          {
            name: 'c',
            image: BUSYBOX,
            imagePullPolicy: 'IfNotPresent',
            command: ['sleep', '3600'],
            env: [
              { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
              { name: 'PASS', valueFrom: { secretKeyRef: { name: 'sec', key: 'password' } } },
              { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'greeting' } } },
              { name: 'COMBINED', value: '$(GREETING)-$(POD_NAME)' },
            ],
            envFrom: [{ prefix: 'CM_', configMapRef: { name: 'cfg' } }],
            volumeMounts: [
              { name: 'cfg', mountPath: '/etc/cfg' },
              { name: 'sec', mountPath: '/etc/sec', readOnly: true },
              { name: 'info', mountPath: '/etc/info' },
              { name: 'scratch', mountPath: '/scratch' },
              { name: 'cfg', mountPath: '/etc/app.conf', subPath: 'app.conf' },
            ],
          },
        ],
        {
          volumes: [
            { name: 'cfg', configMap: { name: 'cfg' } },
            { name: 'sec', secret: { secretName: 'sec' } },
            { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } },
            { name: 'scratch', emptyDir: { medium: 'Memory' } },
          ],
          subdomain: 'sub',
          hostAliases: [{ ip: '10.1.2.3', hostnames: ['foo.local', 'bar.local'] }],
        },
      ),
    );
    const p = await running('envvol');
    const env = (await kubectl(['exec', 'envvol', '--', 'env'])).stdout;
    const svcIP = JSON.parse((await kubectl(['get', 'svc', 'redis-master', '-o', 'json'])).stdout).spec.clusterIP;
    expect(env).toContain(`REDIS_MASTER_SERVICE_HOST=${svcIP}`);
    expect(env).toContain('REDIS_MASTER_SERVICE_PORT=6379');
    expect(env).toContain('REDIS_MASTER_SERVICE_PORT_REDIS=6379');
    expect(env).toContain(`REDIS_MASTER_PORT=tcp://${svcIP}:6379`);
    expect(env).toContain(`REDIS_MASTER_PORT_6379_TCP_ADDR=${svcIP}`);
    expect(env).toMatch(/KUBERNETES_SERVICE_HOST=10\./);
    expect(env).toContain('POD_NAME=envvol');
    expect(env).toContain(`POD_IP=${p.status.podIP}`);
    expect(env).toContain('PASS=s3cret');
    expect(env).toContain('COMBINED=hi-envvol');
    expect(env).toContain('CM_greeting=hi');
    const sh = async (cmd: string) => (await kubectl(['exec', 'envvol', '--', 'sh', '-c', cmd])).stdout.trim();
    expect(await sh('cat /etc/cfg/greeting')).toBe('hi');
    expect(await sh('cat /etc/sec/password')).toBe('s3cret');
    expect(await sh('cat /etc/info/name')).toBe('envvol');
    expect(await sh('cat /etc/info/labels')).toBe('app="envvol"');
    expect(await sh('cat /etc/app.conf')).toBe('k=v');
    expect(await sh('readlink /etc/cfg/greeting')).toBe('..data/greeting');
    expect(await sh('grep " /scratch " /proc/mounts | cut -d" " -f3')).toBe('tmpfs');
    expect(await sh('touch /etc/sec/x 2>&1; echo rc=$?')).toMatch(/rc=1/);
    // the kubelet's /etc/hosts: the pod's IP under its FQDN and hostname, and its hostAliases
    const hosts = await sh('cat /etc/hosts');
    expect(hosts).toContain('# Kubernetes-managed hosts file.');
    expect(hosts).toContain('127.0.0.1\tlocalhost');
    expect(hosts).toContain(`${p.status.podIP}\tenvvol.sub.default.svc.cluster.local\tenvvol`);
    expect(hosts).toContain('10.1.2.3\tfoo.local\tbar.local');
  });
});
