// `k8ts node …`: debugging on the node itself, against the local runtime (CRI or Docker)
// and the kernel, so it works with the control plane down. Upstream spreads this over
// crictl, nsenter, iptables-save and conntrack; here one tool knows pod and runtime both.
import type { Command } from 'commander';
import { PassThrough } from 'node:stream';
import { intFlag } from './flags.js';

type Fmt = 'table' | 'json';

interface GlobalOpts {
  runtime?: string;
  runtimeEndpoint?: string;
  node?: string;
  output?: string;
  podLogDir?: string;
  agentDataDir?: string;
  localStateDir?: string;
}

function fail(msg: string, code = 1): never {
  process.stderr.write(`k8ts node: ${msg}\n`);
  process.exit(code);
}

/** Runs an action; every error ends as one line on stderr and a non-zero exit. */
function action<A extends unknown[]>(f: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await f(...args);
    } catch (err) {
      const { NodeDebugError, firstLine } = await import('../agent/nodedebug/index.js');
      if (err instanceof NodeDebugError) fail(err.message, err.exitCode);
      if (process.env.K8TS_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
      fail(firstLine((err as Error)?.message ?? String(err)));
    }
  };
}

function globals(cmd: Command): GlobalOpts & { fmt: Fmt } {
  const o = cmd.optsWithGlobals() as GlobalOpts;
  const out = o.output ?? 'table';
  if (out !== 'json' && out !== 'table' && out !== 'wide') fail(`-o must be json or table, not "${out}"`, 2);
  return { ...o, fmt: out === 'json' ? 'json' : 'table' };
}

async function target(o: GlobalOpts) {
  const nd = await import('../agent/nodedebug/index.js');
  return nd.resolveTarget({
    runtime: o.runtime,
    runtimeEndpoint: o.runtimeEndpoint,
    node: o.node,
    podLogDir: o.podLogDir,
    agentDataDir: o.agentDataDir,
    localStateDir: o.localStateDir,
  });
}

type NodeDebug = typeof import('../agent/nodedebug/index.js');
interface RuntimeCtx {
  g: GlobalOpts & { fmt: Fmt };
  nd: NodeDebug;
  t: Awaited<ReturnType<typeof target>>;
  nr: ReturnType<NodeDebug['openRuntime']>;
}

/** Opens this node's runtime for one command and closes it afterwards, also on error. */
async function withRuntime(cmd: Command, f: (c: RuntimeCtx) => Promise<void>): Promise<void> {
  const g = globals(cmd);
  const nd = await import('../agent/nodedebug/index.js');
  const t = await target(g);
  const nr = nd.openRuntime(t);
  try {
    await f({ g, nd, t, nr });
  } finally {
    await nr.close();
  }
}

const printJson = (x: unknown) => process.stdout.write(JSON.stringify(x, null, 2) + '\n');

