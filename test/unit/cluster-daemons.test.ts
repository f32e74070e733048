import { describe, it, expect } from 'vitest';
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';

const DAEMONS = fileURLToPath(new URL('../../cli/cluster/daemons.ts', import.meta.url));

describe('pidsMatching (how `k8ts down` finds leftover processes)', () => {
  it('finds a process by its command line but never the caller nor its ancestors', async () => {
    const needle = `k8ts-needle-${process.pid}-${Date.now()}`;
    // A shell whose command line names the needle (as `npm exec k8ts down --state-dir D` does)
    // runs a node that looks for the needle; another process naming it must be found.
    const other = execa('sh', ['-c', 'sleep 30', needle], { reject: false });
    try {
      const script = `import { pidsMatching } from ${JSON.stringify(DAEMONS)}; console.log(JSON.stringify(pidsMatching(${JSON.stringify(needle)})));`;
      const r = await execa('sh', ['-c', `node --import tsx -e "$0"; true`, script, needle]);
      const found = JSON.parse(r.stdout) as number[];
      expect(found).toContain(other.pid);
      // neither the shell that started the searching node (its argv names the needle) nor the node itself
      expect(found).toHaveLength(1);
    } finally {
      other.kill('SIGKILL');
    }
  });
});
