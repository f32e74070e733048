// The control plane's data dir holds the store, the cluster CA's and the other keys, and
// the tokens: only its owner may read any of it. New files are created 0600 (and dirs
// 0700); what an older version or a hand-made dir left looser is tightened at start.
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

/** What k8ts keeps directly in a data dir (the SQLite store, its WAL and lock, tokens, kubeconfig). */
const OWN_FILES = ['state.db', 'state.db-wal', 'state.db-shm', 'state.lock', 'state.lock-journal', 'join-token', 'tokens.csv', 'admin.kubeconfig', 'encryption-config.yaml'];
/** Directories of its own, tightened with everything in them. */
const OWN_DIRS = ['pki'];

/** Clears the group and other bits (0644 -> 0600, 0755 -> 0700). */
function tighten(path: string, fixed: Array<{ path: string; from: string; to: string }>): void {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return; // not there (yet)
  }
  if (st.isSymbolicLink()) return;
  const mode = st.mode & 0o7777;
  if ((mode & 0o077) === 0) return;
  const next = mode & ~0o077;
  chmodSync(path, next);
  fixed.push({ path, from: mode.toString(8).padStart(4, '0'), to: next.toString(8).padStart(4, '0') });
}

function tightenTree(dir: string, fixed: Array<{ path: string; from: string; to: string }>): void {
  tighten(dir, fixed);
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) tightenTree(p, fixed);
    else if (e.isFile()) tighten(p, fixed);
  }
}

/**
 * Creates the data dir 0700, or takes group and other permissions away from it and from
 * what k8ts keeps in it, logging each change. Only k8ts's own entries are touched: a data
 * dir pointed at a shared directory must not get everything in it changed, and a shared
 * directory itself (sticky, as /tmp) keeps its mode, with a warning.
 */
export function secureDataDir(dataDir: string, log: Logger): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const fixed: Array<{ path: string; from: string; to: string }> = [];
  const st = lstatSync(dataDir);
  if (st.mode & 0o1000) {
    log.warn({ dataDir }, 'the data dir is a shared directory (sticky bit): its mode is left as is; use a directory of its own');
  } else {
    tighten(dataDir, fixed);
  }
  for (const f of OWN_FILES) tighten(join(dataDir, f), fixed);
  for (const d of OWN_DIRS) tightenTree(join(dataDir, d), fixed);
  for (const f of fixed) log.warn(f, 'permissions were wider than owner-only: tightened');
}
