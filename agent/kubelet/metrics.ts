// Prometheus metrics with upstream kubelet names where they exist.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class KubeletMetrics {
  readonly registry = new Registry();
  readonly podStartDuration = new Histogram({
    name: 'kubelet_pod_start_duration_seconds',
    help: 'Duration in seconds from the pod creation timestamp until the kubelet saw it running',
    buckets: [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20, 60],
    registers: [this.registry],
  });
  readonly runtimeOpDuration = new Histogram({
    name: 'kubelet_runtime_operations_duration_seconds',
    help: 'Duration in seconds of runtime operations, by operation type',
    labelNames: ['operation_type'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly runtimeOps = new Counter({
    name: 'kubelet_runtime_operations_total',
    help: 'Cumulative number of runtime operations by operation type',
    labelNames: ['operation_type'],
    registers: [this.registry],
  });
  readonly runtimeOpErrors = new Counter({
    name: 'kubelet_runtime_operations_errors_total',
    help: 'Cumulative number of runtime operation errors by operation type',
    labelNames: ['operation_type'],
    registers: [this.registry],
  });
  readonly podWorkers = new Gauge({
    name: 'kubelet_working_pods',
    help: 'Number of pods the kubelet is actually running, broken down by lifecycle phase',
    labelNames: ['lifecycle'],
    registers: [this.registry],
  });
  readonly syncDuration = new Histogram({
    name: 'kubelet_pod_worker_duration_seconds',
    help: 'Duration in seconds to sync a single pod',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  /** Per-stage time of pod start (sandbox, pull, create, start, status) for bench/podstart. */
  readonly stageDuration = new Histogram({
    name: 'k8ts_kubelet_pod_start_stage_seconds',
    help: 'Time spent per pod start stage',
    labelNames: ['stage'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  /** Time a runtime call and count it (and its errors) by operation name. */
  async timed<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const end = this.runtimeOpDuration.startTimer({ operation_type: op });
    this.runtimeOps.inc({ operation_type: op });
    try {
      return await fn();
    } catch (e) {
      this.runtimeOpErrors.inc({ operation_type: op });
      throw e;
    } finally {
      end();
    }
  }
}