export function register(program: Command): void {
  const node = program
    .command('node')
    .description('Node-level debugging against the local runtime and kernel (works with the apiserver down)')
    .option('--runtime <kind>', 'cri | docker (default cri, or the local cluster\'s)')
    .option('--runtime-endpoint <url>', 'runtime socket (default unix:///run/containerd/containerd.sock; docker: unix:///var/run/docker.sock)')
    .option('--node <name>', 'a node of the local cluster from `k8ts up` (cp, node-1, …): its runtime, network namespace and dirs')
    .option('-o, --output <format>', 'table | json', 'table')
    .option('--pod-log-dir <dir>', 'the kubelet\'s --log-dir (default /var/log/pods)')
    .option('--agent-data-dir <dir>', 'the agent\'s --data-dir (default /var/lib/k8ts-agent)')
    .option('--local-state-dir <dir>', 'state dir of `k8ts up` (default /var/lib/k8ts-local)');

  node
    .command('pods')
    .description('Pod sandboxes on this node (like crictl pods)')
    .action(
      action((_o: unknown, cmd: Command) =>
        withRuntime(cmd, async ({ g, nd, nr }) => {
          const sbs = await nd.listSandboxes(nr);
          if (g.fmt === 'json') printJson(nd.podsJson(sbs));
          else process.stdout.write(nd.podsTable(sbs));
        }),
      ),
    );

  node
    .command('ps')
    .description('Containers on this node, sandbox (pause) containers included (like crictl ps)')
    .option('-a, --all', 'include exited and created containers')
    .action(
      action((o: { all?: boolean }, cmd: Command) =>
        withRuntime(cmd, async ({ g, nd, nr }) => {
          const [sbs, ctrs] = await Promise.all([nr.call((rt) => rt.listPodSandboxes()), nd.listContainers(nr)]);
          const rows = nd.psRows(sbs, ctrs, !!o.all);
          if (g.fmt === 'json') printJson(nd.psJson(rows));
          else process.stdout.write(nd.psTable(rows));
        }),
      ),
    );

  node
    .command('inspect')
    .description('The runtime\'s view of a pod (name, namespace/name, UID or sandbox id) or container (id) as JSON')
    .argument('<id|pod>')
    .action(
      action((ref: string, _o: unknown, cmd: Command) =>
        withRuntime(cmd, async ({ nd, nr }) => {
          printJson(await nd.inspect(nr, ref));
        }),
      ),
    );

  node
    .command('logs')
    .description('A container\'s logs from the CRI log files on this node')
    .argument('<pod>')
    .argument('[container]')
    .option('-c, --container <name>', 'container name')
    .option('-f, --follow', 'keep printing as the container writes')
    .option('-p, --previous', 'the previous (terminated) instance of the container')
    .addOption(intFlag('--tail <n>', 'only the last n lines (-1: all)', undefined, -1))
    .option('--timestamps', 'prefix each line with its timestamp')
    .action(
      action(async (pod: string, ctrArg: string | undefined, o: { container?: string; follow?: boolean; previous?: boolean; tail?: number; timestamps?: boolean }, cmd: Command) => {
        const g = globals(cmd);
        const nd = await import('../agent/nodedebug/index.js');
        const t = await target(g);
        const tail = o.tail;
        const req = { pod, container: o.container ?? ctrArg, previous: o.previous, follow: o.follow, tail, timestamps: o.timestamps };
        // The files are enough when the runtime is down; the runtime only says which is current.
        let nr: ReturnType<typeof nd.openRuntime> | undefined;
        try {
          nr = nd.openRuntime(t);
          await nr.call((rt) => rt.version());
        } catch {
          await nr?.close();
          nr = undefined;
        }
        try {
          const src = await nd.resolveLogSource(nr, t.podLogDir, req);
          const stillRunning = nr && src.containerId
            ? async () => {
                try {
                  return (await nr!.rt.containerStatus(src.containerId!)).state === 'running';
                } catch {
                  return false;
                }
              }
            : undefined;
          const out = new PassThrough();
          out.pipe(process.stdout, { end: false });
          const ac = new AbortController();
          process.once('SIGINT', () => ac.abort());
          await nd.writeLogs(src, req, out, stillRunning, ac.signal);
          out.end();
        } finally {
          await nr?.close();
        }
      }),
    );

  node
    .command('exec')
    .description('Run a command in a container of a pod: k8ts node exec [-it] POD [-c NAME] -- CMD …')
    .argument('<pod>')
    .argument('<cmd...>')
    .option('-c, --container <name>', 'container name')
    .option('-i, --stdin', 'pass stdin to the command')
    .option('-t, --tty', 'allocate a terminal (raw mode)')
    .action(
      action(async (pod: string, argv: string[], o: { container?: string; stdin?: boolean; tty?: boolean }, cmd: Command) => {
        let raw = false;
        await withRuntime(cmd, async ({ nd, nr }) => {
          try {
            const sb = await nd.findPod(nr, pod);
            const ctrs = await nr.call((rt) => rt.listContainers({ podSandboxId: sb.id }));
            const c = nd.pickContainer(ctrs.filter((x) => x.state === 'running').length ? ctrs.filter((x) => x.state === 'running') : ctrs, pod, o.container);
            if (c.state !== 'running') throw new nd.NodeDebugError(`container "${c.name}" in pod "${pod}" is not running (${c.state})`);
            const tty = !!o.tty && !!process.stdin.isTTY;
            if (o.tty && !process.stdin.isTTY) process.stderr.write('k8ts node: unable to use a TTY - input is not a terminal\n');
            const out = new PassThrough();
            out.pipe(process.stdout, { end: false });
            const errOut = new PassThrough();
            errOut.pipe(process.stderr, { end: false });
            if (tty) {
              process.stdin.setRawMode(true);
              raw = true;
            }
            const session = await nr.call((rt) =>
              rt.exec(c.id, argv, { stdin: o.stdin ? process.stdin : undefined, stdout: out, stderr: errOut, tty }),
            );
            if (tty) {
              const resize = () => session.resize(process.stdout.columns ?? 80, process.stdout.rows ?? 24);
              resize();
              process.stdout.on('resize', resize);
            }
            const code = await session.done;
            // let the piped output drain before exiting
            await new Promise((r) => setImmediate(r));
            process.exitCode = code;
          } finally {
            if (raw) process.stdin.setRawMode(false);
          }
        });
        // stdin may hold the event loop open
        process.exit(process.exitCode ?? 0);
      }),
    );

  node
    .command('net')
    .description('A pod\'s network: netns, interfaces, addresses, routes, and the veth on the node side')
    .argument('<pod>')
    .action(
      action((pod: string, _o: unknown, cmd: Command) =>
        withRuntime(cmd, async ({ g, nd, t, nr }) => {
          const sb = await nd.findPod(nr, pod);
          if (!sb.netnsPath) throw new nd.NodeDebugError(`pod "${pod}" has no network namespace of its own (hostNetwork, or its sandbox is not running)`);
          const n = await nd.podNet(sb.netnsPath, t.run);
          if (g.fmt === 'json') printJson({ pod: { id: sb.id, name: sb.name, namespace: sb.namespace, ip: sb.ip }, ...n });
          else process.stdout.write(nd.formatPodNet(`${sb.namespace}/${sb.name}`, sb.ip, n));
        }),
      ),
    );

  node
    .command('service')
    .description('A Service\'s path through this node\'s proxy rules (iptables, nftables or IPVS), with counters')
    .argument('<name|ns/name|clusterIP[:port]>')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('--port-name <names>', 'nftables tables written by older k8ts (chains named by hash, no comments): port names to try, comma separated')
    .action(
      action(async (ref: string, o: { namespace: string; portName?: string }, cmd: Command) => {
        const g = globals(cmd);
        const nd = await import('../agent/nodedebug/index.js');
        const t = await target(g);
        const p = await nd.readServicePath(t.run, ref, { namespace: o.namespace, portNames: o.portName?.split(',').map((s) => s.trim()) });
        if (g.fmt === 'json') printJson(p);
        else process.stdout.write(nd.formatServicePath(p));
      }),
    );

  node
    .command('images')
    .description('Images the runtime has (like crictl images)')
    .action(
      action((_o: unknown, cmd: Command) =>
        withRuntime(cmd, async ({ g, nd, nr }) => {
          const rows = nd.imageRows(await nr.call((rt) => rt.listImages()));
          if (g.fmt === 'json') printJson({ items: rows });
          else process.stdout.write(nd.imagesTable(rows));
        }),
      ),
    );

  node
    .command('events')
    .description('What the kubelet did lately on this node (its journal; no apiserver needed)')
    .option('--pod <pod>', 'only events of this pod (name, namespace/name or UID)')
    .option('--since <duration>', 'only newer than this (e.g. 90s, 10m, 2h)')
    .option('--journal-dir <dir>', 'where the journal is (default: the kubelet root dir, <agent-data-dir>/kubelet)')
    .action(
      action(async (o: { pod?: string; since?: string; journalDir?: string }, cmd: Command) => {
        const g = globals(cmd);
        const nd = await import('../agent/nodedebug/index.js');
        const t = await target(g);
        if (o.since !== undefined && nd.parseSince(o.since) === undefined) fail(`--since: invalid duration "${o.since}" (use e.g. 90s, 10m, 2h)`, 2);
        const dirs = o.journalDir ? [o.journalDir] : t.journalDirs;
        const { events, dirs: found } = nd.nodeEvents(dirs, { since: o.since, pod: o.pod });
        if (g.fmt === 'json') printJson({ items: events });
        else if (!found.length) fail(`no kubelet journal found (looked in ${dirs.join(', ')}); use --journal-dir`);
        else if (!events.length) process.stderr.write('No events found.\n');
        else process.stdout.write(nd.eventsTable(events));
      }),
    );

  node
    .command('shell')
    .description('A shell with the node\'s namespaces (like kubectl debug node/N -it); `-- CMD …` runs a command instead')
    .argument('[cmd...]')
    .action(
      action(async (argv: string[], _o: unknown, cmd: Command) => {
        const g = globals(cmd);
        const t = await target(g);
        const { spawn } = await import('node:child_process');
        const { existsSync } = await import('node:fs');
        if (process.getuid?.() !== 0) fail('shell needs root to enter the node\'s namespaces: run it with sudo');
        const shell = argv.length ? argv : [existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh'];
        // A local-cluster node is a network namespace on this machine; a real node is PID 1's
        // namespaces (useful when k8ts itself runs in a container on the node).
        // Already in PID 1's namespaces (the usual case on a node) or unable to see them
        // (a restricted container): run the shell as is rather than fail in nsenter.
        const { readlinkSync } = await import('node:fs');
        const nsKinds = ['mnt', 'uts', 'ipc', 'net', 'pid'];
        let sameAsInit = true;
        try {
          sameAsInit = nsKinds.every((k) => readlinkSync(`/proc/self/ns/${k}`) === readlinkSync(`/proc/1/ns/${k}`));
        } catch {
          process.stderr.write('k8ts node: cannot inspect PID 1\'s namespaces; using this process\'s namespaces\n');
        }
        const [file, args] = t.netns
          ? ['ip', ['netns', 'exec', t.netns, ...shell]]
          : sameAsInit
            ? [shell[0]!, shell.slice(1)]
            : ['nsenter', ['-t', '1', '-m', '-u', '-i', '-n', '-p', '--', ...shell]];
        const child = spawn(file, args, { stdio: 'inherit', env: { ...process.env, PS1: `[k8ts ${t.nodeName ?? 'node'}] \\w# ` } });
        const code = await new Promise<number>((resolve) => {
          child.once('error', (err) => {
            process.stderr.write(`k8ts node: cannot start ${file}: ${err.message}\n`);
            resolve(1);
          });
          child.once('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
        });
        process.exit(code);
      }),
    );
}
