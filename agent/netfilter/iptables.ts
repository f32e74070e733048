// A narrow interface over iptables (as upstream's pkg/util/iptables), its real
// implementation on the kernel tools, and a fake that parses restore text and rejects what
// iptables-restore would reject, so unit tests catch broken rule text without root.
import { type Runner, CommandError, mustRun } from './exec.js';

export type Table = 'filter' | 'nat' | 'mangle' | 'raw';

export interface Iptables {
  /** `iptables-restore --noflush` with `text` on stdin: atomic per table. */
  restore(text: string): Promise<void>;
  /**
   * Makes sure `chain` (a builtin) has rule `args` (match…, -j target): inserted at the top
   * when missing (kube-proxy's jumps: they must see new flows first), or with `'last'` as
   * the chain's last rule (moved there when an older copy sits above other rules).
   */
  ensureJump(table: Table, chain: string, args: string[], at?: 'first' | 'last'): Promise<void>;
  /**
   * The jumps not in place. With `oneDump` everything is read with one iptables-save, and
   * the nat table's chain names come back too (what a restarted proxy finds in the kernel).
   */
  missingJumps(jumps: Array<[Table, string, string[]]>, oneDump?: boolean): Promise<MissingJumps>;
  /** ensureJump for many rules, with as few tool runs as possible. */
  ensureJumps(jumps: Array<[Table, string, string[]]>): Promise<void>;
  /** Removes every copy of rule `args` from `chain`; missing rule or chain is fine. */
  deleteJump(table: Table, chain: string, args: string[]): Promise<void>;
  /** iptables-save output for one table. */
  save(table: Table): Promise<string>;
}

export interface MissingJumps {
  missing: Array<[Table, string, string[]]>;
  /** the nat table's chains, when the whole ruleset was read */
  natChains?: string[];
}

export class IptablesCmd implements Iptables {
  constructor(private readonly run: Runner) {}

  async restore(text: string): Promise<void> {
    await mustRun(this.run, 'iptables-restore', ['-w', '5', '--noflush'], text);
  }

  async ensureJump(table: Table, chain: string, args: string[], at: 'first' | 'last' = 'first'): Promise<void> {
    if (at === 'last') {
      const listed = await this.run('iptables', ['-w', '5', '-t', table, '-S', chain]);
      const rules = listed.exitCode === 0 ? listed.stdout.split('\n').filter((l) => l.startsWith('-A ')) : [];
      const rule = `-A ${chain} ${args.map(quoteArg).join(' ')}`;
      if (rules.at(-1) === rule) return;
      // the new copy first, then the old one goes (-D removes the first match): never none
      await mustRun(this.run, 'iptables', ['-w', '5', '-t', table, '-A', chain, ...args]);
      if (rules.includes(rule)) await mustRun(this.run, 'iptables', ['-w', '5', '-t', table, '-D', chain, ...args]);
      return;
    }
    const c = await this.run('iptables', ['-w', '5', '-t', table, '-C', chain, ...args]);
    if (c.exitCode === 0) return;
    await mustRun(this.run, 'iptables', ['-w', '5', '-t', table, '-I', chain, ...args]);
  }

  /**
   * `oneDump`: read everything with one iptables-save (cheapest while the tables are small,
   * e.g. on a fresh node) instead of listing each builtin chain (cheapest once they are big).
   */
  async missingJumps(jumps: Array<[Table, string, string[]]>, oneDump = false): Promise<MissingJumps> {
    const listed = new Map<string, Set<string>>();
    const out: Array<[Table, string, string[]]> = [];
    let natChains: string[] | undefined;
    if (oneDump) {
      const r = await this.run('iptables-save', []);
      let table = '';
      if (r.exitCode === 0) natChains = [];
      for (const line of r.exitCode === 0 ? r.stdout.split('\n') : []) {
        if (line.startsWith('*')) table = line.slice(1);
        if (table === 'nat' && line.startsWith(':')) natChains!.push(line.slice(1, line.indexOf(' ')));
        const m = /^-A (\S+) /.exec(line);
        if (!m) continue;
        const k = `${table}/${m[1]}`;
        let l = listed.get(k);
        if (!l) listed.set(k, (l = new Set()));
        l.add(line);
      }
      for (const [table, chain] of jumps) if (!listed.has(`${table}/${chain}`)) listed.set(`${table}/${chain}`, new Set());
    }
    for (const [table, chain, args] of jumps) {
      const k = `${table}/${chain}`;
      let lines = listed.get(k);
      if (!lines) {
        const r = await this.run('iptables', ['-w', '5', '-t', table, '-S', chain]);
        lines = new Set(r.exitCode === 0 ? r.stdout.split('\n') : []);
        listed.set(k, lines);
      }
      if (!lines.has(`-A ${chain} ${args.map(quoteArg).join(' ')}`)) out.push([table, chain, args]);
    }
    return { missing: out, natChains };
  }

