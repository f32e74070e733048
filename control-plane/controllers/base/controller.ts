// The shape every controller shares: informer handlers compute a key and enqueue it;
// workers call sync(key), which reads the informer caches, makes one step towards the
// desired state, and throws to be retried with backoff.
import type { Logger } from 'pino';
import { logger } from '../../../api/log.js';
import { type Client, errorMessage, type EventRecorder, ExponentialBackoff, type InformerFactory, runWorkers, WorkQueue } from '../../../client/index.js';

export interface ControllerContext {
  /** the controller's own identity: its service account in kube-system */
  client: Client;
  informers: InformerFactory;
  /** the event recorder of one source (replicaset-controller ...), on `client` */
  recorder(component: string): EventRecorder;
  /** the controller manager's identity, the shared informers': reads its role holds (list, watch) */
  rootClient: Client;
  /** the client of another controller's service account (one k8ts controller doing two upstream controllers' work) */
  clientAs(serviceAccount: string): Client;
}

export abstract class Controller {
  readonly queue: WorkQueue;
  protected readonly log: Logger;
  private running?: Promise<void>;

  constructor(
    readonly name: string,
    protected readonly ctx: ControllerContext,
    protected readonly workers = 2,
  ) {
    this.queue = new WorkQueue(new ExponentialBackoff(5, 60_000));
    this.log = logger(name);
  }

  /** Subscribe to informers. Called before informers start. */
  abstract register(): void;
  abstract sync(key: string): Promise<void>;

  enqueue(key: string | undefined): void {
    if (key) this.queue.add(key);
  }

  run(): void {
    this.running = runWorkers(this.queue, this.workers, (k) => this.sync(k), (key, err) => {
      this.log.warn({ key, err: errorMessage(err) }, 'sync failed; retrying');
    });
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    await this.running;
  }
}

/**
 * ControllerExpectations: after a controller creates or deletes N pods for a key it waits
 * until the informer has shown it those N events before computing another diff, so a
 * stale cache can't make it create (or delete) the same pods twice. Expectations expire
 * after a while in case an event was missed.
 */
export class Expectations {
  private m = new Map<string, { add: number; del: number; at: number }>();
  constructor(private readonly ttlMs = 5 * 60_000) {}

  satisfied(key: string): boolean {
    const e = this.m.get(key);
    if (!e) return true;
    if (e.add <= 0 && e.del <= 0) return true;
    return Date.now() - e.at > this.ttlMs;
  }

  expect(key: string, add: number, del: number): void {
    this.m.set(key, { add, del, at: Date.now() });
  }

  creationObserved(key: string): void {
    const e = this.m.get(key);
    if (e) e.add--;
  }

  deletionObserved(key: string): void {
    const e = this.m.get(key);
    if (e) e.del--;
  }

  /** lowers what we wait for when a create/delete request failed */
  lower(key: string, add: number, del: number): void {
    const e = this.m.get(key);
    if (e) {
      e.add -= add;
      e.del -= del;
    }
  }

  delete(key: string): void {
    this.m.delete(key);
  }
}
