// client/ without an apiserver: the kinds table against api/resources.ts, the indexer, the
// informer's relist/handler logic over a scripted ListerWatcher, kubeconfig loading as
// kubectl does it, and the event correlator. The same behaviours against the real control
// plane are in test/integration/client.test.ts.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConfigMap, Event } from 'kubernetes-types/core/v1.js';
import { afterAll, describe, expect, it } from 'vitest';
import { RESOURCES } from '../../api/resources.js';
import {
  ApiError,
  ConfigError,
  EventCorrelator,
  Indexer,
  isAlreadyExists,
  isConflict,
  isNotFound,
  isResourceExpired,
  KINDS,
  loadClientConfig,
  type ListerWatcher,
  type ObjectList,
  resourcePath,
  SharedIndexInformer,
  tryInClusterConfig,
  type WatchEvent,
  type WatchStream,
} from '../../client/index.js';

describe('kinds', () => {
  it('has exactly the kinds api/resources.ts serves, with the same identity', () => {
    const fromApi = RESOURCES.map((r) => ({ group: r.group, version: r.version, kind: r.kind, plural: r.plural, namespaced: r.namespaced }));
    const fromClient = Object.values(KINDS).map((k) => ({ ...k }));
    const byKey = (a: { group: string; plural: string }) => `${a.group}/${a.plural}`;
    expect(fromClient.sort((a, b) => byKey(a).localeCompare(byKey(b)))).toEqual(fromApi.sort((a, b) => byKey(a).localeCompare(byKey(b))));
    for (const [name, k] of Object.entries(KINDS)) expect(k.plural).toBe(name);
  });

  it('builds paths from the table and escapes names', () => {
    expect(resourcePath(KINDS.pods, 'default', 'web-0', 'binding')).toBe('/api/v1/namespaces/default/pods/web-0/binding');
    expect(resourcePath(KINDS.pods)).toBe('/api/v1/pods');
    expect(resourcePath(KINDS.nodes, 'ignored', 'n1')).toBe('/api/v1/nodes/n1');
    expect(resourcePath(KINDS.leases, 'kube-system', 'a/b')).toBe('/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/a%2Fb');
    expect(() => resourcePath(KINDS.pods, 'default', '')).toThrow(/empty name/);
  });
});

describe('errors', () => {
  const err = (code: number, reason?: string) => new ApiError(code, reason ? { kind: 'Status', code, reason } : undefined, 'x');
  it('tells AlreadyExists from Conflict by the Status reason', () => {
    expect(isAlreadyExists(err(409, 'AlreadyExists'))).toBe(true);
    expect(isConflict(err(409, 'AlreadyExists'))).toBe(false);
    expect(isConflict(err(409, 'Conflict'))).toBe(true);
    expect(isNotFound(err(404))).toBe(true);
    expect(isResourceExpired(err(410, 'Expired'))).toBe(true);
    expect(isResourceExpired(err(410, 'Gone'))).toBe(true);
    expect(isNotFound(new Error('404'))).toBe(false);
    expect(err(0).reason).toBe('ConnectionFailed');
  });
});

describe('indexer', () => {
  it('keeps the namespace index and custom indices in step with updates and deletes', () => {
    const ix = new Indexer<ConfigMap>({ app: (o) => (o.metadata?.labels?.app ? [o.metadata.labels.app] : []) });
    const cm = (ns: string, name: string, app?: string): ConfigMap => ({ metadata: { namespace: ns, name, labels: app ? { app } : {} } });
    ix.set('a/x', cm('a', 'x', 'web'));
    ix.set('a/y', cm('a', 'y', 'db'));
    ix.set('b/z', cm('b', 'z', 'web'));
    expect(ix.byIndex('namespace', 'a').map((o) => o.metadata!.name).sort()).toEqual(['x', 'y']);
    expect(ix.byIndex('app', 'web').map((o) => o.metadata!.name).sort()).toEqual(['x', 'z']);
    ix.set('a/x', cm('a', 'x', 'db')); // relabelled: moves between index values
    expect(ix.byIndex('app', 'web').map((o) => o.metadata!.name)).toEqual(['z']);
    expect(ix.byIndex('app', 'db').map((o) => o.metadata!.name).sort()).toEqual(['x', 'y']);
    ix.delete('b/z');
    expect(ix.byIndex('app', 'web')).toEqual([]);
    expect(ix.indexKeys('namespace', 'b')).toEqual([]);
    // an index added later covers what is already stored
    ix.addIndexers({ name: (o) => [o.metadata!.name!] });
    expect(ix.byIndex('name', 'y').length).toBe(1);
    expect(() => ix.addIndexers({ name: () => [] })).toThrow(/already exists/);
  });
});

