// Throw-away test hosts made of network namespaces: namespaces, veth pairs, bridges,
// addresses, routes, and processes run inside them. Every name carries a per-run prefix
// (k8tsT<pid>) so parallel runs never collide, and cleanup() removes all of it (also from a
// process exit hook, so a crashed test leaves nothing behind). Nothing here touches the
// host's own namespace except creating/deleting the named namespaces.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { execa } from 'execa';
import type { Runner } from '../../agent/netfilter/exec.js';
import { execRunner } from '../../agent/netfilter/exec.js';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Whether this process can create network namespaces (root and `ip netns` working). */
export async function canUseNetns(): Promise<boolean> {
  if (!isRoot()) return false;
  const probe = `k8tsT${process.pid}-probe`;
  try {
    await execa('ip', ['netns', 'add', probe]);
    await execa('ip', ['netns', 'del', probe]);
    return true;
  } catch {
    return false;
  }
}

const allLabs = new Set<NetLab>();
let hookInstalled = false;
function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.once('exit', () => {
    for (const lab of allLabs) lab.cleanupSync();
  });
}

export class NetLab {
  readonly prefix: string;
  private readonly namespaces: string[] = [];
  private readonly procs = new Set<ChildProcess>();

  constructor(tag = '') {
    this.prefix = `k8tsT${process.pid}${tag}`;
    allLabs.add(this);
    installExitHook();
  }

  /** Creates namespace `<prefix>-<name>` with loopback up; returns its full name. */
  async netns(name: string): Promise<string> {
    const full = `${this.prefix}-${name}`;
    await execa('ip', ['netns', 'add', full]);
    this.namespaces.push(full);
    await this.ip(full, ['link', 'set', 'lo', 'up']);
    return full;
  }

  /** `ip -n NS args…` */
  async ip(ns: string, args: string[]): Promise<void> {
    await execa('ip', ['-n', ns, ...args]);
  }

  /** Runs a command inside `ns`; throws on failure. */
  async exec(ns: string, cmd: string, args: string[], input?: string): Promise<string> {
    const r = await execa('ip', ['netns', 'exec', ns, cmd, ...args], { input: input ?? '' });
    return String(r.stdout);
  }

  runner(ns: string): Runner {
    return execRunner(ns);
  }

  async sysctl(ns: string, key: string, value: string): Promise<void> {
    await this.exec(ns, 'sysctl', ['-q', '-w', `${key}=${value}`]);
  }

  /** A bridge in `ns`, up, with an optional address (e.g. 10.244.1.1/24). */
  async bridge(ns: string, name: string, addr?: string): Promise<void> {
    await this.ip(ns, ['link', 'add', name, 'type', 'bridge']);
    if (addr) await this.ip(ns, ['addr', 'add', addr, 'dev', name]);
    await this.ip(ns, ['link', 'set', name, 'up']);
  }

  /**
   * A veth pair: `ifA` in nsA (with addrA), `ifB` in nsB; `ifB` is enslaved to bridge
   * `bridgeB` when given. Both ends up.
   */
  async veth(o: { nsA: string; ifA: string; addrA?: string; nsB: string; ifB: string; bridgeB?: string; hairpin?: boolean }): Promise<void> {
    await this.ip(o.nsA, ['link', 'add', o.ifA, 'type', 'veth', 'peer', 'name', o.ifB, 'netns', o.nsB]);
    if (o.addrA) await this.ip(o.nsA, ['addr', 'add', o.addrA, 'dev', o.ifA]);
    await this.ip(o.nsA, ['link', 'set', o.ifA, 'up']);
    if (o.bridgeB) await this.ip(o.nsB, ['link', 'set', o.ifB, 'master', o.bridgeB]);
    if (o.hairpin) await this.ip(o.nsB, ['link', 'set', o.ifB, 'type', 'bridge_slave', 'hairpin', 'on']);
    await this.ip(o.nsB, ['link', 'set', o.ifB, 'up']);
  }

  /** Starts a long-running process inside `ns`; killed by cleanup(). */
  spawn(ns: string, cmd: string, args: string[]): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.procs.add(p);
    p.once('exit', () => this.procs.delete(p));
    return p;
  }

  /** Kills our processes and deletes our namespaces (their links and routes go with them). */
  async cleanup(): Promise<void> {
    for (const p of this.procs) p.kill('SIGKILL');
    this.procs.clear();
    for (const ns of this.namespaces.splice(0).reverse()) await execa('ip', ['netns', 'del', ns], { reject: false });
    allLabs.delete(this);
  }

  cleanupSync(): void {
    for (const p of this.procs) {
      try {
        p.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const ns of this.namespaces.splice(0)) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
    }
  }

  get names(): readonly string[] {
    return this.namespaces;
  }
}

/** Node source of a tiny TCP server answering "<name> <peer address>" and closing. */
export const NAME_SERVER_JS = `
const net = require('net');
const [name, port] = process.argv.slice(1);
const srv = net.createServer((s) => { s.on('error', () => {}); s.end(name + ' ' + s.remoteAddress + '\\n'); });
srv.listen(Number(port), '0.0.0.0', () => process.stdout.write('listening\\n'));
`;

/**
 * Node source of a bounded client: N sequential connections to host:port, printing a JSON
 * array of replies ("<name> <peer>") or "ERR:<code>" plus the milliseconds each took.
 */
export const PROBE_CLIENT_JS = `
const net = require('net');
const [host, port, n, timeoutMs] = process.argv.slice(1);
const out = [];
function one(i) {
  if (i >= Number(n)) { process.stdout.write(JSON.stringify(out)); return; }
  const t0 = Date.now(); let buf = ''; let done = false;
  const fin = (v) => { if (done) return; done = true; out.push({ r: v, ms: Date.now() - t0 }); s.destroy(); one(i + 1); };
  const s = net.connect({ host, port: Number(port) });
  s.setTimeout(Number(timeoutMs || 2000), () => fin('ERR:TIMEOUT'));
  s.on('data', (d) => { buf += d; });
  s.on('end', () => fin(buf.trim()));
  s.on('error', (e) => fin('ERR:' + (e.code || e.message)));
}
one(0);
`;

export interface ProbeResult {
  r: string;
  ms: number;
}

/**
 * Runs the probe client inside `ns`. `timeoutMs` is each connection's idle timeout: a test
 * that expects no answer passes its own; the default only bounds a hang, so it is generous.
 */
export async function probe(lab: NetLab, ns: string, host: string, port: number, n: number, timeoutMs = 10_000): Promise<ProbeResult[]> {
  const out = await lab.exec(ns, process.execPath, ['-e', PROBE_CLIENT_JS, host, String(port), String(n), String(timeoutMs)]);
  return JSON.parse(out) as ProbeResult[];
}

/** Starts a name server in `ns` and resolves once it listens. */
export async function startNameServer(lab: NetLab, ns: string, name: string, port = 80): Promise<void> {
  const p = lab.spawn(ns, process.execPath, ['-e', NAME_SERVER_JS, name, String(port)]);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`server ${name} did not start`)), 60_000);
    p.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('listening')) {
        clearTimeout(t);
        resolve();
      }
    });
    p.once('exit', (c) => reject(new Error(`server ${name} exited ${c}`)));
  });
}
