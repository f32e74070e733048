// The kubelet's node event journal: append, read with filters, rotation at the size cap.
import { mkdtempSync, readFileSync, appendFileSync, statSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JOURNAL_FILE, appendNodeEvent, parseSince, readNodeEvents } from '../../agent/kubelet/journal.js';
import { eventsTable, nodeEvents } from '../../agent/nodedebug/events.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'k8ts-journal-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('node event journal', () => {
  it('stores the kubelet RecordedEvent shape with pod, uid and container', () => {
    const d = join(tmp(), 'kubelet'); // created on first append
    expect(
      appendNodeEvent(d, {
        namespace: 'default',
        involved: { kind: 'Pod', apiVersion: 'v1', name: 'web-1', namespace: 'default', uid: 'u1', fieldPath: 'spec.containers{nginx}' } as never,
        type: 'Normal',
        reason: 'Pulled',
        message: 'Container image "nginx" already present on machine',
      }),
    ).toBe(true);
    appendNodeEvent(d, { type: 'Warning', reason: 'BackOff', message: 'Back-off restarting failed container', pod: 'kube-system/dns', container: 'dns' });
    const all = readNodeEvents(d);
    expect(all).toHaveLength(2);
    expect(all[0]).toMatchObject({ type: 'Normal', reason: 'Pulled', pod: 'default/web-1', uid: 'u1', container: 'nginx' });
    expect(Date.parse(all[0]!.time)).toBeGreaterThan(Date.now() - 60_000);
    expect(readNodeEvents(d, { pod: 'web-1' }).map((e) => e.reason)).toEqual(['Pulled']);
    expect(readNodeEvents(d, { pod: 'kube-system/dns' }).map((e) => e.reason)).toEqual(['BackOff']);
    expect(readNodeEvents(d, { pod: 'u1' }).map((e) => e.reason)).toEqual(['Pulled']);
    expect(readNodeEvents(d, { pod: 'default/dns' })).toEqual([]);
  });

  it('--since filters by time; torn lines are skipped', () => {
    const d = tmp();
    appendNodeEvent(d, { time: new Date(Date.now() - 3_600_000), type: 'Normal', reason: 'Old', message: '' });
    appendNodeEvent(d, { time: new Date(Date.now() - 60_000), type: 'Normal', reason: 'Recent', message: '' });
    appendFileSync(join(d, JOURNAL_FILE), '{"time":"2026-');
    expect(readNodeEvents(d, { since: '10m' }).map((e) => e.reason)).toEqual(['Recent']);
    expect(readNodeEvents(d, { since: new Date(0) }).map((e) => e.reason)).toEqual(['Old', 'Recent']);
    expect(() => readNodeEvents(d, { since: 'yesterday' })).toThrow(/invalid duration/);
    expect(parseSince('90s')).toBe(90_000);
    expect(parseSince('2h')).toBe(7_200_000);
    expect(parseSince('15')).toBe(15_000);
  });

  it('rotates at the size cap, keeping one older generation', () => {
    const d = tmp();
    const max = 2000;
    for (let i = 0; i < 100; i++) appendNodeEvent(d, { type: 'Normal', reason: `R${i}`, message: 'x'.repeat(50) }, { maxBytes: max });
    expect(statSync(join(d, JOURNAL_FILE)).size).toBeLessThanOrEqual(max);
    expect(existsSync(join(d, JOURNAL_FILE + '.1'))).toBe(true);
    const events = readNodeEvents(d);
    // the newest survive, in order; the oldest fell off with the second rotation
    expect(events.at(-1)!.reason).toBe('R99');
    expect(events.length).toBeLessThan(100);
    expect(events.length).toBeGreaterThan(20);
    const nums = events.map((e) => Number(e.reason.slice(1)));
    expect(nums).toEqual([...nums].sort((a, b) => a - b));
    expect(readFileSync(join(d, JOURNAL_FILE), 'utf8').endsWith('\n')).toBe(true);
  });

  it('never throws on a bad dir', () => {
    // a regular file where the dir should be: ENOTDIR
    const f = join(tmp(), 'file');
    appendFileSync(f, 'x');
    expect(appendNodeEvent(join(f, 'sub'), { type: 'Normal', reason: 'X', message: '' })).toBe(false);
  });

  it('k8ts node events merges dirs and prints kubectl-like rows', () => {
    const a = tmp();
    const b = tmp();
    appendNodeEvent(a, { time: new Date(Date.now() - 5000), type: 'Normal', reason: 'Created', message: 'Created container web', pod: 'default/web', container: 'web' });
    appendNodeEvent(b, { time: new Date(Date.now() - 2000), type: 'Warning', reason: 'Unhealthy', message: 'Liveness probe failed', pod: 'default/web' });
    const { events, dirs: found } = nodeEvents([a, b, join(a, 'missing')], {});
    expect(found).toEqual([a, b]);
    expect(events.map((e) => e.reason)).toEqual(['Created', 'Unhealthy']);
    const text = eventsTable(events);
    expect(text.split('\n')[0]).toMatch(/^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$/);
    expect(text).toMatch(/Warning\s+Unhealthy\s+pod\/web\s+Liveness probe failed/);
    expect(text).toMatch(/pod\/web \(web\)/);
  });
});
