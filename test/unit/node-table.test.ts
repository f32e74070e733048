// Human tables of `k8ts node` (crictl-like columns) and the pod/container lookups.
import { describe, expect, it } from 'vitest';
import type { ContainerStatus, SandboxStatus } from '../../agent/runtime/types.js';
import { ago, formatTable, humanSize, shortId } from '../../agent/nodedebug/table.js';
import { imageRows, imagesTable, pickContainer, pickSandbox, podsJson, podsTable, psRows, psTable } from '../../agent/nodedebug/views.js';
import { NodeDebugError, explainRuntimeError } from '../../agent/nodedebug/errors.js';
import { RuntimeError } from '../../agent/runtime/types.js';
import { resolveTarget } from '../../agent/nodedebug/target.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const NOW = Date.parse('2026-11-25T12:00:00Z');
const t = (secAgo: number) => new Date(NOW - secAgo * 1000);

const sb = (o: Partial<SandboxStatus>): SandboxStatus => ({
  id: 'a'.repeat(64),
  name: 'frontend-abc',
  namespace: 'default',
  uid: 'uid-1',
  attempt: 0,
  state: 'ready',
  createdAt: t(300),
  ip: '10.244.1.5',
  labels: {},
  annotations: {},
  ...o,
});

const ctr = (o: Partial<ContainerStatus>): ContainerStatus => ({
  id: 'c'.repeat(64),
  podSandboxId: 'a'.repeat(64),
  name: 'php-redis',
  attempt: 0,
  image: 'docker.io/kubeguide/guestbook-php-frontend:latest',
  imageRef: 'sha256:1234',
  state: 'running',
  createdAt: t(290),
  exitCode: 0,
  reason: '',
  message: '',
  labels: {},
  annotations: {},
  logPath: '/var/log/pods/default_frontend-abc_uid-1/php-redis/0.log',
  ...o,
});

describe('formatting', () => {
  it('aligns columns with three spaces, no trailing blanks', () => {
    expect(formatTable(['A', 'LONGER'], [['xxxx', 'y'], ['z', '']])).toBe('A      LONGER\nxxxx   y\nz\n');
  });
  it('ages, ids and sizes as crictl prints them', () => {
    expect(ago(t(0), NOW)).toBe('Less than a second ago');
    expect(ago(t(1), NOW)).toBe('1 second ago');
    expect(ago(t(59), NOW)).toBe('59 seconds ago');
    expect(ago(t(120), NOW)).toBe('2 minutes ago');
    expect(ago(t(3600), NOW)).toBe('1 hour ago');
    expect(ago(t(86_400 * 3), NOW)).toBe('3 days ago');
    expect(shortId('0123456789abcdef')).toBe('0123456789abc');
    expect(humanSize(744_000)).toBe('744kB');
    expect(humanSize(4_270_000)).toBe('4.27MB');
    expect(humanSize(12)).toBe('12B');
  });
});

describe('pods and ps', () => {
  const pods = [sb({}), sb({ id: 'b'.repeat(64), name: 'redis-master-x', uid: 'uid-2', state: 'notready', createdAt: t(600), ip: '' })];

  it('pods: crictl columns, newest first', () => {
    expect(podsTable(pods, NOW)).toBe(
      [
        'POD ID          CREATED          STATE      NAME             NAMESPACE   ATTEMPT   IP',
        'aaaaaaaaaaaaa   5 minutes ago    Ready      frontend-abc     default     0         10.244.1.5',
        'bbbbbbbbbbbbb   10 minutes ago   NotReady   redis-master-x   default     0',
        '',
      ].join('\n'),
    );
    const j = JSON.parse(JSON.stringify(podsJson(pods))) as { items: Array<{ id: string; state: string; createdAt: string }> };
    expect(j.items[0]).toMatchObject({ id: 'a'.repeat(64), state: 'Ready', createdAt: t(300).toISOString() });
  });

  it('ps: the sandbox (pause) container is listed and marked; -a adds exited ones', () => {
    const ctrs = [ctr({}), ctr({ id: 'd'.repeat(64), name: 'old', state: 'exited', exitCode: 137, reason: 'Error', createdAt: t(400) })];
    const running = psRows(pods, ctrs, false);
    expect(running.map((r) => [r.name, r.sandbox])).toEqual([
      ['php-redis', false],
      ['POD', true],
    ]);
    const everything = psRows(pods, ctrs, true);
    expect(everything.map((r) => r.name)).toEqual(['php-redis', 'POD', 'old', 'POD']);
    const text = psTable(everything, NOW);
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CONTAINER\s+IMAGE\s+CREATED\s+STATE\s+NAME\s+ATTEMPT\s+POD ID\s+POD$/);
    expect(lines[1]).toMatch(/^ccccccccccccc\s+docker.io\/kubeguide\/guestbook-php-frontend:latest\s+4 minutes ago\s+Running\s+php-redis\s+0\s+aaaaaaaaaaaaa\s+frontend-abc$/);
    expect(lines[2]).toMatch(/^aaaaaaaaaaaaa\s+\(pause\)\s+5 minutes ago\s+Running\s+POD \(sandbox\)\s+0\s+aaaaaaaaaaaaa\s+frontend-abc$/);
    expect(lines[3]).toMatch(/Exited\s+old/);
  });

  it('images: one row per tag', () => {
    const rows = imageRows([
      { id: 'sha256:' + 'e'.repeat(64), repoTags: ['docker.io/library/busybox:latest', 'docker.io/library/busybox:1.36'], repoDigests: [], size: 4_270_000 },
      { id: 'sha256:' + 'f'.repeat(64), repoTags: [], repoDigests: ['registry.k8s.io/pause@sha256:00'], size: 744_000 },
      { id: 'sha256:' + '1'.repeat(64), repoTags: ['localhost:5000/x'], repoDigests: [], size: 1 },
    ]);
    expect(imagesTable(rows)).toBe(
      [
        'IMAGE                       TAG      IMAGE ID        SIZE',
        'docker.io/library/busybox   1.36     eeeeeeeeeeeee   4.27MB',
        'docker.io/library/busybox   latest   eeeeeeeeeeeee   4.27MB',
        'localhost:5000/x            <none>   1111111111111   1B',
        'registry.k8s.io/pause       <none>   fffffffffffff   744kB',
        '',
      ].join('\n'),
    );
  });
});

