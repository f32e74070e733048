// The kubelet core: merged pod sources, one serialized worker per pod UID, SyncPod as
// "compute a plan, then act" (actions.ts), status reporting on every change, and
// termination. Everything it knows about running pods comes back from the runtime's labels,
// so a restarted kubelet adopts pods instead of restarting them.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { logger } from '../../api/log.js';
import type { ContainerConfig, ContainerRuntime, ContainerStatus, PodSandboxConfig, SandboxStatus } from '../runtime/types.js';
import { attemptOf, computePodActions, findContainerStatus, type RuntimePodStatus } from './actions.js';
import { Backoff } from './backoff.js';
import { ApiError, type KubeClient } from './client.js';
import { buildEnv, EnvError, expandCommand } from './env.js';
import { etcHostsMount, podHostname } from './etchosts.js';
import { EventRecorder, podRef, type EventType } from './events.js';
import { appendNodeEvent } from './journal.js';
import {
  A_CONFIG_MIRROR,
  A_CONFIG_HASH,
  A_CONTAINER_TYPE,
  A_PRESTOP,
  A_TERMINATION_GRACE,
  L_MANAGED,
  L_POD_NAME,
  L_POD_NAMESPACE,
  L_POD_UID,
  containerAnnotations,
  containerLabels,
  podFullName,
  sandboxLabels,
} from './labels.js';
import { KubeletMetrics } from './metrics.js';
import { ProbeManager, runHandler } from './probes.js';
import { parseManifests, readManifestDir, staticPod, type SourceName } from './sources.js';
import { computePodStatus, containerResources, statusEqual } from './status.js';
import type { ConfigMap, Container, Handler, Pod, PodStatusK8s, Secret, Service } from './types.js';
import { VolumeError, VolumeManager } from './volumes.js';
import { SubPathError } from './subpath.js';
import { ContainerLogManager, DEFAULT_CONTAINER_LOG_MAX_FILES, DEFAULT_CONTAINER_LOG_MAX_SIZE, DEFAULT_CONTAINER_LOG_MONITOR_INTERVAL_MS, logRotatePolicy, removeContainerLogs, type LogRotatePolicy } from './logrotate.js';

export interface KubeletOptions {
  nodeName: string;
  nodeIP: string;
  runtime: ContainerRuntime;
  /** Absent = standalone kubelet (static pods only). */
  client?: KubeClient;
  rootDir: string;
  logDir: string;
  podManifestPath?: string;
  manifestURL?: string;
  /** Resolves once pod networking (podCIDR + CNI conf) is usable. */
  networkReady?: Promise<void>;
  clusterDNS?: string[];
  clusterDomain?: string;
  /** Hidden test knob: CrashLoopBackOff base (upstream 10 s). */
  crashLoopBackoffMs?: number;
  imagePullBackoffMs?: number;
  /** Full resync of every pod (catches anything an event missed). */
  resyncMs?: number;
  /** Container log rotation (--container-log-max-size/-files/-monitor-interval); upstream's defaults when unset. */
  containerLogs?: { policy: LogRotatePolicy; monitorIntervalMs: number };
  log?: Logger;
}

interface PodRecord {
  pod: Pod;
  source: SourceName;
  waiting: Map<string, { reason: string; message: string }>;
  lastStatus?: PodStatusK8s;
  startRecorded?: boolean;
  /** Set once the kubelet finished terminating (status sent, deletion requested). */
  terminated?: boolean;
  mirrorChecked?: boolean;
}

interface Worker {
  busy: boolean;
  again: boolean;
  timer?: NodeJS.Timeout;
}

const KUBELET_VERSION = 'v1.32.0-k8ts';

export class Kubelet {
  readonly runtime: ContainerRuntime;
  readonly metrics = new KubeletMetrics();
  readonly events: EventRecorder;
  readonly probes: ProbeManager;
  readonly volumes: VolumeManager;
  readonly log: Logger;
  private pods = new Map<string, PodRecord>();
  /** Last known pod of records removed from config, for the grace period of the final kill. */
  private gone = new Map<string, Pod>();
  private workers = new Map<string, Worker>();
  private containerToPod = new Map<string, string>();
  private sandboxIPs = new Map<string, string>();
  private exitedCache = new Map<string, ContainerStatus>();
  private startedCache = new Map<string, Date>();
  private services = new Map<string, Service>();
  private configMaps = new Map<string, ConfigMap>();
  private secrets = new Map<string, Secret>();
  private crashBackoff: Backoff;
  private pullBackoff: Backoff;
  private pulls = new Map<string, Promise<string>>();
  private stops: (() => void)[] = [];
  private timers: NodeJS.Timeout[] = [];
  private sourcesReady = new Set<SourceName>();
  private expectedSources = new Set<SourceName>();
  private stopped = false;
  private networkOk = false;
  readonly version = KUBELET_VERSION;

  constructor(readonly opts: KubeletOptions) {
    this.runtime = opts.runtime;
    this.log = opts.log ?? logger('kubelet', { node: opts.nodeName });
    this.events = new EventRecorder(opts.client, opts.nodeName, this.log.child({ sub: 'events' }));
    this.volumes = new VolumeManager(opts.rootDir);
    this.crashBackoff = new Backoff(opts.crashLoopBackoffMs ?? 10_000, 300_000);
    this.pullBackoff = new Backoff(opts.imagePullBackoffMs ?? 10_000, 300_000);
    this.probes = new ProbeManager({
      runtime: this.runtime,
      onChange: (uid) => this.enqueue(uid),
      onUnhealthy: (pod, c, _kind, message) => this.event(pod, 'Warning', 'Unhealthy', message, c.name),
    });
    if (opts.networkReady) void opts.networkReady.then(() => {
      this.networkOk = true;
      for (const uid of this.pods.keys()) this.enqueue(uid);
    });
    else this.networkOk = true;
  }

  // ---------------------------------------------------------------- sources

