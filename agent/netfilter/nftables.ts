// nft as the agent's components drive it: one table each (kube-proxy's `k8ts`), changed in
// atomic `nft -f -` transactions, listed cheaply by name.
import { mustRun, type Runner } from './exec.js';

export interface NftObjects {
  chains: string[];
  sets: string[];
  maps?: string[];
}

export interface Nft {
  /** `nft -f -` with `text` on stdin: one atomic transaction. */
  apply(text: string): Promise<void>;
  /** true when the table exists */
  hasTable(): Promise<boolean>;
  /** Names of the chains, sets and maps in the table (none when it does not exist). */
  listObjects?(): Promise<NftObjects>;
}

export class NftCmd implements Nft {
  constructor(
    private readonly run: Runner,
    private readonly table: string,
  ) {}
  async apply(text: string): Promise<void> {
    await mustRun(this.run, 'nft', ['-f', '-'], text);
  }
  async hasTable(): Promise<boolean> {
    return (await this.run('nft', ['list', 'table', 'ip', this.table])).exitCode === 0;
  }
  async listObjects(): Promise<NftObjects> {
    // `list chains` / terse `list sets|maps` print names without rules or elements: cheap
    // even at 10,000 Services.
    const names = (text: string, kind: string) => {
      const out: string[] = [];
      let ours = false;
      for (const line of text.split('\n')) {
        const t = /^table ip (\S+) \{/.exec(line);
        if (t) ours = t[1] === this.table;
        const m = new RegExp(`^\\s+${kind} (\\S+) \\{`).exec(line);
        if (ours && m) out.push(m[1]!);
      }
      return out;
    };
    const [chains, sets, maps] = await Promise.all([
      this.run('nft', ['list', 'chains', 'ip']),
      this.run('nft', ['-t', 'list', 'sets', 'ip']),
      this.run('nft', ['-t', 'list', 'maps', 'ip']),
    ]);
    return {
      chains: chains.exitCode === 0 ? names(chains.stdout, 'chain') : [],
      sets: sets.exitCode === 0 ? names(sets.stdout, 'set') : [],
      maps: maps.exitCode === 0 ? names(maps.stdout, 'map') : [],
    };
  }
}
