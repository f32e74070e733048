// Human output in crictl's style: left-aligned columns separated by at least three spaces,
// short ids, "N minutes ago" ages.

export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** crictl truncates ids to 13 characters. */
export function shortId(id: string): string {
  return id.length > 13 ? id.slice(0, 13) : id;
}

/** "3 seconds ago", "5 minutes ago", "2 hours ago", "4 days ago" (crictl / docker style). */
export function ago(t: Date | undefined, now = Date.now()): string {
  if (!t || Number.isNaN(t.getTime()) || t.getTime() <= 0) return '';
  const s = Math.max(0, Math.floor((now - t.getTime()) / 1000));
  const unit = (n: number, u: string) => `${n} ${u}${n === 1 ? '' : 's'} ago`;
  if (s < 60) return s < 1 ? 'Less than a second ago' : unit(s, 'second');
  if (s < 3600) return unit(Math.floor(s / 60), 'minute');
  if (s < 86_400) return unit(Math.floor(s / 3600), 'hour');
  if (s < 86_400 * 14) return unit(Math.floor(s / 86_400), 'day');
  return unit(Math.floor(s / (86_400 * 7)), 'week');
}

/** Bytes as crictl prints image sizes: 4.27MB, 744kB. */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${v}B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[i]}`;
}

/** Packet/byte counters as iptables -L -v prints them: 1234, 12K, 3M. */
export function humanCount(n: number | undefined): string {
  if (n === undefined) return '-';
  if (n < 100_000) return String(n);
  const units = ['K', 'M', 'G', 'T'];
  let v = n;
  let i = -1;
  while (v >= 100_000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Math.round(v)}${units[i]}`;
}
