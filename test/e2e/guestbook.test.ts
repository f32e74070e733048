// The whole cluster, as a user runs it: `k8ts up`, the classic guestbook from
// examples/guestbook with the real kubectl, NodePort 30001 on every node, a message written
// through one node and read back through the other (master -> slaves replication, Service
// env vars and cross-node pod networking at once), then `k8ts down` leaves nothing.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import type { JsonValue } from '../../api/object.js';

const ROOT = join(import.meta.dirname, '..', '..');
const K8TS = join(ROOT, 'bin', 'k8ts.js');
const STATE = '/var/lib/k8ts-e2e';
const RUN = '/run/k8ts-e2e';
const KUBECONFIG = join(STATE, 'kubeconfig');
const NODE_IPS = ['192.168.56.11', '192.168.56.12'];
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.log('guestbook e2e skipped: needs root (network namespaces, containerd, iptables)');

async function k8ts(args: string[]) {
  return execa(process.execPath, [K8TS, ...args], { reject: false, all: true });
}

async function kubectl(args: string[]) {
  const r = await execa('kubectl', ['--kubeconfig', KUBECONFIG, ...args], { reject: false, all: true });
  return r;
}

function get(url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout ${url}`)));
    req.on('error', reject);
  });
}

async function eventually<T>(what: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await fn();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  throw new Error(`${what}: ${last instanceof Error ? last.message : String(last)}`);
}

interface PodInfo {
  name: string;
  node: string;
  phase: string;
  ready: boolean;
  ip?: string;
  labels: Record<string, string>;
}

async function pods(): Promise<PodInfo[]> {
  const r = await kubectl(['get', 'pods', '-o', 'json']);
  if (r.exitCode !== 0) throw new Error(r.all);
  return JSON.parse(r.stdout).items.map((p: JsonValue) => ({
    name: p.metadata.name,
    node: p.spec.nodeName,
    phase: p.status?.phase,
    ready: !!p.status?.conditions?.some((c: JsonValue) => c.type === 'Ready' && c.status === 'True'),
    ip: p.status?.podIP,
    labels: p.metadata.labels ?? {},
  }));
}

async function dumpLogs(): Promise<void> {
  const dir = join(STATE, 'logs');
  if (!existsSync(dir)) return;
  for (const f of ['control-plane.log', 'node-1-agent.log', 'node-2-agent.log']) {
    const p = join(dir, f);
    if (existsSync(p)) console.log(`--- ${f} (tail)\n` + readFileSync(p, 'utf8').split('\n').slice(-40).join('\n'));
  }
}

for (const runtime of ['cri', 'docker'] as const) {
  describe.skipIf(!isRoot)(`guestbook on a local cluster (${runtime})`, () => {
    let upOk = false;
    beforeAll(async () => {
      await k8ts(['down', '--state-dir', STATE, '--run-dir', RUN]);
      const r = await k8ts(['up', '--runtime', runtime, '--state-dir', STATE, '--run-dir', RUN]);
      if (r.exitCode !== 0) {
        await dumpLogs();
        throw new Error(`k8ts up failed:\n${r.all}`);
      }
      upOk = true;
    }, 240_000);

    afterAll(async () => {
      if (!upOk) await dumpLogs();
      const r = await k8ts(['down', '--state-dir', STATE, '--run-dir', RUN]);
      if (r.exitCode !== 0) console.log(r.all);
    }, 120_000);

    it('runs every guestbook pod across both workers and answers on NodePort 30001 of each node', async () => {
      const created = await kubectl(['create', '-f', join(ROOT, 'examples', 'guestbook')]);
      expect(created.exitCode, created.all).toBe(0);
      expect(created.stdout).toContain('replicationcontroller/frontend created');
      expect(created.stdout).toContain('service/frontend created');

      const all = await eventually('6 guestbook pods Running and Ready', 150_000, async () => {
        const list = await pods();
        const ready = list.filter((p) => p.phase === 'Running' && p.ready);
        if (ready.length < 6) throw new Error(`${ready.length}/6 ready: ${JSON.stringify(list)}`);
        return list;
      });
      expect(new Set(all.map((p) => p.node))).toEqual(new Set(['node-1', 'node-2']));

      for (const ip of NODE_IPS) {
        const page = await eventually(`page on ${ip}:30001`, 30_000, () => get(`http://${ip}:30001/`));
        expect(page.status).toBe(200);
        expect(page.body.toLowerCase()).toContain('guestbook');
      }
    });

    it("the node namespaces have no route to the host's resolvers, so lookups fail at once instead of timing out", async () => {
      // (dockerd looks up docker.io before every pull: it waited 10 s per image)
      const resolvers = readFileSync('/etc/resolv.conf', 'utf8')
        .split('\n')
        .map((l) => /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)/.exec(l)?.[1])
        .filter((ip): ip is string => !!ip && !ip.startsWith('127.'));
      if (!resolvers.length) console.log('(this machine has only loopback resolvers: nothing to route)');
      for (const ip of resolvers) {
        const r = await execa('ip', ['-n', 'k8ts-node-1', 'route', 'get', ip], { reject: false, all: true });
        expect(r.exitCode, r.all).not.toBe(0);
        expect(r.all).toMatch(/unreachable|No route to host/i);
      }
    });

    it('writes a message through node-1 and reads it back through node-2 (master -> slaves)', async () => {
      const msg = `hello-${runtime}-${Date.now()}`;
      const set = await eventually('set via node-1', 30_000, async () => {
        const r = await get(`http://${NODE_IPS[0]}:30001/guestbook.php?cmd=set&key=messages&value=${msg}`);
        if (r.status !== 200) throw new Error(`${r.status} ${r.body}`);
        return r;
      });
      expect(JSON.parse(set.body)).toEqual({ message: 'Updated' });
      const got = await eventually('the message replicated and read via node-2', 30_000, async () => {
        const r = await get(`http://${NODE_IPS[1]}:30001/guestbook.php?cmd=get&key=messages`);
        if (!r.body.includes(msg)) throw new Error(r.body);
        return r;
      });
      expect(JSON.parse(got.body).data).toContain(msg);
    });

    it('shows two connected slaves on the master through kubectl exec', async () => {
      const master = (await pods()).find((p) => p.labels.name === 'redis-master');
      expect(master).toBeDefined();
      const info = await eventually('two slaves connected', 30_000, async () => {
        const r = await kubectl(['exec', master!.name, '--', 'redis-cli', 'info', 'replication']);
        if (!/connected_slaves:2/.test(r.stdout)) throw new Error(r.all);
        return r.stdout;
      }).catch(async (err: Error) => {
        // (seen twice in ~20 runs, not reproduced by hand: what each replica was doing)
        for (const p of (await pods()).filter((x) => x.labels.name === 'redis-slave')) {
          const logs = await kubectl(['logs', p.name]);
          console.log(`--- ${p.name} on ${p.node}:\n${logs.all.split('\n').slice(-15).join('\n')}`);
        }
        throw err;
      });
      expect(info).toMatch(/role:master/);
    });

    it('replaces a deleted frontend pod while NodePort keeps answering', async () => {
      const before = (await pods()).filter((p) => p.labels.name === 'frontend');
      expect(before).toHaveLength(3);
      const victim = before[0]!.name;
      // Success times per node: the Service must keep answering on both. A request in flight
      // to the dying pod can fail until kube-proxy drops its endpoint (about a second, as
      // upstream without a preStop delay), so the measure is the longest gap between answers.
      const ok: Record<string, number[]> = Object.fromEntries(NODE_IPS.map((ip) => [ip, [] as number[]]));
      let stop = false;
      // One poller per node, so a request hanging on one does not pause the other.
      const poller = Promise.all(
        NODE_IPS.map(async (ip) => {
          while (!stop) {
            try {
              const r = await get(`http://${ip}:30001/`, 2000);
              if (r.status === 200) ok[ip]!.push(Date.now());
            } catch {
              /* counted as a gap */
            }
            await new Promise((r) => setTimeout(r, 100));
          }
        }),
      );
      const t0 = Date.now();
      const del = await kubectl(['delete', 'pod', victim, '--wait=false']);
      expect(del.exitCode, del.all).toBe(0);
      await eventually('a replacement frontend Running', 60_000, async () => {
        const now = (await pods()).filter((p) => p.labels.name === 'frontend' && p.name !== victim && p.phase === 'Running' && p.ready);
        if (now.length < 3) throw new Error(`${now.length}/3`);
      });
      stop = true;
      await poller;
      const t1 = Date.now();
      // How long each node went without an answer while the pod was replaced: printed, not
      // asserted (it is a latency, set by the machine's load as much as by k8ts).
      for (const ip of NODE_IPS) {
        const times = [t0, ...ok[ip]!, t1];
        const maxGap = Math.max(...times.slice(1).map((t, i) => t - times[i]!));
        console.log(`frontend replacement: longest time without an answer on ${ip}: ${maxGap} ms`);
        // Two of the three pods served throughout: each node answered while the third was replaced.
        expect(ok[ip]!.length, `answers on ${ip} during the replacement`).toBeGreaterThan(0);
      }
      // The state after it: once every node's kube-proxy has programmed exactly the current
      // frontend pods, the Service answers every request on every node. A dead endpoint left in
      // the rules would fail a third of them: 20 in a row all answer with odds of 0.03%.
      const current = (await pods()).filter((p) => p.labels.name === 'frontend' && p.phase === 'Running').map((p) => p.ip).sort();
      expect(current).toHaveLength(3);
      for (const n of ['node-1', 'node-2']) {
        await eventually(`${n}'s rules for the frontend Service to have the 3 current pods`, 30_000, async () => {
          const r = await k8ts(['node', '--local-state-dir', STATE, '--node', n, 'service', 'frontend', '-o', 'json']);
          const path = JSON.parse(r.stdout) as { ports: Array<{ endpoints: Array<{ ip: string }> }> };
          const eps = [...new Set(path.ports.flatMap((pt) => pt.endpoints.map((e) => e.ip)))].sort();
          if (JSON.stringify(eps) !== JSON.stringify(current)) throw new Error(`${eps.join(',')} vs ${current.join(',')}`);
        });
      }
      for (const ip of NODE_IPS) {
        // The replacement may still be starting its server: first three answers in a row, then none may fail.
        await eventually(`3 answers in a row on ${ip}`, 30_000, async () => {
          for (let i = 0; i < 3; i++) expect((await get(`http://${ip}:30001/`, 5000)).status).toBe(200);
        });
        for (let i = 0; i < 20; i++) expect((await get(`http://${ip}:30001/`, 5000)).status, `request ${i} on ${ip}`).toBe(200);
      }
    });

    it('k8ts node and /metrics show what node-1 runs, also with the control plane stopped', async () => {
      const node = (args: string[]) => k8ts(['node', '--local-state-dir', STATE, '--node', 'node-1', ...args]);
      const onNode1 = (await pods()).filter((p) => p.node === 'node-1').map((p) => p.name);
      const frontends = (await pods()).filter((p) => p.labels.name === 'frontend' && p.phase === 'Running');
      // The kubelet's metrics (with kube-proxy's) through the apiserver's nodes/proxy.
      const kubeletMetrics = await kubectl(['get', '--raw', '/api/v1/nodes/node-1/proxy/metrics']);
      expect(kubeletMetrics.exitCode, kubeletMetrics.all).toBe(0);
      expect(kubeletMetrics.stdout).toMatch(/kubelet_pod_start_duration_seconds_count [1-9]/);
      expect(kubeletMetrics.stdout).toContain('k8ts_proxy_sync_proxy_rules_duration_seconds');
      const apiMetrics = await kubectl(['get', '--raw', '/metrics']);
      expect(apiMetrics.stdout).toMatch(/apiserver_request_duration_seconds_count\{verb="LIST",resource="pods"/);

      // Stop the control plane: node-level debugging must not need it.
      const state = JSON.parse(readFileSync(join(STATE, 'cluster.json'), 'utf8'));
      process.kill(state.pids.controlPlane, 'SIGKILL');
      const podsOut = await node(['pods', '-o', 'json']);
      expect(podsOut.exitCode, podsOut.all).toBe(0);
      const sandboxes = (JSON.parse(podsOut.stdout) as { items: Array<{ name: string; state: string }> }).items;
      expect(sandboxes.filter((p) => p.state === 'Ready').map((p) => p.name)).toEqual(expect.arrayContaining(onNode1));
      const ps = await node(['ps', '-a']);
      expect(ps.exitCode, ps.all).toBe(0);
      expect(ps.stdout).toMatch(/frontend|redis/);
      const svc = await node(['service', 'frontend', '-o', 'json']);
      expect(svc.exitCode, svc.all).toBe(0);
      expect(svc.stdout).toContain('30001');
      const human = await node(['service', 'frontend']);
      const endpointIPs = [...human.stdout.matchAll(/-> (10\.244\.\d+\.\d+):80/g)].map((m) => m[1]);
      expect(endpointIPs).toHaveLength(frontends.length);
      // Endpoints on both workers: each node has its own /24 of 10.244.0.0/16.
      expect(new Set(endpointIPs.map((ip) => ip!.split('.')[2])).size).toBe(2);
      const missing = await node(['logs', 'no-such-pod']);
      expect(missing.exitCode).not.toBe(0);
      expect(missing.stderr.trim().split('\n')).toHaveLength(1);
      expect(missing.stderr).toContain('no-such-pod');
    });

    it('k8ts down leaves nothing behind', async () => {
      const r = await k8ts(['down', '--state-dir', STATE, '--run-dir', RUN]);
      expect(r.exitCode, r.all).toBe(0);
      const netns = (await execa('ip', ['netns', 'list'])).stdout;
      expect(netns).not.toMatch(/k8ts-/);
      const link = await execa('ip', ['link', 'show', 'k8ts0'], { reject: false });
      expect(link.exitCode).not.toBe(0);
      expect(existsSync(STATE)).toBe(false);
      expect(existsSync(RUN)).toBe(false);
      const ps = (await execa('ps', ['-eo', 'args'])).stdout.split('\n');
      expect(ps.filter((l) => l.includes(STATE) || l.includes(RUN))).toEqual([]);
      const fwd = (await execa('iptables', ['-S', 'FORWARD'])).stdout;
      expect(fwd).not.toContain('K8TS-LOCAL');
    });
  });
}
