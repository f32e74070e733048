import type { ChildProcess } from 'node:child_process';

// A test run that crashes before its afterAll must not leave daemons running: every child
// registered here is SIGKILLed when the test process exits.
const live = new Set<ChildProcess>();
let hooked = false;

export function killOnExit(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const p of live) {
      try {
        p.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}
