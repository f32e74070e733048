// `k8ts node events`: what the kubelet did lately, from its journal on this node.
import { existsSync } from 'node:fs';
import { readNodeEvents, type NodeEvent } from '../kubelet/journal.js';
export { parseSince } from '../kubelet/journal.js';
import { NodeDebugError } from './errors.js';
import { ago, formatTable } from './table.js';

export function nodeEvents(dirs: string[], filter: { since?: string; pod?: string }): { events: NodeEvent[]; dirs: string[] } {
  const found = dirs.filter((d) => existsSync(d));
  const seen = new Set<string>();
  const events: NodeEvent[] = [];
  for (const d of found) {
    let l: NodeEvent[];
    try {
      l = readNodeEvents(d, filter);
    } catch (err) {
      throw new NodeDebugError((err as Error).message, 2);
    }
    for (const e of l) {
      // the same dir may be reachable under two names (agent dir and its kubelet subdir)
      const k = JSON.stringify(e);
      if (seen.has(k)) continue;
      seen.add(k);
      events.push(e);
    }
  }
  events.sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  return { events, dirs: found };
}

export function eventsTable(events: NodeEvent[], now = Date.now()): string {
  return formatTable(
    ['LAST SEEN', 'TYPE', 'REASON', 'OBJECT', 'MESSAGE'],
    events.map((e) => [ago(new Date(e.time), now), e.type, e.reason, e.pod ? `pod/${e.pod.slice(e.pod.indexOf('/') + 1)}${e.container ? ` (${e.container})` : ''}` : '', e.message]),
  );
}