/** A ListerWatcher whose lists and watch outcomes the test scripts, one step at a time. */
class ScriptedLW implements ListerWatcher<ConfigMap> {
  lists: ObjectList<ConfigMap>[] = [];
  watches: Array<{ rv: string | undefined; emit: (e: WatchEvent<ConfigMap>) => void; end: (err?: Error) => void }> = [];
  private waiters: Array<() => void> = [];
  async list(): Promise<ObjectList<ConfigMap>> {
    const l = this.lists.shift();
    if (!l) throw new ApiError(503, undefined, 'no list scripted');
    return l;
  }
  watch(opts: { resourceVersion?: string }, onEvent: (e: WatchEvent<ConfigMap>) => void): WatchStream {
    let end!: (err?: Error) => void;
    const done = new Promise<void>((res, rej) => (end = (err) => (err ? rej(err) : res())));
    this.watches.push({ rv: opts.resourceVersion, emit: onEvent, end });
    for (const w of this.waiters.splice(0)) w();
    return { done, stop: () => end() };
  }
  async nextWatch(n: number): Promise<void> {
    while (this.watches.length < n) await new Promise<void>((r) => this.waiters.push(r));
  }
}

const cm = (name: string, rv: string, data = ''): ConfigMap => ({ metadata: { namespace: 'ns', name, resourceVersion: rv }, data: { v: data } });

