import { describe, expect, it, vi } from 'vitest';
import { Expectations } from '../../control-plane/controllers/base/controller.js';
import { intOrPercent } from '../../control-plane/controllers/base/util.js';
import { ExponentialBackoff, runWorkers, WorkQueue } from '../../client/workqueue.js';

describe('work queue', () => {
  it('dedups queued keys and never hands one key to two workers', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.length).toBe(2);
    const k = await q.get();
    expect(k).toBe('a');
    q.add('a'); // re-added while processing: waits for done()
    expect(await q.get()).toBe('b');
    let third: string | undefined;
    void q.get().then((x) => (third = x));
    await new Promise((r) => setTimeout(r, 5));
    expect(third).toBeUndefined();
    q.done('a');
    await new Promise((r) => setTimeout(r, 0));
    expect(third).toBe('a');
    q.shutDown();
  });

  it('requeues failures with exponential backoff and forgets on success', async () => {
    const q = new WorkQueue(new ExponentialBackoff(10, 1000));
    const seen: number[] = [];
    let n = 0;
    const t0 = Date.now();
    q.add('k');
    const run = runWorkers(q, 2, async () => {
      seen.push(Date.now() - t0);
      if (++n < 4) throw new Error('try again');
      q.shutDown();
    });
    await run;
    expect(n).toBe(4);
    // 10, 20, 40 ms between attempts
    expect(seen[3]! - seen[0]!).toBeGreaterThanOrEqual(65);
    expect(q.numRequeues('k')).toBe(0);
  });

  it('addAfter keeps the earliest time', async () => {
    // On the fake clock: what is checked is which time is kept, not how late a loaded
    // machine fires a 10 ms timer.
    vi.useFakeTimers();
    try {
      const q = new WorkQueue();
      q.addAfter('x', 1000);
      q.addAfter('x', 10);
      let got: string | undefined;
      void q.get().then((k) => (got = k));
      await vi.advanceTimersByTimeAsync(9);
      expect(got).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      expect(got).toBe('x');
      // the later time was dropped, not kept as a second entry
      q.done('x');
      await vi.advanceTimersByTimeAsync(1000);
      expect(q.length).toBe(0);
      q.shutDown();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('expectations', () => {
  it('are satisfied only once every expected create and delete was observed', () => {
    const e = new Expectations();
    expect(e.satisfied('rc')).toBe(true);
    e.expect('rc', 2, 1);
    expect(e.satisfied('rc')).toBe(false);
    e.creationObserved('rc');
    e.creationObserved('rc');
    expect(e.satisfied('rc')).toBe(false);
    e.deletionObserved('rc');
    expect(e.satisfied('rc')).toBe(true);
    e.expect('rc', 3, 0);
    e.lower('rc', 3, 0); // the creates failed
    expect(e.satisfied('rc')).toBe(true);
  });

  it('expire', () => {
    const e = new Expectations(-1);
    e.expect('rc', 5, 0);
    expect(e.satisfied('rc')).toBe(true);
  });
});

describe('intOrPercent', () => {
  it('rounds surge up and unavailable down, as upstream', () => {
    expect(intOrPercent('25%', 10, true, '25%')).toBe(3);
    expect(intOrPercent('25%', 10, false, '25%')).toBe(2);
    expect(intOrPercent(undefined, 4, true, '25%')).toBe(1);
    expect(intOrPercent(2, 10, false, '25%')).toBe(2);
  });
});
