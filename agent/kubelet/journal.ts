// A small append-only journal of the kubelet's events on the node itself (JSON lines), so
// `k8ts node events` can say what the kubelet did lately even when the apiserver is down
// and the Event objects never got written. One file plus one rotated generation: bounded
// disk use, and the newest history survives a rotation.
import { appendFileSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const JOURNAL_FILE = 'node-events.jsonl';
export const DEFAULT_JOURNAL_MAX_BYTES = 4 * 1024 * 1024;

/** One stored line. */
export interface NodeEvent {
  /** ISO 8601 time the event was recorded */
  time: string;
  type: string; // Normal | Warning
  reason: string;
  message: string;
  /** "namespace/name" of the pod it concerns, when it concerns one */
  pod?: string;
  uid?: string;
  container?: string;
}

/**
 * What callers may pass: either a NodeEvent-like object, or the kubelet's RecordedEvent
 * (`{ namespace, involved: { name, namespace, uid, fieldPath }, type, reason, message }`),
 * so the recorder can hand over what it already has.
 */
export interface NodeEventInput {
  time?: string | Date;
  type: string;
  reason: string;
  message: string;
  pod?: string;
  uid?: string;
  container?: string;
  namespace?: string;
  involved?: { kind?: string; name?: string; namespace?: string; uid?: string; fieldPath?: string };
}

function normalize(e: NodeEventInput): NodeEvent {
  const out: NodeEvent = {
    time: e.time instanceof Date ? e.time.toISOString() : (e.time ?? new Date().toISOString()),
    type: e.type,
    reason: e.reason,
    message: e.message,
  };
  const inv = e.involved;
  const pod = e.pod ?? (inv?.name && (inv.kind ?? 'Pod') === 'Pod' ? `${inv.namespace ?? e.namespace ?? 'default'}/${inv.name}` : undefined);
  if (pod) out.pod = pod;
  const uid = e.uid ?? inv?.uid;
  if (uid) out.uid = uid;
  // fieldPath "spec.containers{web}" names the container, as upstream's event references do
  const container = e.container ?? /\{([^}]+)\}/.exec(inv?.fieldPath ?? '')?.[1];
  if (container) out.container = container;
  return out;
}

/**
 * Appends one event. Never throws: the journal is a debugging aid and must not break the
 * kubelet's sync (a full disk or a read-only dir just loses journal lines).
 * Returns whether the line was written.
 */
export function appendNodeEvent(dir: string, event: NodeEventInput, opts: { maxBytes?: number } = {}): boolean {
  const max = opts.maxBytes ?? DEFAULT_JOURNAL_MAX_BYTES;
  const file = join(dir, JOURNAL_FILE);
  try {
    const line = JSON.stringify(normalize(event)) + '\n';
    let size = -1;
    try {
      size = statSync(file).size;
    } catch {
      mkdirSync(dir, { recursive: true });
    }
    if (size >= 0 && size + Buffer.byteLength(line) > max) renameSync(file, file + '.1');
    appendFileSync(file, line, { mode: 0o644 });
    return true;
  } catch {
    return false;
  }
}

/** Parses "10m", "90s", "2h", "1d" (or a bare number of seconds) into milliseconds. */
export function parseSince(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(s.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return n * unit;
}

function matchesPod(e: NodeEvent, pod: string): boolean {
  if (!e.pod) return false;
  if (pod.includes('/')) return e.pod === pod;
  return e.pod.slice(e.pod.indexOf('/') + 1) === pod || e.uid === pod;
}

/**
 * Events from the journal in `dir` (rotated generation first), oldest first.
 * `since`: a Date, or a duration back from now ("10m"); `pod`: "name", "ns/name" or a UID.
 * Lines that do not parse (a torn write after a crash) are skipped.
 */
export function readNodeEvents(dir: string, filter: { since?: Date | string; pod?: string } = {}): NodeEvent[] {
  let since: number | undefined;
  if (filter.since instanceof Date) since = filter.since.getTime();
  else if (typeof filter.since === 'string') {
    const ms = parseSince(filter.since);
    if (ms === undefined) throw new Error(`invalid duration "${filter.since}" (use e.g. 90s, 10m, 2h)`);
    since = Date.now() - ms;
  }
  const out: NodeEvent[] = [];
  for (const f of [JOURNAL_FILE + '.1', JOURNAL_FILE]) {
    let text: string;
    try {
      text = readFileSync(join(dir, f), 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      let e: NodeEvent;
      try {
        e = JSON.parse(line) as NodeEvent;
      } catch {
        continue;
      }
      if (typeof e?.time !== 'string' || typeof e.reason !== 'string') continue;
      if (since !== undefined && Date.parse(e.time) < since) continue;
      if (filter.pod && !matchesPod(e, filter.pod)) continue;
      out.push(e);
    }
  }
  // Stable sort: lines of one file are already in order; this only merges the two files.
  return out.sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
}