describe('shared informer', () => {
  it('relists after a 410 and turns what changed meanwhile into add/update/delete', async () => {
    const lw = new ScriptedLW();
    lw.lists.push({ metadata: { resourceVersion: '10' }, items: [cm('a', '5'), cm('b', '6')] });
    const inf = new SharedIndexInformer(lw, { initialBackoffMs: 1 });
    const seen: string[] = [];
    inf.addEventHandler({
      add: (o, initial) => seen.push(`add ${o.metadata!.name} ${initial}`),
      update: (o, n) => seen.push(`update ${n.metadata!.name} ${o.metadata!.resourceVersion}->${n.metadata!.resourceVersion}`),
      delete: (o) => seen.push(`delete ${o.metadata!.name} ${o.metadata!.resourceVersion}`),
    });
    inf.start();
    await inf.synced;
    await lw.nextWatch(1);
    expect(lw.watches[0]!.rv).toBe('10');
    lw.watches[0]!.emit({ type: 'MODIFIED', object: cm('b', '11', 'x') });
    lw.watches[0]!.emit({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '12' } } });
    // the watch ends cleanly: re-watch from the last version seen, bookmark included
    lw.watches[0]!.end();
    await lw.nextWatch(2);
    expect(lw.watches[1]!.rv).toBe('12');
    // compacted away: relist, then watch from the new list's version
    lw.lists.push({ metadata: { resourceVersion: '20' }, items: [cm('b', '11', 'x'), cm('c', '15')] });
    lw.watches[1]!.end(new ApiError(410, { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 12 (18)' }, 'expired'));
    await lw.nextWatch(3);
    expect(lw.watches[2]!.rv).toBe('20');
    expect(inf.relists).toBe(2);
    expect(seen).toEqual([
      'add a true',
      'add b true',
      'update b 6->11',
      // the relist: b again (as client-go's Replaced), c new, a gone with its last known state
      'update b 11->11',
      'add c false',
      'delete a 5',
    ]);
    expect(inf.keys().sort()).toEqual(['ns/b', 'ns/c']);
    inf.stop();
    await inf.done();
  });

  it('retries a broken watch from the last version with backoff, without relisting', async () => {
    const lw = new ScriptedLW();
    lw.lists.push({ metadata: { resourceVersion: '3' }, items: [] });
    const inf = new SharedIndexInformer(lw, { initialBackoffMs: 1, maxBackoffMs: 5 });
    inf.start();
    await lw.nextWatch(1);
    lw.watches[0]!.emit({ type: 'ADDED', object: cm('a', '4') });
    lw.watches[0]!.end(new ApiError(0, undefined, 'connection reset'));
    await lw.nextWatch(2);
    expect(lw.watches[1]!.rv).toBe('4');
    expect(inf.relists).toBe(1);
    inf.stop();
    await inf.done();
  });

  it('gives a handler added after sync every cached object, and reports its sync', async () => {
    const lw = new ScriptedLW();
    lw.lists.push({ metadata: { resourceVersion: '9' }, items: [cm('a', '1'), cm('b', '2')] });
    const inf = new SharedIndexInformer(lw);
    const early = inf.addEventHandler({});
    expect(early.hasSynced()).toBe(false);
    inf.start();
    await inf.synced;
    expect(early.hasSynced()).toBe(true);
    const late: Array<[string, boolean]> = [];
    const reg = inf.addEventHandler({ add: (o, initial) => late.push([o.metadata!.name!, initial]) });
    expect(reg.hasSynced()).toBe(true);
    expect(late.sort()).toEqual([['a', true], ['b', true]]);
    await lw.nextWatch(1);
    lw.watches[0]!.emit({ type: 'ADDED', object: cm('c', '10') });
    expect(late.at(-1)).toEqual(['c', false]);
    inf.removeEventHandler(reg);
    lw.watches[0]!.emit({ type: 'ADDED', object: cm('d', '11') });
    expect(late.length).toBe(3);
    inf.stop();
  });

  it('keeps listing with backoff while the apiserver is unreachable', async () => {
    const lw = new ScriptedLW(); // no list scripted: every list fails
    const inf = new SharedIndexInformer(lw, { initialBackoffMs: 1, maxBackoffMs: 2 });
    inf.start();
    await new Promise((r) => setTimeout(r, 30));
    expect(inf.hasSynced()).toBe(false);
    lw.lists.push({ metadata: { resourceVersion: '1' }, items: [cm('a', '1')] });
    await inf.synced;
    expect(inf.size).toBe(1);
    inf.stop();
  });
});

describe('kubeconfig loading', () => {
  const dir = mkdtempSync(join(tmpdir(), 'k8ts-kc-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const one = write(
    'one',
    `apiVersion: v1
kind: Config
current-context: first
contexts:
- name: first
  context: { cluster: c1, user: u1, namespace: team }
- name: shared
  context: { cluster: c1, user: u1 }
clusters:
- name: c1
  cluster: { server: 'https://one:6443', certificate-authority: ca.pem }
users:
- name: u1
  user: { token: tok-1 }
`,
  );
  const two = write(
    'two',
    `current-context: second
contexts:
- name: second
  context: { cluster: c2, user: u2 }
- name: shared
  context: { cluster: c2, user: u2 }
clusters:
- name: c1
  cluster: { server: 'https://never:1' }
- name: c2
  cluster: { server: 'https://two:6443', certificate-authority-data: ${b64('CA2')}, insecure-skip-tls-verify: true }
users:
- name: u2
  user: { client-certificate-data: ${b64('CERT')}, client-key: keys/u2.key }
`,
  );
  write('ca.pem', 'CA1');
  mkdirSync(join(dir, 'keys'));
  write('keys/u2.key', 'KEY');

  it('merges KUBECONFIG: the first file to set a name or current-context wins, missing files are skipped', () => {
    const env = { KUBECONFIG: [join(dir, 'missing'), one, two].join(':') };
    const c = loadClientConfig({ env });
    expect(c).toMatchObject({ server: 'https://one:6443', caPem: 'CA1', token: 'tok-1', namespace: 'team', contextName: 'first' });
    // "shared" is defined in both; the first file's definition is the one used
    expect(loadClientConfig({ env, context: 'shared' }).server).toBe('https://one:6443');
    // a context from the second file, with paths relative to that file
    expect(loadClientConfig({ env, context: 'second' })).toMatchObject({ server: 'https://two:6443', caPem: 'CA2', certPem: 'CERT', keyPem: 'KEY', insecureSkipVerify: true, namespace: 'default' });
    expect(() => loadClientConfig({ env, context: 'nope' })).toThrow('context "nope" does not exist');
  });

  it('--kubeconfig is the only file read, and must exist; without any, ~/.kube/config', () => {
    const env = { KUBECONFIG: one };
    expect(loadClientConfig({ env, kubeconfig: two }).server).toBe('https://two:6443');
    expect(() => loadClientConfig({ env, kubeconfig: join(dir, 'missing') })).toThrow(ConfigError);
    const home = join(dir, 'home');
    mkdirSync(join(home, '.kube'), { recursive: true });
    writeFileSync(join(home, '.kube', 'config'), `current-context: h\ncontexts: [{ name: h, context: { cluster: h } }]\nclusters: [{ name: h, cluster: { server: 'https://home:6443' } }]\n`);
    expect(loadClientConfig({ env: {}, home }).server).toBe('https://home:6443');
    expect(() => loadClientConfig({ env: {}, home: join(dir, 'nohome'), serviceAccountDir: join(dir, 'nosa') })).toThrow(/no configuration has been provided/);
  });

  it('falls back to the mounted service account inside a pod', () => {
    const sa = join(dir, 'sa');
    mkdirSync(sa);
    writeFileSync(join(sa, 'token'), 'sa-token\n');
    writeFileSync(join(sa, 'ca.crt'), 'SACA');
    writeFileSync(join(sa, 'namespace'), 'kube-system');
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    expect(tryInClusterConfig(env, sa)).toEqual({ server: 'https://10.96.0.1:443', tokenFile: join(sa, 'token'), caPem: 'SACA', namespace: 'kube-system' });
    expect(loadClientConfig({ env, home: join(dir, 'nohome'), serviceAccountDir: sa }).server).toBe('https://10.96.0.1:443');
    expect(tryInClusterConfig({}, sa)).toBeUndefined();
  });
});

describe('event correlator', () => {
  const ev = (reason: string, message: string, name = 'web'): Event => ({
    metadata: { name: `${name}.1`, namespace: 'default' },
    involvedObject: { kind: 'Pod', namespace: 'default', name, uid: `uid-${name}` },
    reason,
    message,
    type: 'Warning',
    source: { component: 'test' },
    firstTimestamp: '2026-01-01T00:00:00Z',
    lastTimestamp: '2026-01-01T00:00:00Z',
  });

  it('turns repeats into a patch with count and series', () => {
    let now = 1_000_000;
    const c = new EventCorrelator({ now: () => now });
    const first = c.correlate(ev('BackOff', 'Back-off restarting'));
    expect(first).toMatchObject({ action: 'create', event: { count: 1 } });
    now += 1000;
    const second = c.correlate({ ...ev('BackOff', 'Back-off restarting'), metadata: { name: 'web.2', namespace: 'default' } });
    expect(second).toMatchObject({ action: 'patch', name: 'web.1', patch: { count: 2, series: { count: 2 } } });
    const third = c.correlate(ev('BackOff', 'Back-off restarting'));
    expect(third.action === 'patch' && third.patch.count).toBe(3);
    // another message is another event
    expect(c.correlate(ev('BackOff', 'something else')).action).toBe('create');
  });

  it('combines more than 10 similar events and drops spam past the burst', () => {
    const now = 5_000_000;
    const c = new EventCorrelator({ now: () => now });
    const actions = Array.from({ length: 12 }, (_, i) => c.correlate(ev('FailedCreate', `error ${i}`)));
    expect(actions.slice(0, 9).every((a) => a.action === 'create' && !a.event.message!.startsWith('('))).toBe(true);
    const tenth = actions[9]!;
    expect(tenth.action === 'create' && tenth.event.message).toBe('(combined from similar events): error 9');
    const eleventh = actions[10]!;
    expect(eleventh.action === 'patch' && eleventh.patch.message).toBe('(combined from similar events): error 10');
    // 25 per object at once, then one per 5 minutes
    const spam = new EventCorrelator({ now: () => now });
    const results = Array.from({ length: 30 }, () => spam.correlate(ev('Pulled', 'same', 'spammy')).action);
    expect(results.filter((a) => a !== 'drop').length).toBe(25);
    let t = now;
    const timed = new EventCorrelator({ now: () => t });
    for (let i = 0; i < 25; i++) timed.correlate(ev('Pulled', 'same', 'x'));
    expect(timed.correlate(ev('Pulled', 'same', 'x')).action).toBe('drop');
    t += 300_000;
    expect(timed.correlate(ev('Pulled', 'same', 'x')).action).toBe('patch');
  });
});
