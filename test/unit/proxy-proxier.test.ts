import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { Proxier } from '../../agent/proxy/proxier.js';
import { ChangeTracker, type ProxyModel } from '../../agent/proxy/model.js';
import type { ProxyBackend, SyncStats } from '../../agent/proxy/backend.js';
import { logger } from '../../api/log.js';
import { waitFor } from '../helpers/wait.js';

const until = (what: string, cond: () => boolean) => waitFor(what, cond, 15_000, 20);

class FakeBackend implements ProxyBackend {
  readonly mode = 'iptables' as const;
  calls: Array<{ changed: string[] | 'all'; at: number }> = [];
  failNext = 0;
  async sync(model: ProxyModel, changed: Set<string> | 'all'): Promise<SyncStats> {
    this.calls.push({ changed: changed === 'all' ? 'all' : [...changed].sort(), at: Date.now() });
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('restore failed');
    }
    return { full: changed === 'all', ruleCount: model.services.size, renderMs: 1, applyMs: 1, bytes: 0 };
  }
  async cleanup() {}
}

const svc = (name: string) => ({ metadata: { name, namespace: 'default' }, spec: { clusterIP: '10.96.0.1', ports: [{ port: 80 }] } });

describe('Proxier', () => {
  it('first sync is full, then only changed service ports are passed; metrics are recorded', async () => {
    const b = new FakeBackend();
    const t = new ChangeTracker('n', '');
    const reg = new Registry();
    const p = new Proxier({ backend: b, tracker: t, minSyncPeriodMs: 0, registry: reg, log: logger('t') });
    t.onService(svc('a'));
    await p.syncNow();
    t.onService(svc('b'));
    await p.syncNow();
    expect(b.calls.map((c) => c.changed)).toEqual(['all', ['default/b']]);
    const text = await reg.metrics();
    expect(text).toContain('k8ts_proxy_sync_proxy_rules_duration_seconds_count{mode="iptables",kind="full"} 1');
    expect(text).toContain('k8ts_proxy_rules{mode="iptables",node="n"} 2');
    await p.stop();
  });

  it('collapses bursts of requests into few syncs spaced by minSyncPeriod', async () => {
    const b = new FakeBackend();
    const t = new ChangeTracker('n', '');
    const p = new Proxier({ backend: b, tracker: t, minSyncPeriodMs: 200, registry: new Registry(), log: logger('t') });
    await p.syncNow();
    for (let i = 0; i < 50; i++) {
      t.onService(svc(`s${i}`));
      p.requestSync();
    }
    await until('a second sync', () => b.calls.length >= 2);
    await new Promise((r) => setTimeout(r, 300));
    expect(b.calls.length).toBe(2);
    expect((b.calls[1]!.changed as string[]).length).toBe(50);
    expect(b.calls[1]!.at - b.calls[0]!.at).toBeGreaterThanOrEqual(190);
    await p.stop();
  });

  it('a failed sync is retried as a full sync, and failures are counted', async () => {
    const b = new FakeBackend();
    const t = new ChangeTracker('n', '');
    const reg = new Registry();
    const p = new Proxier({ backend: b, tracker: t, minSyncPeriodMs: 0, registry: reg, log: logger('t') });
    await p.syncNow();
    b.failNext = 1;
    t.onService(svc('a'));
    await expect(p.syncNow()).rejects.toThrow('restore failed');
    await until('the retry', () => b.calls.length >= 3); // the retry backs off 500 ms
    expect(b.calls.at(-1)!.changed).toBe('all');
    expect(b.calls.length).toBe(3);
    expect(await reg.metrics()).toContain('k8ts_proxy_sync_failures_total{mode="iptables"} 1');
    await p.stop();
  });
});

/** A proxier on a fake backend whose conntrack runs are recorded (as "conntrack ARGS"). */
function conntrackRecordingProxier(t: ChangeTracker): { p: Proxier; calls: string[] } {
  const calls: string[] = [];
  const p = new Proxier({
    backend: new FakeBackend(),
    tracker: t,
    minSyncPeriodMs: 0,
    registry: new Registry(),
    log: logger('t'),
    conntrack: async (cmd, args) => {
      calls.push(`${cmd} ${args.join(' ')}`);
      return { stdout: '', stderr: '', exitCode: 1 };
    },
  });
  return { p, calls };
}

