// WAL checkpoints off the event loop. In WAL mode a commit appends to state.db-wal; a
// checkpoint copies those pages back into state.db and fsyncs both files. Run by SQLite's
// auto-checkpoint inside a commit, it blocked the event loop (and every request and watch
// with it) for 30-320 ms each time, measured on this machine's disk. Here a worker
// thread with its own connection runs PASSIVE checkpoints, which never block the writer, so
// the copying and most fsyncs happen off the event loop (sqlite.ts says what is left to it).
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

/** How often the worker checkpoints (it is a no-op when nothing new is in the WAL). */
const PERIOD_MS = 100;

// CommonJS, evaluated in the worker.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path, { timeout: 1000 });
db.pragma('synchronous = NORMAL');
db.pragma('wal_autocheckpoint = 0');
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
}, workerData.periodMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export class Checkpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(path: string, onError: (msg: string) => void) {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER, { eval: true, workerData: { path, module, periodMs: PERIOD_MS } });
    this.worker.on('message', (m: { error?: string }) => m.error && onError(m.error));
    this.worker.on('error', (err) => onError(err.message));
    this.worker.unref();
    this.exited = new Promise((r) => this.worker.once('exit', () => r()));
  }

  async stop(): Promise<void> {
    this.worker.postMessage('stop');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
    await this.worker.terminate();
  }
}