describe('lookups', () => {
  const pods = [
    sb({}),
    sb({ id: 'ab' + '0'.repeat(62), attempt: 1, state: 'notready', createdAt: t(900) }),
    sb({ id: 'b'.repeat(64), name: 'web', namespace: 'a', uid: 'u-a' }),
    sb({ id: 'c'.repeat(64), name: 'web', namespace: 'b', uid: 'u-b' }),
  ];
  it('by name (ready sandbox wins), ns/name, uid, id prefix', () => {
    expect(pickSandbox(pods, 'frontend-abc').id).toBe('a'.repeat(64));
    expect(pickSandbox(pods, 'default/frontend-abc').id).toBe('a'.repeat(64));
    expect(pickSandbox(pods, 'u-b').namespace).toBe('b');
    expect(pickSandbox(pods, 'bbbb').name).toBe('web');
    expect(pickSandbox(pods, 'a/web').uid).toBe('u-a');
  });
  it('unknown and ambiguous pods are one clear line', () => {
    expect(() => pickSandbox(pods, 'x')).toThrow(new NodeDebugError('pod "x" not found on this node'));
    expect(() => pickSandbox(pods, 'web')).toThrow(/pod "web" is ambiguous: a\/web, b\/web/);
  });
  it('containers: only one by default, newest attempt, --previous the one before', () => {
    const cs = [ctr({ attempt: 0, id: '0' }), ctr({ attempt: 1, id: '1' }), ctr({ attempt: 2, id: '2' })];
    expect(pickContainer(cs, 'p').id).toBe('2');
    expect(pickContainer(cs, 'p', undefined, true).id).toBe('1');
    expect(() => pickContainer([...cs, ctr({ name: 'side' })], 'p')).toThrow(/several containers \(php-redis, side\): name one with -c/);
    expect(() => pickContainer(cs, 'p', 'nope')).toThrow(/container "nope" not found in pod "p"/);
    expect(() => pickContainer([ctr({})], 'p', undefined, true)).toThrow(/previous terminated container/);
  });
  it('runtime errors become one line', () => {
    expect(explainRuntimeError(new RuntimeError('Unavailable', 'x: connect ENOENT'), 'cri', 'unix:///s').message).toBe('cannot reach containerd at unix:///s: is it running?');
    expect(explainRuntimeError(Object.assign(new Error('connect EACCES /s'), { code: 'EACCES' }), 'docker', 'unix:///s').message).toBe('permission denied on unix:///s: run as root (sudo)');
  });
});

describe('targets', () => {
  it('defaults describe a real node', () => {
    const t0 = resolveTarget({});
    expect(t0).toMatchObject({ runtime: 'cri', endpoint: 'unix:///run/containerd/containerd.sock', podLogDir: '/var/log/pods' });
    expect(t0.netns).toBeUndefined();
    expect(resolveTarget({ runtime: 'docker' }).endpoint).toBe('unix:///var/run/docker.sock');
    expect(() => resolveTarget({ runtime: 'rkt' })).toThrow(/--runtime must be cri or docker/);
  });
  it('--node reads the local cluster', () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-node-'));
    expect(() => resolveTarget({ node: 'node-1', localStateDir: dir })).toThrow(/no local cluster found/);
    writeFileSync(join(dir, 'cluster.json'), JSON.stringify({ runtime: 'docker', stateDir: dir, runDir: '/run/x', workers: 2 }));
    const t1 = resolveTarget({ node: 'node-2', localStateDir: dir });
    expect(t1).toMatchObject({
      runtime: 'docker',
      endpoint: 'unix:///run/x/node-2/docker.sock',
      netns: 'k8ts-node-2',
      agentDataDir: join(dir, 'node-2', 'agent'),
      podLogDir: join(dir, 'node-2', 'pods'),
    });
    expect(t1.journalDirs[0]).toBe(join(dir, 'node-2', 'kubelet'));
    expect(() => resolveTarget({ node: 'node-3', localStateDir: dir })).toThrow(/no node "node-3".*cp, node-1, node-2/);
    rmSync(dir, { recursive: true, force: true });
  });
});