  async start(): Promise<void> {
    await fsp.mkdir(this.opts.rootDir, { recursive: true });
    await fsp.mkdir(this.opts.logDir, { recursive: true });
    this.startLogRotation();
    this.stops.push(
      this.runtime.onEvent((e) => {
        const uid = this.containerToPod.get(e.containerId) ?? (e.sandboxId ? this.containerToPod.get(e.sandboxId) : undefined);
        if (uid) this.enqueue(uid);
        else void this.lookupUnknownContainer(e.containerId);
      }),
    );
    const client = this.opts.client;
    if (client) {
      this.expectedSources.add('api');
      const sel = { fieldSelector: `spec.nodeName=${this.opts.nodeName}` };
      this.stops.push(
        client.listWatch<Pod>('/api/v1/pods', sel, {
          onList: (items) => {
            const seen = new Set<string>();
            for (const p of items) if (!this.isMirror(p)) {
              seen.add(p.metadata.uid!);
              this.setPod(p, 'api');
            }
            for (const [uid, rec] of this.pods) if (rec.source === 'api' && !seen.has(uid)) this.removePod(uid);
            this.markSourceReady('api');
          },
          onEvent: (e) => {
            const p = e.object;
            if (this.isMirror(p)) {
              if (e.type === 'DELETED') this.mirrorDeleted(p);
              return;
            }
            if (e.type === 'DELETED') this.removePod(p.metadata.uid!);
            else this.setPod(p, 'api');
          },
        }, this.log),
      );
      // Service links need every Service; ConfigMaps and Secrets are fetched per pod.
      this.stops.push(
        client.listWatch<Service>('/api/v1/services', {}, {
          onList: (items) => {
            this.services = new Map(items.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
          },
          onEvent: (e) => {
            const k = `${e.object.metadata.namespace}/${e.object.metadata.name}`;
            if (e.type === 'DELETED') this.services.delete(k);
            else this.services.set(k, e.object);
          },
        }, this.log),
      );
    }
    if (this.opts.podManifestPath) {
      this.expectedSources.add('file');
      const scan = async () => {
        const pods = await readManifestDir(this.opts.podManifestPath!, this.opts.nodeName);
        this.replaceSource('file', pods);
        this.markSourceReady('file');
      };
      await scan();
      this.timers.push(setInterval(() => void scan().catch(() => undefined), 5_000));
    }
    if (this.opts.manifestURL) {
      this.expectedSources.add('url');
      const poll = async () => {
        try {
          const res = await fetch(this.opts.manifestURL!, { signal: AbortSignal.timeout(10_000) });
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          const pods = parseManifests(await res.text()).map((p) => staticPod(p, this.opts.nodeName, 'url', this.opts.manifestURL!));
          this.replaceSource('url', pods);
          this.markSourceReady('url');
        } catch (e) {
          this.log.warn({ err: (e as Error).message }, 'manifest URL poll failed');
        }
      };
      await poll();
      this.timers.push(setInterval(() => void poll(), 20_000));
    }
    this.expectedSources.add('http');
    this.markSourceReady('http');
    // Adopt what the runtime already runs: enqueue every pod UID with containers, so a
    // restarted kubelet reports their status at once (and removes orphans once sources are in).
    const sbs = await this.runtime.listPodSandboxes({ labels: { [L_MANAGED]: 'true' } }).catch(() => [] as SandboxStatus[]);
    for (const sb of sbs) this.containerToPod.set(sb.id, sb.uid);
    const resync = this.opts.resyncMs ?? 10_000;
    this.timers.push(
      setInterval(() => {
        for (const uid of this.pods.keys()) this.enqueue(uid);
        void this.housekeeping();
      }, resync),
    );
    this.maybeCleanupOrphans();
  }

  private startLogRotation(): void {
    const cfg = this.opts.containerLogs ?? {
      policy: logRotatePolicy(DEFAULT_CONTAINER_LOG_MAX_SIZE, DEFAULT_CONTAINER_LOG_MAX_FILES, DEFAULT_CONTAINER_LOG_MONITOR_INTERVAL_MS),
      monitorIntervalMs: DEFAULT_CONTAINER_LOG_MONITOR_INTERVAL_MS,
    };
    const m = new ContainerLogManager(this.runtime, cfg.policy, this.log.child({ sub: 'logs' }));
    m.start(cfg.monitorIntervalMs);
    this.stops.push(() => m.stop());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const s of this.stops) s();
    for (const t of this.timers) clearInterval(t);
    for (const w of this.workers.values()) clearTimeout(w.timer);
    this.probes.stopAll();
    await this.events.flush();
  }

  private isMirror(p: Pod): boolean {
    return !!p.metadata.annotations?.[A_CONFIG_MIRROR];
  }

  private markSourceReady(s: SourceName): void {
    if (this.sourcesReady.has(s)) return;
    this.sourcesReady.add(s);
    this.maybeCleanupOrphans();
  }

  private allSourcesReady(): boolean {
    for (const s of this.expectedSources) if (!this.sourcesReady.has(s)) return false;
    return this.expectedSources.size > 0;
  }

  /** Pods in the runtime that no source knows get a sync (which kills and removes them). */
  private maybeCleanupOrphans(): void {
    if (!this.allSourcesReady() || this.stopped) return;
    void this.runtime
      .listPodSandboxes({ labels: { [L_MANAGED]: 'true' } })
      .then((sbs) => {
        for (const sb of sbs) if (!this.pods.has(sb.uid)) this.enqueue(sb.uid);
      })
      .catch(() => undefined);
  }

  setPod(pod: Pod, source: SourceName): void {
    const uid = pod.metadata.uid!;
    const rec = this.pods.get(uid);
    if (rec) {
      rec.pod = pod;
      // Keep our own last status: the apiserver copy may lag behind ours.
    } else {
      this.pods.set(uid, { pod, source, waiting: new Map(), lastStatus: pod.status?.phase ? pod.status : undefined });
    }
    this.enqueue(uid);
  }

  removePod(uid: string): void {
    const rec = this.pods.get(uid);
    if (!rec) return;
    this.gone.set(uid, rec.pod);
    this.pods.delete(uid);
    this.enqueue(uid);
  }

  private replaceSource(source: SourceName, pods: Pod[]): void {
    const want = new Set(pods.map((p) => p.metadata.uid!));
    for (const [uid, rec] of this.pods) if (rec.source === source && !want.has(uid)) this.removePod(uid);
    for (const p of pods) {
      const rec = this.pods.get(p.metadata.uid!);
      if (rec && rec.source === source) continue; // unchanged manifest (same UID)
      this.setPod(p, source);
    }
  }

  /** The authenticated kubelet server endpoint (POST /run) adds pods through here. */
  addHttpPods(manifest: string): Pod[] {
    const pods = parseManifests(manifest).map((p) => staticPod(p, this.opts.nodeName, 'http', 'http'));
    for (const p of pods) this.setPod(p, 'http');
    return pods;
  }

  private async lookupUnknownContainer(id: string): Promise<void> {
    try {
      const st = await this.runtime.containerStatus(id);
      const uid = st.labels[L_POD_UID];
      if (uid && st.labels[L_MANAGED] === 'true') {
        this.containerToPod.set(id, uid);
        this.enqueue(uid);
      }
    } catch {
      /* gone already */
    }
  }