  async ensureJumps(jumps: Array<[Table, string, string[]]>): Promise<void> {
    // Listing one builtin chain (`-S CHAIN`) finds the jumps already in place (the common
    // case) without dumping whole tables, which at 10,000 Services costs seconds.
    for (const [table, chain, args] of (await this.missingJumps(jumps)).missing) await this.ensureJump(table, chain, args);
  }

  async deleteJump(table: Table, chain: string, args: string[]): Promise<void> {
    for (let i = 0; i < 16; i++) {
      const r = await this.run('iptables', ['-w', '5', '-t', table, '-D', chain, ...args]);
      if (r.exitCode !== 0) return;
    }
  }

  async save(table: Table): Promise<string> {
    const r = await this.run('iptables-save', ['-t', table]);
    if (r.exitCode !== 0) throw new CommandError('iptables-save', ['-t', table], r);
    return r.stdout;
  }
}

const BUILTIN_CHAINS: Record<Table, string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
};

const BUILTIN_TARGETS = new Set([
  'ACCEPT', 'DROP', 'RETURN', 'REJECT', 'DNAT', 'SNAT', 'MASQUERADE', 'MARK', 'LOG',
  'CONNMARK', 'NOTRACK', 'CT', 'REDIRECT',
]);
const NAT_ONLY = new Set(['DNAT', 'SNAT', 'MASQUERADE', 'REDIRECT']);

interface FakeChain {
  builtin: boolean;
  rules: string[][];
}
type FakeTable = Map<string, FakeChain>;

/** Splits one rule line like a shell would (double quotes group, no escapes needed here). */
export function splitArgs(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line))) out.push(m[1] ?? m[2]!);
  return out;
}

