// client/ against the real `k8ts control-plane` process (on a real etcd, so the test can
// compact the history the way the apiserver's compactor does): the informer relists after a
// 410 and reconciles what changed while it was away; handler registrations report hasSynced
// and late ones get the cached objects; two leader-election processes hand the Lease over
// when the leader is killed with -9; the event recorder folds repeats into one event with a
// count and a series, and combines similar ones.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, EventRecorder, isResourceExpired, loadClientConfig, type ListerWatcher, SharedIndexInformer, type WatchStream } from '../../client/index.js';
import { EtcdStore } from '../../control-plane/storage/etcd.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/controlplane.js';
import { killOnExit } from '../helpers/exit.js';
import { waitFor } from './controllers-cluster.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const NS = `client-${process.pid}`;
let cp: TestControlPlane;
let client: Client;

beforeAll(async () => {
  cp = await startTestControlPlane({ etcd: true, extraArgs: ['--no-scheduler', '--no-controllers'] });
  client = new Client(loadClientConfig({ kubeconfig: cp.kubeconfigPath }));
  await client.namespaces.create({ metadata: { name: NS } });
  await client.namespaces.create({ metadata: { name: 'kube-system' } }).catch(() => {});
});
afterAll(async () => {
  client?.close();
  await cp?.stop();
});

const configMap = (name: string, v: string): ConfigMap => ({ metadata: { name, namespace: NS, labels: { test: 'client' } }, data: { v } });

/**
 * The real ListerWatcher of a resource, with a gate the test closes so the informer's next
 * watch waits (as if the network were down) until the test has changed and compacted the
 * store. Nothing is faked: the watch that then starts asks the real apiserver for the
 * informer's own resourceVersion.
 */
function gated(lw: ListerWatcher<ConfigMap>) {
  let open = true;
  let release: () => void = () => {};
  const watchRVs: Array<string | undefined> = [];
  const gate: ListerWatcher<ConfigMap> = {
    list: (o) => lw.list(o),
    watch(o, cb) {
      watchRVs.push(o.resourceVersion);
      if (open) return lw.watch(o, cb);
      let inner: WatchStream | undefined;
      let stopped = false;
      const waited = new Promise<void>((r) => (release = r));
      return {
        done: waited.then(() => (stopped ? undefined : (inner = lw.watch(o, cb)).done)),
        stop() {
          stopped = true;
          inner?.stop();
          release();
        },
      };
    },
  };
  return {
    gate,
    watchRVs,
    close: () => void (open = false),
    open: () => {
      open = true;
      release();
    },
  };
}

describe('shared informer on the real apiserver', () => {
  it('relists after a 410 (compacted history) and hands the handlers what changed meanwhile', async () => {
    const cms = client.configmaps.namespace(NS);
    await cms.create(configMap('keep', '1'));
    await cms.create(configMap('gone', '1'));
    const g = gated(cms.listerWatcher({ labelSelector: 'test=client' }));
    const inf = new SharedIndexInformer(g.gate, { initialBackoffMs: 50 });
    const seen: string[] = [];
    inf.addEventHandler({
      add: (o) => seen.push(`add ${o.metadata!.name}`),
      update: (o, n) => o.data?.v !== n.data?.v && seen.push(`update ${n.metadata!.name} ${o.data?.v}->${n.data?.v}`),
      delete: (o) => seen.push(`delete ${o.metadata!.name}`),
    });
    inf.start();
    try {
      await inf.synced;
      // The apiserver goes away (kill -9): the informer's watch breaks, its next one waits at the gate.
      g.close();
      await cp.kill9();
      const lastSeen = inf.lastSyncResourceVersion();
      await cp.restart();
      await waitFor('the informer to retry its watch', async () => g.watchRVs.length >= 2, 30_000);
      // Meanwhile the objects change, and the store compacts past the informer's version.
      await cms.delete('gone');
      await cms.patch('keep', { data: { v: '2' } });
      await cms.create(configMap('new', '1'));
      const store = new EtcdStore({ endpoints: [cp.etcd!.endpoint] });
      try {
        await store.compact(await store.currentRevision());
      } finally {
        await store.close();
      }
      // The watch from the old version really is refused with 410 Expired by the apiserver.
      const refused = await new Promise<unknown>((res) => {
        const w = cms.watch({ resourceVersion: lastSeen }, () => {});
        w.done.then(() => res(undefined), res);
      });
      expect(isResourceExpired(refused)).toBe(true);
      g.open();
      await waitFor('the relist', async () => inf.relists >= 2 && seen.includes('add new'), 30_000);
      // the retry asked for the version it had; after the 410 it listed and watches from the new list
      expect(g.watchRVs[1]).toBe(lastSeen);
      expect(Number(g.watchRVs.at(-1))).toBeGreaterThan(Number(lastSeen));
      expect(seen).toEqual(['add gone', 'add keep', 'update keep 1->2', 'add new', 'delete gone']);
      expect(inf.list(NS).map((o) => o.metadata!.name).sort()).toEqual(['keep', 'new']);
      expect(inf.get(`${NS}/keep`)!.data!.v).toBe('2');
      // and it watches on from the new list: a later change arrives as an event
      await cms.patch('new', { data: { v: '3' } });
      await waitFor('the event after the relist', async () => seen.includes('update new 1->3'));
    } finally {
      inf.stop();
    }
  });

  it('reports hasSynced per handler registration and gives late handlers the cached objects', async () => {
    const secrets = client.secrets.namespace(NS);
    for (const n of ['s1', 's2', 's3']) await secrets.create({ metadata: { name: n, namespace: NS }, stringData: { k: n } });
    const inf = new SharedIndexInformer(secrets.listerWatcher());
    const early: string[] = [];
    const earlyReg = inf.addEventHandler({ add: (o) => early.push(o.metadata!.name!) });
    expect(earlyReg.hasSynced()).toBe(false);
    expect(inf.hasSynced()).toBe(false);
    inf.start();
    try {
      await inf.synced;
      expect(earlyReg.hasSynced()).toBe(true);
      expect(early.sort()).toEqual(['s1', 's2', 's3']);
      const late: Array<[string, boolean]> = [];
      const lateReg = inf.addEventHandler({ add: (o, initial) => late.push([o.metadata!.name!, initial]) });
      expect(lateReg.hasSynced()).toBe(true);
      expect(late.sort()).toEqual([['s1', true], ['s2', true], ['s3', true]]);
      await secrets.create({ metadata: { name: 's4', namespace: NS }, stringData: { k: 's4' } });
      await waitFor('s4 to both handlers', async () => early.includes('s4') && late.some(([n]) => n === 's4'));
      expect(late.find(([n]) => n === 's4')![1]).toBe(false);
    } finally {
      inf.stop();
    }
  });
});

