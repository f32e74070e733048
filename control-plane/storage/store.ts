// The Store contract the apiserver relies on (etcd's): one cluster-wide revision that grows
// with every write; every object's metadata.resourceVersion is its modRevision.
// Values are opaque strings (the apiserver stores JSON without resourceVersion); values
// starting with `k8s:enc:` are bytes carried as latin1 (keys.ts ENCRYPTED_PREFIX).

export interface KeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  /**
   * Set by the encryption layer when the value was read with a provider or key other than
   * the one that writes (or unencrypted): an update must then write even when nothing
   * changed, which is how rewriting an object re-encrypts it (upstream's stale flag).
   */
  stale?: boolean;
}

export interface WatchEvent {
  type: 'PUT' | 'DELETE';
  kv: KeyValue; // for DELETE: the deleted value, with modRevision = the delete's revision
  prevKv?: KeyValue;
}

export interface ListResult {
  items: KeyValue[];
  revision: number; // the store revision the list was read at
  more: boolean; // true when limit cut the list; continue from the last key
}

export interface ListOptions {
  revision?: number; // read at this revision (may throw Compacted)
  limit?: number;
  startAfter?: string; // exclusive: for limit/continue paging
}

export interface Watcher {
  stop(): void;
}

export type StoreErrorCode = 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Compacted' | 'Unavailable';

/**
 * The only errors the backends throw for expected conditions (anything else is a bug or a
 * bad argument, e.g. a list at a future revision). Map to HTTP: NotFound 404,
 * AlreadyExists 409, Conflict 409, Compacted 410 Gone ("Expired"), Unavailable 503/500.
 */
export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    /** The store's revision when the error was decided, where the backend knows it. */
    readonly currentRevision?: number,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

export interface Store {
  get(key: string): Promise<KeyValue | null>;
  /**
   * All keys with this prefix, ordered by key (bytewise). Prefixes are plain string
   * prefixes: list('/registry/pods') also matches '/registry/podsx/…', so pass the trailing
   * '/'. opts.revision undefined or <= 0 means now; below compactedRevision() it throws
   * Compacted; above the current revision it throws a plain Error.
   */
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  count(prefix: string): Promise<number>;
  /** Fails with AlreadyExists. */
  create(key: string, value: string): Promise<KeyValue>;
  /** Fails with NotFound, or Conflict when expectedModRevision is given and differs. */
  update(key: string, value: string, expectedModRevision?: number): Promise<KeyValue>;
  /**
   * Fails with NotFound, or Conflict when expectedModRevision is given and differs.
   * Returns the deleted value with modRevision = the delete's revision (as the DELETE event).
   */
  delete(key: string, expectedModRevision?: number): Promise<KeyValue>;
  /**
   * Events for keys under prefix with modRevision > fromRevision, in revision order, no
   * gap, no duplicate. Throws StoreError('Compacted') when fromRevision is older than the
   * compacted revision. onError is called if the watch breaks (e.g. etcd unavailable).
   *
   * Backend notes (both pass test/store-suite.ts): onEvent is always called
   * asynchronously, never inside the write that caused it. SqliteStore throws Compacted
   * synchronously from watch(); EtcdStore can only learn it from etcd, so it calls
   * onError(StoreError('Compacted')) instead; callers must handle both. fromRevision >=
   * compactedRevision() always works; etcd also accepts compactedRevision() - 1. After
   * onError the watch is over (no further events); a stopped watch never calls onError.
   */
  watch(prefix: string, fromRevision: number, onEvent: (e: WatchEvent) => void, onError?: (err: Error) => void): Watcher;
  currentRevision(): Promise<number>;
  /**
   * Drop history at or before revision: later watches/lists from there throw Compacted.
   * The state at `revision` itself stays readable. Compacting to a revision at or below
   * the compacted one is a no-op; above the current revision it throws.
   */
  compact(revision: number): Promise<void>;
  compactedRevision(): Promise<number>;
  close(): Promise<void>;
}