export function quoteArg(a: string): string {
  return /[\s"]/.test(a) || a === '' ? `"${a}"` : a;
}

export class FakeIptablesError extends Error {}

/**
 * In-memory iptables. `restore` validates the whole input (unknown table, rule in an
 * undeclared chain, jump to a missing chain, deleting a referenced or builtin chain,
 * NAT targets outside nat, missing COMMIT) and applies each table atomically, as the
 * kernel tool does. Every restore text is kept in `restores` for assertions.
 */
export class FakeIptables implements Iptables {
  readonly tables = new Map<Table, FakeTable>();
  readonly restores: string[] = [];

  constructor() {
    for (const t of Object.keys(BUILTIN_CHAINS) as Table[]) {
      const m: FakeTable = new Map();
      for (const c of BUILTIN_CHAINS[t]) m.set(c, { builtin: true, rules: [] });
      this.tables.set(t, m);
    }
  }

  private static clone(t: FakeTable): FakeTable {
    const m: FakeTable = new Map();
    for (const [k, v] of t) m.set(k, { builtin: v.builtin, rules: v.rules.map((r) => [...r]) });
    return m;
  }

  async restore(text: string): Promise<void> {
    const staged = new Map<Table, FakeTable>();
    let cur: { name: Table; t: FakeTable } | undefined;
    const lines = text.split('\n');
    lines.forEach((raw, i) => {
      const line = raw.trim();
      const fail = (msg: string): never => {
        throw new FakeIptablesError(`line ${i + 1}: ${msg}: ${line}`);
      };
      if (line === '' || line.startsWith('#')) return;
      if (line.startsWith('*')) {
        if (cur) fail('table started before COMMIT');
        const name = line.slice(1) as Table;
        if (!this.tables.has(name)) fail(`unknown table "${name}"`);
        cur = { name, t: FakeIptables.clone(staged.get(name) ?? this.tables.get(name)!) };
        return;
      }
      if (!cur) return fail('rule outside a table');
      if (line === 'COMMIT') {
        staged.set(cur.name, cur.t);
        cur = undefined;
        return;
      }
      if (line.startsWith(':')) {
        const m = /^:(\S+)\s+(\S+)/.exec(line);
        if (!m) return fail('bad chain declaration');
        const name = m[1]!;
        if (name.length > 28) fail('chain name too long');
        const c = cur.t.get(name);
        if (c) c.rules = []; // declaring a chain flushes it, even with --noflush
        else cur.t.set(name, { builtin: false, rules: [] });
        return;
      }
      const args = splitArgs(line);
      const op = args[0];
      if (op === '-X') {
        const name = args[1] ?? fail('-X needs a chain');
        const c = cur.t.get(name) ?? fail(`no chain "${name}" to delete`);
        if (c.builtin) fail('cannot delete a builtin chain');
        if (c.rules.length) fail(`chain "${name}" is not empty`);
        for (const [other, oc] of cur.t)
          for (const r of oc.rules) if (targetOf(r) === name) fail(`chain "${name}" is referenced by ${other}`);
        cur.t.delete(name);
        return;
      }
      if (op === '-A' || op === '-I') {
        const name = args[1] ?? fail(`${op} needs a chain`);
        const c = cur.t.get(name) ?? fail(`chain "${name}" does not exist`);
        const rule = args.slice(2);
        validateRule(rule, cur.name, cur.t, fail);
        if (op === '-A') c.rules.push(rule);
        else c.rules.unshift(rule);
        return;
      }
      fail(`unsupported command "${op}"`);
    });
    if (cur) throw new FakeIptablesError(`table ${cur.name} has no COMMIT`);
    for (const [k, v] of staged) this.tables.set(k, v);
    this.restores.push(text);
  }

  async ensureJump(table: Table, chain: string, args: string[], at: 'first' | 'last' = 'first'): Promise<void> {
    const t = this.tables.get(table)!;
    const c = t.get(chain);
    if (!c) throw new FakeIptablesError(`no chain ${table}/${chain}`);
    validateRule(args, table, t, (m) => {
      throw new FakeIptablesError(m);
    });
    const i = c.rules.findIndex((r) => r.join('\0') === args.join('\0'));
    if (at === 'first') {
      if (i < 0) c.rules.unshift([...args]);
    } else if (i < 0 || i < c.rules.length - 1) {
      if (i >= 0) c.rules.splice(i, 1);
      c.rules.push([...args]);
    }
  }

  async missingJumps(jumps: Array<[Table, string, string[]]>, oneDump = false): Promise<MissingJumps> {
    const missing = jumps.filter(([t, c, a]) => !(this.tables.get(t)?.get(c)?.rules ?? []).some((r) => r.join('\0') === a.join('\0')));
    return { missing, natChains: oneDump ? this.chains('nat') : undefined };
  }

  async ensureJumps(jumps: Array<[Table, string, string[]]>): Promise<void> {
    for (const [t, c, a] of jumps) await this.ensureJump(t, c, a);
  }

  async deleteJump(table: Table, chain: string, args: string[]): Promise<void> {
    const c = this.tables.get(table)!.get(chain);
    if (c) c.rules = c.rules.filter((r) => r.join('\0') !== args.join('\0'));
  }

  async save(table: Table): Promise<string> {
    const t = this.tables.get(table)!;
    const out = [`*${table}`];
    for (const [name, c] of t) out.push(`:${name} ${c.builtin ? 'ACCEPT' : '-'} [0:0]`);
    for (const [name, c] of t) for (const r of c.rules) out.push(`-A ${name} ${r.map(quoteArg).join(' ')}`);
    out.push('COMMIT', '');
    return out.join('\n');
  }

  /** Rules of one chain as text lines ("-A CHAIN …"), for assertions. */
  rules(table: Table, chain: string): string[] {
    return (this.tables.get(table)?.get(chain)?.rules ?? []).map((r) => `-A ${chain} ${r.map(quoteArg).join(' ')}`);
  }

  chains(table: Table): string[] {
    return [...(this.tables.get(table)?.keys() ?? [])];
  }
}

function targetOf(rule: string[]): string | undefined {
  for (let i = 0; i < rule.length - 1; i++) if (rule[i] === '-j' || rule[i] === '-g') return rule[i + 1];
  return undefined;
}

function validateRule(rule: string[], table: Table, t: FakeTable, fail: (m: string) => never): void {
  const target = targetOf(rule);
  if (!target) return;
  if (BUILTIN_TARGETS.has(target)) {
    if (NAT_ONLY.has(target) && table !== 'nat') fail(`target ${target} is only valid in the nat table`);
    if (target === 'REJECT' && table !== 'filter') fail('REJECT is only valid in the filter table');
    return;
  }
  if (!t.has(target)) fail(`jump to missing chain "${target}"`);
}