describe('leader election between two processes', () => {
  const procs: ChildProcess[] = [];
  afterAll(() => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  });

  function candidate(identity: string, leaseMs: number) {
    const p = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'test/helpers/leader-candidate.ts'), cp.kubeconfigPath, 'client-test-lock', identity, String(leaseMs)], {
      cwd: REPO,
      env: { ...process.env, K8TS_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    killOnExit(p);
    procs.push(p);
    let out = '';
    let leadingAt: number | undefined;
    p.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (leadingAt === undefined && out.includes(`leading ${identity}`)) leadingAt = Date.now();
    });
    p.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    return { p, identity, leadingAt: () => leadingAt, output: () => out };
  }

  it('the survivor takes the Lease once the killed leader lets it expire', async () => {
    const leaseMs = 3000;
    const a = candidate('cand-a', leaseMs);
    const b = candidate('cand-b', leaseMs);
    const leases = client.leases.namespace('kube-system');
    await waitFor('a leader', async () => a.leadingAt() ?? b.leadingAt(), 60_000);
    const [leader, other] = a.leadingAt() !== undefined ? [a, b] : [b, a];
    const held = await leases.get('client-test-lock');
    expect(held.spec?.holderIdentity).toBe(leader.identity);
    expect(held.spec?.leaseDurationSeconds).toBe(3);
    expect(other.leadingAt()).toBeUndefined();
    // the follower keeps waiting while the leader renews
    const renewedFrom = held.spec!.renewTime!;
    await waitFor('a renewal', async () => (await leases.get('client-test-lock')).spec!.renewTime !== renewedFrom, 10_000);
    expect(other.leadingAt()).toBeUndefined();

    const killedAt = Date.now();
    leader.p.kill('SIGKILL');
    await waitFor('the follower to lead', async () => other.leadingAt(), 30_000);
    // not before the Lease ran out: the follower saw the last renewal at most one retry period before the kill
    expect(other.leadingAt()! - killedAt).toBeGreaterThanOrEqual(leaseMs - leaseMs / 10 - 50);
    const taken = await leases.get('client-test-lock');
    expect(taken.spec?.holderIdentity).toBe(other.identity);
    expect(taken.spec?.leaseTransitions).toBe((held.spec?.leaseTransitions ?? 0) + 1);
    expect(Date.parse(taken.spec!.acquireTime!)).toBeGreaterThan(Date.parse(held.spec!.acquireTime!));

    // a clean stop hands the Lease back at once (ReleaseOnCancel)
    other.p.kill('SIGTERM');
    await new Promise<void>((r) => other.p.once('exit', () => r()));
    const released = await leases.get('client-test-lock');
    expect(released.spec?.holderIdentity ?? '').toBe('');
    expect(other.output()).toContain(`stopped ${other.identity}`);
  });
});

describe('event recorder', () => {
  it('folds identical events into one with a count and series, and combines similar ones', async () => {
    const recorder = new EventRecorder(client, { component: 'client-test' });
    const cm = await client.configmaps.namespace(NS).create(configMap('evented', '1'));
    const gvk = { apiVersion: 'v1', kind: 'ConfigMap' };
    for (let i = 0; i < 5; i++) recorder.event(cm, 'Warning', 'Repeated', 'the same thing happened', gvk);
    await recorder.flush();
    const events = async () =>
      (await client.events.namespace(NS).list({ fieldSelector: `involvedObject.name=evented,involvedObject.kind=ConfigMap` })).items;
    let list = await events();
    expect(list.length).toBe(1);
    expect(list[0]).toMatchObject({ reason: 'Repeated', count: 5, type: 'Warning', source: { component: 'client-test' }, series: { count: 5 } });
    expect(Date.parse(list[0]!.lastTimestamp!)).toBeGreaterThanOrEqual(Date.parse(list[0]!.firstTimestamp!));
    // kubectl shows it as one line with the count
    const described = await cp.kubectl(['describe', 'configmap', 'evented', '-n', NS]);
    expect(described.stdout).toMatch(/Warning\s+Repeated\s+.*\(x5 over .*\)\s+client-test\s+the same thing happened/);

    // 12 similar events (same reason, different messages): the 10th on is one combined event
    for (let i = 0; i < 12; i++) recorder.event(cm, 'Normal', 'Similar', `message ${i}`, gvk);
    await recorder.flush();
    list = (await events()).filter((e) => e.reason === 'Similar');
    const combined = list.filter((e) => e.message!.startsWith('(combined from similar events): '));
    expect(list.length).toBe(10);
    expect(combined.length).toBe(1);
    expect(combined[0]).toMatchObject({ count: 3, message: '(combined from similar events): message 11' });
  });
});