describe('UDP conntrack cleanup', () => {
  it('deletes flows to removed UDP endpoints and un-NATed flows to a Service that gains its first endpoint', async () => {
    const { staleUdpFlows } = await import('../../agent/proxy/proxier.js');
    const t = new ChangeTracker('n', '');
    const dns = { metadata: { name: 'dns', namespace: 'kube-system' }, spec: { clusterIP: '10.96.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] } };
    const slice = (ips: string[]) => ({
      metadata: { name: 'dns-1', namespace: 'kube-system', labels: { 'kubernetes.io/service-name': 'dns' } },
      endpoints: ips.map((ip) => ({ addresses: [ip] })),
      ports: [{ name: 'dns', port: 53, protocol: 'UDP' }],
    });
    const { p, calls } = conntrackRecordingProxier(t);
    t.onService(dns);
    await p.syncNow();
    t.onEndpointSlice(slice(['10.244.1.5', '10.244.2.5']));
    await p.syncNow();
    expect(calls).toEqual(['conntrack -D -p udp --orig-dst 10.96.0.10 --orig-port-dst 53 --reply-src 10.96.0.10']);
    t.onEndpointSlice(slice(['10.244.2.5']));
    await p.syncNow();
    expect(calls.at(-1)).toBe('conntrack -D -p udp --reply-src 10.244.1.5 --reply-port-src 53');
    expect(staleUdpFlows(new Map(), t.current, 'all')).toEqual([]);
    await p.stop();
  });
});

describe('un-NATed flows to a Service that gets endpoints', () => {
  it('deletes only conntrack entries of flows that left un-NATed to its IP, when it gets endpoints here; none on the first sync', async () => {
    const t = new ChangeTracker('n', '');
    const svc = (name: string, ip: string) => ({
      metadata: { name, namespace: 'default' },
      spec: { clusterIP: ip, ports: [{ name: 'p', port: 6379, protocol: 'TCP' }] },
    });
    const slice = (name: string, ips: string[]) => ({
      metadata: { name: `${name}-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
      endpoints: ips.map((ip) => ({ addresses: [ip] })),
      ports: [{ name: 'p', port: 6379, protocol: 'TCP' }],
    });
    const flush = (ip: string) => `conntrack -D -p tcp --orig-dst ${ip} --orig-port-dst 6379 --reply-src ${ip}`;
    const { p, calls } = conntrackRecordingProxier(t);
    t.onService(svc('existing', '10.96.0.5'));
    t.onEndpointSlice(slice('existing', ['10.244.1.5']));
    await p.syncNow();
    // the first sync after start must not touch flows (they may be live NATed ones' peers)
    expect(calls).toEqual([]);
    // a new Service with an endpoint at once
    t.onService(svc('web', '10.96.0.6'));
    t.onEndpointSlice(slice('web', ['10.244.1.6']));
    await p.syncNow();
    expect(calls).toEqual([flush('10.96.0.6')]);
    // a new Service without endpoints: its REJECT stops new flows; nothing to delete yet
    t.onService(svc('redis-master', '10.96.0.7'));
    await p.syncNow();
    expect(calls).toHaveLength(1);
    // its first endpoint (the master became Ready)
    t.onEndpointSlice(slice('redis-master', ['10.244.2.7']));
    await p.syncNow();
    expect(calls).toEqual([flush('10.96.0.6'), flush('10.96.0.7')]);
    // more endpoints, a resync of the same Service: nothing
    t.onEndpointSlice(slice('redis-master', ['10.244.2.7', '10.244.1.7']));
    t.onService(svc('redis-master', '10.96.0.7'));
    await p.syncNow();
    expect(calls).toHaveLength(2);
    // all endpoints gone and back
    t.onEndpointSlice(slice('redis-master', []));
    await p.syncNow();
    expect(calls).toHaveLength(2);
    t.onEndpointSlice(slice('redis-master', ['10.244.2.8']));
    await p.syncNow();
    expect(calls.at(-1)).toBe(flush('10.96.0.7'));
    expect(calls).toHaveLength(3);
    await p.stop();
  });
});
