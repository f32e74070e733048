import { Option, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { isCACertHash } from '../api/csr.js';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { logger, setLogLevel } from '../api/log.js';
import { flag, logLevelFlag, parseCIDRFlag, parseDurationFlag, parseIntegerFlag, parseIPFlag, portFlag } from './flags.js';
import { requireRoot, requireRuntimeSocket } from './preflight.js';
import { exitOnSignal } from './shutdown.js';
import { DEFAULT_CONTAINER_LOG_MAX_FILES, DEFAULT_CONTAINER_LOG_MAX_SIZE, logRotatePolicy, type LogRotatePolicy } from '../agent/kubelet/logrotate.js';

function badFlag(msg: string): never {
  process.stderr.write(`k8ts agent: ${msg}\n`);
  process.exit(2);
}

/** --container-log-*: parsed, then checked as the kubelet checks its configuration. */
function containerLogFlags(o: Record<string, unknown>): { policy: LogRotatePolicy; monitorIntervalMs: number } {
  const monitorIntervalMs = o.containerLogMonitorInterval as number;
  try {
    return { policy: logRotatePolicy(String(o.containerLogMaxSize), o.containerLogMaxFiles as number, monitorIntervalMs), monitorIntervalMs };
  } catch (err) {
    return badFlag((err as Error).message);
  }
}

export function register(program: Command): void {
  program
    .command('agent')
    .description('Run the node agent: kubelet (pods on containerd or Docker) + kube-proxy + host-gw routes')
    .option('--node-name <name>', 'this node', hostname())
    .requiredOption('--server <url>', 'apiserver URL, e.g. https://192.168.56.10:6443')
    .option('--token-file <file>', 'file holding the bootstrap token (first start only; default: $K8TS_JOIN_TOKEN). Never on the command line')
    .option('--discovery-token-ca-cert-hash <sha256:hex>', 'pin of the cluster CA (k8ts token create --print-join-command prints it); repeatable', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--discovery-token-unsafe-skip-ca-verification', 'join without pinning the CA (trusts whatever server answers first)')
    .addOption(new Option('--token <token>').hideHelp())
    .option('--runtime <kind>', 'cri | docker', 'cri')
    .option('--runtime-endpoint <url>', 'unix:///run/containerd/containerd.sock or unix:///var/run/docker.sock')
    .addOption(flag('--node-ip <ip>', "the node's InternalIP", parseIPFlag).makeOptionMandatory())
    .option('--proxy-mode <mode>', 'iptables | nftables | ipvs | none', 'iptables')
    .option('--data-dir <dir>', 'agent state (credentials)', '/var/lib/k8ts-agent')
    .option('--root-dir <dir>', 'kubelet root (pod volumes); default <data-dir>/kubelet')
    .option('--log-dir <dir>', 'container log directory', '/var/log/pods')
    .option('--pod-manifest-path <dir>', 'directory of static pod manifests')
    .option('--manifest-url <url>', 'URL of pod manifests to poll')
    .addOption(flag('--cluster-cidr <cidr>', 'pod CIDR of the whole cluster', parseCIDRFlag, '10.244.0.0/16'))
    .option('--cluster-dns <ips>', 'comma-separated DNS servers for pods (default: the node resolv.conf)')
    .addOption(portFlag('--kubelet-port <port>', 'kubelet HTTPS port (0 = any free port)', '10250', true))
    .addOption(flag('--address <ip>', 'kubelet listen address', parseIPFlag, '0.0.0.0'))
    .option('--cni-conf-dir <dir>', 'where the pod network conflist is written', '/etc/cni/net.d')
    .option('--cni-bin-dir <dir>', 'CNI plugin binaries', '/usr/lib/cni')
    .option('--cni-bridge <name>', 'Linux bridge of the pod network', 'cni0')
    .option('--cni-ipam-dir <dir>', 'host-local IPAM state dir (default /var/lib/cni/networks)')
    .option('--no-host-gw', 'do not program routes to other nodes\' pod CIDRs')
    .option('--container-log-max-size <quantity>', 'rotate a container log file when it reaches this size (negative: never)', DEFAULT_CONTAINER_LOG_MAX_SIZE)
    .addOption(flag('--container-log-max-files <n>', 'log files kept per container, the live one included (> 1)', (v) => parseIntegerFlag(v), String(DEFAULT_CONTAINER_LOG_MAX_FILES)))
    .addOption(flag('--container-log-monitor-interval <duration>', 'how often container log sizes are checked (>= 3s)', parseDurationFlag, '10s'))
    .addOption(logLevelFlag())
    .action(async (o) => {
      setLogLevel(o.logLevel);
      if (o.token !== undefined) {
        process.stderr.write('k8ts agent: --token is not accepted: every user of the node could read it in the process list; put it in a 0600 file for --token-file, or in K8TS_JOIN_TOKEN\n');
        process.exit(2);
      }
      const pins: string[] = o.discoveryTokenCaCertHash;
      for (const p of pins) {
        if (!isCACertHash(p)) {
          process.stderr.write(`k8ts agent: --discovery-token-ca-cert-hash ${JSON.stringify(p)} is not of the form sha256:<64 hex digits>\n`);
          process.exit(2);
        }
      }
      let token = process.env.K8TS_JOIN_TOKEN?.trim() || undefined;
      if (o.tokenFile) {
        try {
          token = readFileSync(o.tokenFile, 'utf8').trim();
        } catch (err) {
          process.stderr.write(`k8ts agent: cannot read --token-file: ${(err as Error).message}\n`);
          process.exit(2);
        }
      }
      const runtime = String(o.runtime);
      if (runtime !== 'cri' && runtime !== 'docker') {
        process.stderr.write(`k8ts agent: --runtime must be cri or docker, not "${runtime}"\n`);
        process.exit(2);
      }
      const mode = String(o.proxyMode);
      if (!['iptables', 'nftables', 'ipvs', 'none'].includes(mode)) {
        process.stderr.write(`k8ts agent: --proxy-mode must be iptables, nftables, ipvs or none, not "${mode}"\n`);
        process.exit(2);
      }
      const containerLogs = containerLogFlags(o);
      // The agent is a mostly idle daemon with short allocation bursts (pod starts, relists).
      // V8 doubles the young generation after each busy scavenge up to 2 x 16 MB and, with
      // almost no allocation afterwards, never runs the GC that would give it back: that was
      // ~30 MB of an idle agent's RSS. Keeping it at its initial 2 x 1 MB costs only more
      // (sub-millisecond) scavenges during bursts. Read at each resize, so it applies here.
      const tuneV8 = !process.env.K8TS_AGENT_V8_DEFAULTS;
      if (tuneV8) setFlagsFromString('--semi-space-growth-factor=1');
      const endpoint = o.runtimeEndpoint ?? (runtime === 'cri' ? 'unix:///run/containerd/containerd.sock' : 'unix:///var/run/docker.sock');
      requireRoot('k8ts agent', 'it runs CNI plugins, writes iptables rules and mounts volumes');
      await requireRuntimeSocket(runtime, endpoint);
      const { startAgent } = await import('../agent/index.js');
      const { BootstrapError } = await import('../agent/kubelet/bootstrap.js');
      const log = logger('agent', { node: o.nodeName });
      // Hidden test knob: CrashLoopBackOff base in ms (upstream's is 10 s).
      const crash = process.env.K8TS_CRASHLOOP_BACKOFF_MS ? Number(process.env.K8TS_CRASHLOOP_BACKOFF_MS) : undefined;
      let agent: Awaited<ReturnType<typeof startAgent>>;
      try {
        agent = await startAgent({
          nodeName: o.nodeName,
          server: o.server,
          token,
          caCertHashes: pins,
          unsafeSkipCAVerification: o.discoveryTokenUnsafeSkipCaVerification === true,
          runtime,
          runtimeEndpoint: endpoint,
          nodeIP: o.nodeIp,
          proxyMode: mode as 'iptables',
          dataDir: o.dataDir,
          rootDir: o.rootDir,
          logDir: o.logDir,
          podManifestPath: o.podManifestPath,
          manifestURL: o.manifestUrl,
          clusterCIDR: o.clusterCidr,
          clusterDNS: o.clusterDns ? String(o.clusterDns).split(',').filter(Boolean) : undefined,
          kubeletPort: o.kubeletPort,
          kubeletAddress: o.address,
          cniConfDir: o.cniConfDir,
          cniBinDir: o.cniBinDir,
          cniBridge: o.cniBridge,
          cniIpamDir: o.cniIpamDir,
          hostGw: o.hostGw !== false,
          crashLoopBackoffMs: crash,
          containerLogs,
        });
      } catch (err) {
        // Bootstrap problems (a CA that does not match its pin, a refused token, a denied request) are one line.
        if (err instanceof BootstrapError) {
          process.stderr.write(`k8ts agent: ${err.message}\n`);
          process.exit(1);
        }
        throw err;
      }
      // One line on stdout that scripts and tests wait for.
      process.stdout.write(`k8ts agent ready: node ${o.nodeName}, kubelet on :${agent.kubeletPort}\n`);
      if (tuneV8) collectWhenIdle();
      exitOnSignal(log, () => agent.stop(), 'stopping (pods keep running)');
    });
}

/**
 * One full GC when the agent turns idle after a busy spell (a burst of pod starts or
 * deletions). V8 sizes the old generation for the burst and, with next to no allocation
 * afterwards, never collects it again, so the idle RSS depended on where the last burst
 * happened to leave the heap (88 to 116 MB with 20 pods in bench/podstart). Browsers get the
 * same from idle-time GC; Node has no such hook, hence the exposed gc().
 */
function collectWhenIdle(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  if (typeof gc !== 'function') return;
  let last = performance.eventLoopUtilization();
  let busy = false;
  setInterval(() => {
    const now = performance.eventLoopUtilization();
    const { utilization } = performance.eventLoopUtilization(now, last);
    last = now;
    // Busy: a burst (a resync of idle pods stays well below 5 %). Idle: under 1 % for 2 s.
    if (utilization > 0.05) busy = true;
    else if (busy && utilization < 0.01) {
      busy = false;
      gc();
    }
  }, 2_000).unref();
}