  // ---------------------------------------------------------------- workers

  enqueue(uid: string, delayMs = 0): void {
    if (this.stopped) return;
    let w = this.workers.get(uid);
    if (!w) {
      w = { busy: false, again: false };
      this.workers.set(uid, w);
    }
    if (delayMs > 0) {
      clearTimeout(w.timer);
      w.timer = setTimeout(() => this.enqueue(uid), delayMs);
      return;
    }
    if (w.busy) {
      w.again = true;
      return;
    }
    void this.runWorker(uid, w);
  }

  private async runWorker(uid: string, w: Worker): Promise<void> {
    w.busy = true;
    try {
      do {
        w.again = false;
        const end = this.metrics.syncDuration.startTimer();
        try {
          await this.syncPod(uid);
        } catch (e) {
          this.log.warn({ pod: uid, err: (e as Error).message }, 'sync failed; retrying');
          w.again = false;
          clearTimeout(w.timer);
          w.timer = setTimeout(() => this.enqueue(uid), 1000);
        } finally {
          end();
        }
      } while (w.again && !this.stopped);
    } finally {
      w.busy = false;
      this.updateWorkerGauge();
    }
  }

  private updateWorkerGauge(): void {
    let sync = 0;
    let term = 0;
    for (const r of this.pods.values()) (r.pod.metadata.deletionTimestamp ? term++ : sync++);
    this.metrics.podWorkers.set({ lifecycle: 'sync' }, sync);
    this.metrics.podWorkers.set({ lifecycle: 'terminating' }, term);
  }

  async runtimePodStatus(uid: string): Promise<RuntimePodStatus> {
    const [sbs, cs] = await Promise.all([
      // Only what this kubelet created (the managed label): other users of the same runtime
      // (benchmarks, crictl, another kubelet) may reuse the pod-uid label.
      this.metrics.timed('list_podsandbox', () => this.runtime.listPodSandboxes({ labels: { [L_POD_UID]: uid, [L_MANAGED]: 'true' } })),
      this.metrics.timed('list_containers', () => this.runtime.listContainers({ labels: { [L_POD_UID]: uid, [L_MANAGED]: 'true' } })),
    ]);
    sbs.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.attempt - a.attempt);
    // ListPodSandbox carries no IP (CRI); ask once per sandbox and remember it.
    const newest = sbs[0];
    if (newest && newest.state === 'ready' && !newest.ip) {
      let ip = this.sandboxIPs.get(newest.id);
      if (ip === undefined) {
        const st = await this.runtime.podSandboxStatus(newest.id).catch(() => undefined);
        ip = st?.ip ?? '';
        if (st) this.sandboxIPs.set(newest.id, ip);
      }
      newest.ip = ip;
    }
    cs.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    for (const s of sbs) this.containerToPod.set(s.id, uid);
    for (const c of cs) this.containerToPod.set(c.id, uid);
    // CRI's ListContainers has no exit code, times or log path: complete exited containers
    // (immutable, so cached) and running ones' start time from ContainerStatus.
    await Promise.all(
      cs.map(async (c, i) => {
        if (c.state === 'exited') {
          let full = this.exitedCache.get(c.id);
          if (!full && !c.finishedAt) {
            full = await this.runtime.containerStatus(c.id).catch(() => undefined);
            if (full && full.state === 'exited') this.exitedCache.set(c.id, full);
          }
          if (full) cs[i] = { ...c, ...full, labels: c.labels, annotations: { ...full.annotations, ...c.annotations } };
        } else if (c.state === 'running' && !c.startedAt) {
          let started = this.startedCache.get(c.id);
          if (!started) {
            const full = await this.runtime.containerStatus(c.id).catch(() => undefined);
            started = full?.startedAt;
            if (started) this.startedCache.set(c.id, started);
          }
          if (started) cs[i] = { ...c, startedAt: started };
        }
      }),
    );
    const first = sbs[0] ?? cs[0];
    return {
      uid,
      name: first?.labels[L_POD_NAME] ?? '',
      namespace: first?.labels[L_POD_NAMESPACE] ?? '',
      sandboxes: sbs,
      containers: cs,
    };
  }

  private event(pod: Pod, type: EventType, reason: string, message: string, container?: string, init = false): void {
    // Events of static pods belong to their mirror pod (same namespace/name in the API).
    this.events.record({ namespace: pod.metadata.namespace ?? 'default', involved: podRef(pod, container, init), type, reason, message });
    appendNodeEvent(this.opts.rootDir, { pod: `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name ?? ''}`, uid: pod.metadata.uid, container, type, reason, message });
  }

  // ---------------------------------------------------------------- sync

  async syncPod(uid: string): Promise<void> {
    const rec = this.pods.get(uid);
    const rt = await this.runtimePodStatus(uid);
    if (!rec) {
      await this.cleanupGonePod(uid, rt);
      return;
    }
    const pod = rec.pod;
    if (rec.source !== 'api' && this.opts.client && !rec.mirrorChecked) await this.ensureMirror(rec);
    if (pod.metadata.deletionTimestamp) {
      if (!rec.terminated) await this.terminatePod(rec, rt);
      return;
    }
    // A pod the apiserver already shows as finished is never restarted (upstream: terminal
    // phase is final), even if its containers were garbage-collected.
    const apiPhase = (rec.lastStatus ?? pod.status)?.phase;
    const terminal = apiPhase === 'Succeeded' || apiPhase === 'Failed';
    if (terminal) {
      for (const c of rt.containers) if (c.state === 'running') await this.killContainer(pod, c, pod.spec.terminationGracePeriodSeconds ?? 30, 'Stopping container ' + c.name);
      for (const s of rt.sandboxes) if (s.state === 'ready') await this.metrics.timed('stop_podsandbox', () => this.runtime.stopPodSandbox(s.id));
      this.probes.removePod(uid);
      await this.reportStatus(rec, await this.runtimePodStatus(uid));
      return;
    }

    const actions = computePodActions(pod, rt, { livenessFailed: this.probes.livenessFailed, startupFailed: this.probes.startupFailed });
    let changed = false;
    if (actions.killPod) {
      if (actions.sandboxReason && rt.sandboxes.length && actions.createSandbox) {
        this.event(pod, 'Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.');
      }
      const grace = pod.spec.terminationGracePeriodSeconds ?? 30;
      await Promise.all(rt.containers.filter((c) => c.state === 'running').map((c) => this.killContainer(pod, c, grace, `Stopping container ${c.name}`)));
      for (const s of rt.sandboxes) if (s.state === 'ready') await this.metrics.timed('stop_podsandbox', () => this.runtime.stopPodSandbox(s.id));
      changed = true;
    }

    let sandboxId = actions.sandboxId;
    let podIP = rt.sandboxes[0]?.ip ?? '';
    const imageChecks = new Map<string, Promise<string | undefined>>();
    const needsWork = actions.createSandbox || actions.nextInitContainerToStart || actions.containersToStart.length > 0;
    if (actions.createSandbox) {
      if (!pod.spec.hostNetwork && !this.networkOk) {
        rec.waiting.clear();
        await this.reportStatus(rec, rt);
        return; // networkReady's resolution enqueues every pod again
      }
      const cfg = this.sandboxConfig(pod, actions.attempt);
      // The first container's image check (or pull) needs no sandbox: it runs while the
      // runtime creates one instead of after it (startContainer awaits the same promise).
      const first = actions.nextInitContainerToStart ?? pod.spec.containers[actions.containersToStart[0] ?? -1];
      if (first) {
        const init = !!actions.nextInitContainerToStart;
        const t0 = performance.now();
        const p = this.ensureImage(rec, first, init).finally(() => this.metrics.stageDuration.observe({ stage: 'pull_check' }, (performance.now() - t0) / 1000));
        imageChecks.set(`${init ? 'init' : 'app'}/${first.name}`, p);
      }
      try {
        await fsp.mkdir(cfg.logDirectory, { recursive: true });
        const t0 = performance.now();
        sandboxId = await this.metrics.timed('run_podsandbox', () => this.runtime.runPodSandbox(cfg));
        this.metrics.stageDuration.observe({ stage: 'sandbox' }, (performance.now() - t0) / 1000);
        const st = await this.runtime.podSandboxStatus(sandboxId);
        podIP = st.ip;
        this.sandboxIPs.set(sandboxId, st.ip);
        this.containerToPod.set(sandboxId, uid);
        changed = true;
      } catch (e) {
        await Promise.all(imageChecks.values());
        const msg = `Failed to create pod sandbox: ${(e as Error).message}`;
        this.event(pod, 'Warning', 'FailedCreatePodSandBox', msg);
        const key = `${uid}/sandbox`;
        const wait = this.crashBackoff.next(key);
        this.enqueue(uid, Math.min(wait, 5000));
        await this.reportStatus(rec, rt);
        return;
      }
    }

    for (const k of actions.containersToKill) {
      const cs = rt.containers.find((c) => c.id === k.containerId);
      if (cs) {
        await this.killContainer(pod, cs, pod.spec.terminationGracePeriodSeconds ?? 30, k.message);
        changed = true;
      }
    }

    if (needsWork && sandboxId) {
      const cfg = this.sandboxConfig(pod, actions.createSandbox ? actions.attempt : (rt.sandboxes[0]?.attempt ?? 0));
      const rtNow = actions.createSandbox ? { ...rt, sandboxes: [], containers: rt.containers } : rt;
      if (actions.nextInitContainerToStart) {
        const ok = await this.startContainer(rec, actions.nextInitContainerToStart, 'init', sandboxId, cfg, podIP, rtNow, imageChecks.get(`init/${actions.nextInitContainerToStart.name}`));
        changed ||= ok;
      } else if (actions.containersToStart.length) {
        // App containers start in order, like upstream (postStart hooks run in between).
        for (const idx of actions.containersToStart) {
          const c = pod.spec.containers[idx]!;
          const ok = await this.startContainer(rec, c, 'app', sandboxId, cfg, podIP, rtNow, imageChecks.get(`app/${c.name}`));
          changed ||= ok;
        }
      }
    }

    const after = changed ? await this.runtimePodStatus(uid) : rt;
    const sb = after.sandboxes[0];
    const ip = sb?.state === 'ready' ? sb.ip : '';
    this.probes.update(
      pod,
      pod.spec.hostNetwork ? this.opts.nodeIP : ip,
      pod.spec.containers.flatMap((c) => {
        const cs = findContainerStatus(after, c.name, 'app');
        return cs && cs.state === 'running' ? [{ id: cs.id, container: c, startedAt: cs.startedAt ?? cs.createdAt }] : [];
      }),
    );
    await this.reportStatus(rec, after);
    await this.gcContainers(after);
  }

  sandboxConfig(pod: Pod, attempt: number): PodSandboxConfig {
    const ns = pod.metadata.namespace ?? 'default';
    const name = pod.metadata.name!;
    const uid = pod.metadata.uid!;
    const ports = pod.spec.containers.flatMap((c) =>
      (c.ports ?? []).filter((p) => p.hostPort).map((p) => ({ protocol: p.protocol ?? 'TCP', containerPort: p.containerPort, hostPort: p.hostPort!, hostIp: p.hostIP })),
    );
    const cfg: PodSandboxConfig = {
      name,
      namespace: ns,
      uid,
      attempt,
      hostname: podHostname(pod),
      logDirectory: path.join(this.opts.logDir, `${ns}_${name}_${uid}`),
      labels: sandboxLabels(pod),
      annotations: { ...(pod.metadata.annotations ?? {}) },
      hostNetwork: !!pod.spec.hostNetwork,
      portMappings: ports,
      sharePid: !!pod.spec.shareProcessNamespace,
    };
    const policy = pod.spec.dnsPolicy ?? 'ClusterFirst';
    if (this.opts.clusterDNS?.length && (policy === 'ClusterFirst' || policy === 'ClusterFirstWithHostNet') && (!pod.spec.hostNetwork || policy === 'ClusterFirstWithHostNet')) {
      const domain = this.opts.clusterDomain ?? 'cluster.local';
      cfg.dnsConfig = { servers: this.opts.clusterDNS, searches: [`${ns}.svc.${domain}`, `svc.${domain}`, domain], options: ['ndots:5'] };
    }
    if (pod.spec.dnsConfig) {
      cfg.dnsConfig = {
        servers: [...(cfg.dnsConfig?.servers ?? []), ...(pod.spec.dnsConfig.nameservers ?? [])],
        searches: [...(cfg.dnsConfig?.searches ?? []), ...(pod.spec.dnsConfig.searches ?? [])],
        options: [...(cfg.dnsConfig?.options ?? []), ...(pod.spec.dnsConfig.options ?? []).map((o) => (o.value ? `${o.name}:${o.value}` : o.name))],
      };
    }
    return cfg;
  }

  private backoffKey(pod: Pod, c: Container, type: string): string {
    return `${pod.metadata.uid}/${type}/${c.name}`;
  }

  /** Returns true when the container was started. */
  private async startContainer(
    rec: PodRecord,
    c: Container,
    type: 'init' | 'app',
    sandboxId: string,
    sandbox: PodSandboxConfig,
    podIP: string,
    rt: RuntimePodStatus,
    /** ensureImage already started for this container (overlapping the sandbox's creation). */
    imageCheck?: Promise<string | undefined>,
  ): Promise<boolean> {
    const pod = rec.pod;
    const init = type === 'init';
    const prev = findContainerStatus(rt, c.name, type);
    if (prev && prev.state === 'exited') {
      const key = this.backoffKey(pod, c, type);
      const finished = (prev.finishedAt ?? prev.createdAt).getTime();
      if (this.crashBackoff.isInBackOffSince(key, finished)) {
        const secs = Math.round(this.crashBackoff.get(key) / 1000);
        rec.waiting.set(c.name, {
          reason: 'CrashLoopBackOff',
          message: `back-off ${secs >= 60 ? `${Math.floor(secs / 60)}m${secs % 60 ? `${secs % 60}s` : ''}` : `${secs}s`} restarting failed container=${c.name} pod=${podFullName(pod)}(${pod.metadata.uid})`,
        });
        this.event(pod, 'Warning', 'BackOff', `Back-off restarting failed container ${c.name} in pod ${podFullName(pod)}(${pod.metadata.uid})`, c.name, init);
        this.enqueue(pod.metadata.uid!, this.crashBackoff.remaining(key, finished) + 20);
        return false;
      }
      this.crashBackoff.next(key);
    }

    let imageRef: string | undefined;
    if (imageCheck) imageRef = await imageCheck;
    else {
      const t0 = performance.now();
      imageRef = await this.ensureImage(rec, c, init);
      this.metrics.stageDuration.observe({ stage: 'pull_check' }, (performance.now() - t0) / 1000);
    }
    if (!imageRef) return false;

    const restartCount = prev ? attemptOf(prev) + 1 : 0;
    let config: ContainerConfig;
    try {
      const refs = await this.fetchRefs(pod);
      const hostIP = this.opts.nodeIP;
      const ip = pod.spec.hostNetwork ? hostIP : podIP;
      const env = buildEnv(pod, c, {
        podIP: ip,
        podIPs: ip ? [ip] : [],
        hostIP,
        nodeName: this.opts.nodeName,
        services: [...this.services.values()],
        refs: { configMap: (ns, n) => refs.configMaps.get(`${ns}/${n}`), secret: (ns, n) => refs.secrets.get(`${ns}/${n}`) },
      });
      await this.volumes.setup(pod, {
        configMap: (ns, n) => refs.configMaps.get(`${ns}/${n}`),
        secret: (ns, n) => {
          const s = refs.secrets.get(`${ns}/${n}`);
          return s ? Object.fromEntries(Object.entries(s).map(([k, v]) => [k, Buffer.from(v)])) : undefined;
        },
        podIP: ip,
        podIPs: ip ? [ip] : [],
        hostIP,
        nodeName: this.opts.nodeName,
      });
      const mounts = await this.volumes.mountsFor(pod, c, env);
      const hosts = ip ? await etcHostsMount(this.volumes.podDir(pod.metadata.uid!), pod, c, ip, this.opts.clusterDomain ?? 'cluster.local') : undefined;
      if (hosts) mounts.push(hosts);
      const sc = c.securityContext ?? {};
      const psc = pod.spec.securityContext ?? {};
      config = {
        name: c.name,
        attempt: restartCount,
        image: imageRef,
        command: expandCommand(c.command, env),
        args: expandCommand(c.args, env),
        workingDir: c.workingDir,
        env,
        mounts,
        labels: containerLabels(pod, c),
        annotations: containerAnnotations(pod, c, restartCount, type),
        logPath: `${c.name}/${restartCount}.log`,
        stdin: !!c.stdin,
        stdinOnce: !!c.stdinOnce,
        tty: !!c.tty,
        resources: containerResources(c),
        security: {
          runAsUser: sc.runAsUser ?? psc.runAsUser,
          runAsGroup: sc.runAsGroup ?? psc.runAsGroup,
          privileged: sc.privileged,
          capAdd: sc.capabilities?.add,
          capDrop: sc.capabilities?.drop,
          readOnlyRootfs: sc.readOnlyRootFilesystem,
        },
      };
    } catch (e) {
      const reason = e instanceof VolumeError ? 'FailedMount' : 'CreateContainerConfigError';
      const msg = (e as Error).message;
      // The user sees upstream's terse message; the host paths behind it go to our log only.
      if (e instanceof SubPathError) this.log.warn({ pod: podFullName(pod), container: c.name, err: e.detail }, msg);
      if (e instanceof VolumeError) {
        this.event(pod, 'Warning', 'FailedMount', msg);
        rec.waiting.set(c.name, { reason: 'ContainerCreating', message: '' });
      } else {
        this.event(pod, 'Warning', 'Failed', `Error: ${msg}`, c.name, init);
        rec.waiting.set(c.name, { reason, message: msg });
      }
      this.enqueue(pod.metadata.uid!, 2000);
      return false;
    }

    let id: string;
    try {
      const t1 = performance.now();
      id = await this.metrics.timed('create_container', () => this.runtime.createContainer(sandboxId, config, sandbox));
      this.metrics.stageDuration.observe({ stage: 'create' }, (performance.now() - t1) / 1000);
      this.containerToPod.set(id, pod.metadata.uid!);
      this.event(pod, 'Normal', 'Created', `Created container ${c.name}`, c.name, init);
    } catch (e) {
      const msg = (e as Error).message;
      rec.waiting.set(c.name, { reason: 'CreateContainerError', message: msg });
      this.event(pod, 'Warning', 'Failed', `Error: ${msg}`, c.name, init);
      this.enqueue(pod.metadata.uid!, 2000);
      return false;
    }
    try {
      const t2 = performance.now();
      await this.metrics.timed('start_container', () => this.runtime.startContainer(id));
      this.metrics.stageDuration.observe({ stage: 'start' }, (performance.now() - t2) / 1000);
      this.event(pod, 'Normal', 'Started', `Started container ${c.name}`, c.name, init);
    } catch (e) {
      const msg = (e as Error).message;
      rec.waiting.delete(c.name);
      this.event(pod, 'Warning', 'Failed', `Error: ${msg}`, c.name, init);
      return true; // it exists (exited/created): status shows it, backoff applies next time
    }
    rec.waiting.delete(c.name);

    if (c.lifecycle?.postStart) {
      const res = await runHandler(c.lifecycle.postStart, { runtime: this.runtime, containerId: id, container: c, podIP, timeoutSeconds: 30 });
      if (!res.ok) {
        const msg = `PostStartHookError: ${res.output}`;
        this.event(pod, 'Warning', 'FailedPostStartHook', msg, c.name, init);
        const cs = await this.runtime.containerStatus(id).catch(() => undefined);
        if (cs) await this.killContainer(pod, cs, pod.spec.terminationGracePeriodSeconds ?? 30, `FailedPostStartHook`);
      }
    }
    return true;
  }

  private async ensureImage(rec: PodRecord, c: Container, init: boolean): Promise<string | undefined> {
    const pod = rec.pod;
    const image = c.image;
    const policy = c.imagePullPolicy ?? (!/:[^/]+$/.test(image) || image.endsWith(':latest') ? 'Always' : 'IfNotPresent');
    const present = await this.metrics.timed('image_status', () => this.runtime.imageStatus(image)).catch(() => null);
    if (policy === 'Never') {
      if (present) return present.id;
      const msg = `Container image "${image}" is not present with pull policy of Never`;
      rec.waiting.set(c.name, { reason: 'ErrImageNeverPull', message: msg });
      this.event(pod, 'Warning', 'ErrImageNeverPull', msg, c.name, init);
      return undefined;
    }
    if (present && policy === 'IfNotPresent') {
      this.event(pod, 'Normal', 'Pulled', `Container image "${image}" already present on machine`, c.name, init);
      return present.id;
    }
    const key = `${pod.metadata.uid}/${c.name}/pull`;
    if (this.pullBackoff.isInBackOffSince(key, Date.now() - 0) && this.pullBackoff.remaining(key, this.lastPullFailure.get(key) ?? 0) > 0) {
      rec.waiting.set(c.name, { reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"` });
      this.event(pod, 'Normal', 'BackOff', `Back-off pulling image "${image}"`, c.name, init);
      this.event(pod, 'Warning', 'Failed', 'Error: ImagePullBackOff', c.name, init);
      this.enqueue(pod.metadata.uid!, this.pullBackoff.remaining(key, this.lastPullFailure.get(key) ?? 0) + 20);
      return undefined;
    }
    this.event(pod, 'Normal', 'Pulling', `Pulling image "${image}"`, c.name, init);
    const t0 = Date.now();
    try {
      let p = this.pulls.get(image);
      if (!p) {
        p = this.metrics.timed('pull_image', () => this.runtime.pullImage(image)).finally(() => this.pulls.delete(image));
        this.pulls.set(image, p);
      }
      const ref = await p;
      const secs = ((Date.now() - t0) / 1000).toFixed(3);
      const info = await this.runtime.imageStatus(image).catch(() => null);
      this.event(pod, 'Normal', 'Pulled', `Successfully pulled image "${image}" in ${secs}s (${secs}s including waiting). Image size: ${info?.size ?? 0} bytes.`, c.name, init);
      this.pullBackoff.reset(key);
      this.lastPullFailure.delete(key);
      return ref;
    } catch (e) {
      const msg = (e as Error).message;
      const wait = this.pullBackoff.next(key);
      this.lastPullFailure.set(key, Date.now());
      rec.waiting.set(c.name, { reason: 'ErrImagePull', message: msg });
      this.event(pod, 'Warning', 'Failed', `Failed to pull image "${image}": ${msg}`, c.name, init);
      this.event(pod, 'Warning', 'Failed', 'Error: ErrImagePull', c.name, init);
      this.enqueue(pod.metadata.uid!, wait + 20);
      return undefined;
    }
  }
  private lastPullFailure = new Map<string, number>();

  /** ConfigMaps and Secrets the pod references, fetched fresh for a container start. */
  private async fetchRefs(pod: Pod): Promise<{ configMaps: Map<string, Record<string, string>>; secrets: Map<string, Record<string, string>> }> {
    const ns = pod.metadata.namespace ?? 'default';
    const cms = new Set<string>();
    const secs = new Set<string>();
    for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
      for (const e of c.env ?? []) {
        if (e.valueFrom?.configMapKeyRef) cms.add(e.valueFrom.configMapKeyRef.name);
        if (e.valueFrom?.secretKeyRef) secs.add(e.valueFrom.secretKeyRef.name);
      }
      for (const f of c.envFrom ?? []) {
        if (f.configMapRef) cms.add(f.configMapRef.name);
        if (f.secretRef) secs.add(f.secretRef.name);
      }
    }
    for (const v of pod.spec.volumes ?? []) {
      if (v.configMap) cms.add(v.configMap.name);
      if (v.secret) secs.add(v.secret.secretName);
    }
    const configMaps = new Map<string, Record<string, string>>();
    const secrets = new Map<string, Record<string, string>>();
    const client = this.opts.client;
    if (!client) return { configMaps, secrets };
    await Promise.all([
      ...[...cms].map(async (n) => {
        try {
          const cm = await client.get<ConfigMap>(`/api/v1/namespaces/${ns}/configmaps/${n}`);
          const data: Record<string, string> = { ...(cm.data ?? {}) };
          for (const [k, v] of Object.entries(cm.binaryData ?? {})) data[k] = Buffer.from(v, 'base64').toString('latin1');
          configMaps.set(`${ns}/${n}`, data);
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 404)) throw e;
        }
      }),
      ...[...secs].map(async (n) => {
        try {
          const s = await client.get<Secret>(`/api/v1/namespaces/${ns}/secrets/${n}`);
          const data: Record<string, string> = {};
          for (const [k, v] of Object.entries(s.data ?? {})) data[k] = Buffer.from(v, 'base64').toString();
          for (const [k, v] of Object.entries(s.stringData ?? {})) data[k] = v;
          secrets.set(`${ns}/${n}`, data);
        } catch (e) {
          if (!(e instanceof ApiError && e.code === 404)) throw e;
        }
      }),
    ]);
    return { configMaps, secrets };
  }

  /** preStop hook (within the grace period), then SIGTERM and SIGKILL after what's left. */
  private async killContainer(pod: Pod | undefined, cs: ContainerStatus, graceSeconds: number, message: string): Promise<void> {
    const name = cs.name;
    const spec = pod ? [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find((c) => c.name === name) : undefined;
    if (pod) this.event(pod, 'Normal', 'Killing', message, name, (cs.annotations[A_CONTAINER_TYPE] ?? 'app') === 'init');
    const start = Date.now();
    let preStop: Handler | undefined = spec?.lifecycle?.preStop;
    if (!preStop && cs.annotations[A_PRESTOP]) {
      try {
        preStop = JSON.parse(cs.annotations[A_PRESTOP]) as Handler;
      } catch {
        /* ignore */
      }
    }
    if (preStop && cs.state === 'running' && graceSeconds > 0) {
      const ip = (await this.runtime.podSandboxStatus(cs.podSandboxId).catch(() => undefined))?.ip ?? '';
      await Promise.race([
        runHandler(preStop, { runtime: this.runtime, containerId: cs.id, container: spec ?? { name, image: cs.image }, podIP: ip, timeoutSeconds: graceSeconds }).then((r) => {
          if (!r.ok && pod) this.event(pod, 'Warning', 'FailedPreStopHook', `PreStopHook failed: ${r.output}`, name);
        }),
        new Promise((r) => setTimeout(r, graceSeconds * 1000)),
      ]);
    }
    // Upstream gives at least 2 s after the hook.
    const left = Math.max(graceSeconds === 0 ? 0 : 2, Math.ceil(graceSeconds - (Date.now() - start) / 1000));
    this.probes.livenessFailed.delete(cs.id);
    this.probes.startupFailed.delete(cs.id);
    await this.metrics.timed('stop_container', () => this.runtime.stopContainer(cs.id, left)).catch((e) => {
      this.log.warn({ id: cs.id, err: (e as Error).message }, 'stop container failed');
    });
  }

  private async terminatePod(rec: PodRecord, rt: RuntimePodStatus): Promise<void> {
    const pod = rec.pod;
    const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
    this.probes.removePod(pod.metadata.uid!);
    await Promise.all(rt.containers.filter((c) => c.state === 'running').map((c) => this.killContainer(pod, c, grace, `Stopping container ${c.name}`)));
    for (const s of rt.sandboxes) if (s.state === 'ready') await this.metrics.timed('stop_podsandbox', () => this.runtime.stopPodSandbox(s.id)).catch(() => undefined);
    const after = await this.runtimePodStatus(pod.metadata.uid!);
    await this.reportStatus(rec, after);
    rec.terminated = true;
    if (rec.source === 'api' && this.opts.client) {
      // Finishing the deletion is the kubelet's job: grace 0 with a UID precondition.
      try {
        await this.opts.client.request('DELETE', `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`, {
          kind: 'DeleteOptions',
          apiVersion: 'v1',
          gracePeriodSeconds: 0,
          preconditions: { uid: pod.metadata.uid },
        });
      } catch (e) {
        if (!(e instanceof ApiError && (e.code === 404 || e.code === 409))) {
          rec.terminated = false;
          throw e;
        }
      }
    }
  }

  private async cleanupGonePod(uid: string, rt: RuntimePodStatus): Promise<void> {
    if (!this.allSourcesReady() && !this.gone.has(uid)) return; // might still be announced
    const last = this.gone.get(uid);
    const grace = last?.metadata.deletionGracePeriodSeconds ?? last?.spec.terminationGracePeriodSeconds;
    this.probes.removePod(uid);
    await Promise.all(
      rt.containers
        .filter((c) => c.state === 'running')
        .map((c) => this.killContainer(last, c, grace ?? Number(c.annotations[A_TERMINATION_GRACE] ?? 30), `Stopping container ${c.name}`)),
    );
    for (const c of rt.containers) await this.metrics.timed('remove_container', () => this.runtime.removeContainer(c.id)).catch(() => undefined);
    for (const s of rt.sandboxes) {
      await this.runtime.stopPodSandbox(s.id).catch(() => undefined);
      await this.metrics.timed('remove_podsandbox', () => this.runtime.removePodSandbox(s.id)).catch(() => undefined);
    }
    await this.volumes.teardown(uid).catch((e: Error) => this.log.warn({ uid, err: e.message }, 'pod volumes not torn down'));
    // The pod's log directory goes with it (upstream's evictPodLogsDirectories).
    for (const s of rt.sandboxes) await fsp.rm(path.join(this.opts.logDir, `${s.namespace}_${s.name}_${s.uid}`), { recursive: true, force: true });
    for (const c of rt.containers) this.forgetContainer(c.id);
    for (const s of rt.sandboxes) {
      this.containerToPod.delete(s.id);
      this.sandboxIPs.delete(s.id);
    }
    this.crashBackoff.resetPrefix(uid + '/');
    this.gone.delete(uid);
    const w = this.workers.get(uid);
    if (w) clearTimeout(w.timer);
    this.workers.delete(uid);
  }

  /** Keep the newest two containers per name (current + one previous for `logs --previous`). */
  private async gcContainers(rt: RuntimePodStatus): Promise<void> {
    const byName = new Map<string, ContainerStatus[]>();
    for (const c of rt.containers) {
      const k = `${c.annotations[A_CONTAINER_TYPE] ?? 'app'}/${c.name}`;
      byName.set(k, [...(byName.get(k) ?? []), c]);
    }
    for (const list of byName.values()) {
      list.sort((a, b) => attemptOf(b) - attemptOf(a));
      for (const c of list.slice(2)) {
        if (c.state === 'running') continue;
        await this.metrics.timed('remove_container', () => this.runtime.removeContainer(c.id)).catch(() => undefined);
        await removeContainerLogs(c.logPath);
        this.forgetContainer(c.id);
      }
    }
    // Old sandboxes of a pod whose newest sandbox is ready.
    for (const s of rt.sandboxes.slice(1)) {
      if (rt.containers.some((c) => c.podSandboxId === s.id)) continue;
      await this.runtime.stopPodSandbox(s.id).catch(() => undefined);
      await this.runtime.removePodSandbox(s.id).catch(() => undefined);
    }
  }

  private forgetContainer(id: string): void {
    this.containerToPod.delete(id);
    this.exitedCache.delete(id);
    this.startedCache.delete(id);
  }

  private async housekeeping(): Promise<void> {
    this.crashBackoff.gc();
    this.pullBackoff.gc();
    // Volume dirs of pods neither configured nor in the runtime.
    for (const uid of await this.volumes.podsOnDisk()) {
      if (this.pods.has(uid) || this.workers.has(uid)) continue;
      if (!this.allSourcesReady()) continue;
      await this.volumes.teardown(uid).catch((e: Error) => this.log.warn({ uid, err: e.message }, 'pod volumes not torn down'));
    }
    this.maybeCleanupOrphans();
  }

  // ---------------------------------------------------------------- status

  private async reportStatus(rec: PodRecord, rt: RuntimePodStatus): Promise<void> {
    const t0 = performance.now();
    const status = computePodStatus(rec.pod, rt, {
      runtimeName: this.runtime.name,
      hostIP: this.opts.nodeIP,
      waiting: rec.waiting,
      ready: this.probes.readiness,
      started: this.probes.started,
      now: new Date(),
    });
    if (statusEqual(rec.lastStatus, status)) return;
    // Keep transition times stable against our own last report.
    rec.lastStatus = status;
    if (!rec.startRecorded && status.phase === 'Running' && rec.pod.metadata.creationTimestamp && (status.containerStatuses ?? []).every((c) => c.state.running)) {
      rec.startRecorded = true;
      const created = Date.parse(rec.pod.metadata.creationTimestamp);
      // creationTimestamp has second precision; the histogram is upstream-compatible anyway.
      this.metrics.podStartDuration.observe(Math.max(0, (Date.now() - created) / 1000));
    }
    rec.pod = { ...rec.pod, status };
    const client = this.opts.client;
    if (!client) return;
    const ns = rec.pod.metadata.namespace ?? 'default';
    const name = rec.pod.metadata.name!;
    try {
      await client.request('PATCH', `/api/v1/namespaces/${ns}/pods/${name}/status`, { status }, 'application/merge-patch+json');
    } catch (e) {
      if (e instanceof ApiError && e.code === 404) return; // deleted meanwhile
      if (e instanceof ApiError && (e.code === 415 || e.code === 405 || e.code === 400)) {
        const cur = await client.get<Pod>(`/api/v1/namespaces/${ns}/pods/${name}`);
        await client.request('PUT', `/api/v1/namespaces/${ns}/pods/${name}/status`, { ...cur, status });
      } else {
        rec.lastStatus = undefined; // resend on the next sync
        throw e;
      }
    } finally {
      this.metrics.stageDuration.observe({ stage: 'status_report' }, (performance.now() - t0) / 1000);
    }
  }

  // ---------------------------------------------------------------- static pods' mirrors

  private async ensureMirror(rec: PodRecord): Promise<void> {
    const client = this.opts.client!;
    const pod = rec.pod;
    const ns = pod.metadata.namespace ?? 'default';
    const hash = pod.metadata.annotations?.[A_CONFIG_HASH] ?? pod.metadata.uid!;
    try {
      const cur = await client.get<Pod>(`/api/v1/namespaces/${ns}/pods/${pod.metadata.name}`).catch((e) => {
        if (e instanceof ApiError && e.code === 404) return undefined;
        throw e;
      });
      if (cur && cur.metadata.annotations?.[A_CONFIG_MIRROR] === hash && !cur.metadata.deletionTimestamp) {
        rec.mirrorChecked = true;
        return;
      }
      if (cur) {
        await client.request('DELETE', `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}`, { gracePeriodSeconds: 0 }).catch(() => undefined);
      }
      const mirror = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: pod.metadata.name,
          namespace: ns,
          labels: pod.metadata.labels,
          annotations: { ...(pod.metadata.annotations ?? {}), [A_CONFIG_MIRROR]: hash },
          ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: this.opts.nodeName, uid: this.nodeUid ?? '', controller: true }].filter((o) => o.uid),
        },
        spec: pod.spec,
      };
      await client.request('POST', `/api/v1/namespaces/${ns}/pods`, mirror);
      rec.mirrorChecked = true;
      rec.lastStatus = undefined; // the new mirror needs a status
    } catch (e) {
      this.log.warn({ pod: pod.metadata.name, err: (e as Error).message }, 'mirror pod not created');
    }
  }

  nodeUid?: string;

  private mirrorDeleted(p: Pod): void {
    for (const rec of this.pods.values()) {
      if (rec.source !== 'api' && rec.pod.metadata.name === p.metadata.name && rec.pod.metadata.namespace === p.metadata.namespace) {
        rec.mirrorChecked = false;
        this.enqueue(rec.pod.metadata.uid!, 500);
      }
    }
  }

  // ---------------------------------------------------------------- lookups for the server

  listPods(): Pod[] {
    return [...this.pods.values()].map((r) => r.pod);
  }

  findPod(namespace: string, name: string): Pod | undefined {
    for (const r of this.pods.values()) if (r.pod.metadata.namespace === namespace && r.pod.metadata.name === name) return r.pod;
    return undefined;
  }

  /**
   * The runtime container for logs/exec/attach. `previous` picks the last terminated one
   * (the one shown in lastState), as `kubectl logs --previous` expects.
   */
  async findContainer(namespace: string, podName: string, container: string | undefined, previous = false): Promise<{ pod: Pod; status?: ContainerStatus; containerName: string; error?: string }> {
    const pod = this.findPod(namespace, podName);
    if (!pod) return { pod: undefined as unknown as Pod, containerName: container ?? '', error: `pod "${podName}" not found` };
    const name = container ?? pod.spec.containers[0]!.name;
    const rt = await this.runtimePodStatus(pod.metadata.uid!);
    const mine = rt.containers.filter((c) => c.name === name).sort((a, b) => attemptOf(b) - attemptOf(a) || b.createdAt.getTime() - a.createdAt.getTime());
    if (mine.length === 0) return { pod, containerName: name, error: `container "${name}" in pod "${podName}" is waiting to start: ContainerCreating` };
    // List results may lack the log path (CRI ListContainers has none): ask for the full status.
    const full = async (c: ContainerStatus) => (c.logPath ? c : await this.runtime.containerStatus(c.id).catch(() => c));
    if (!previous) return { pod, status: await full(mine[0]!), containerName: name };
    const waiting = this.pods.get(pod.metadata.uid!)?.waiting.get(name);
    const prevC = mine[0]!.state === 'exited' && waiting ? mine[0] : mine[1];
    if (!prevC) return { pod, containerName: name, error: `previous terminated container "${name}" in pod "${podName}" not found` };
    return { pod, status: await full(prevC), containerName: name };
  }

  async sandboxFor(pod: Pod): Promise<SandboxStatus | undefined> {
    const rt = await this.runtimePodStatus(pod.metadata.uid!);
    return rt.sandboxes.find((s) => s.state === 'ready');
  }

  debugState(): { pods: number; workers: number; probes: number } {
    return { pods: this.pods.size, workers: this.workers.size, probes: this.probes.workerCount };
  }
}

export { EnvError };
