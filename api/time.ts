// Kubernetes' two wire formats of time: metav1.Time is RFC 3339 to the second
// ("2024-05-01T10:00:00Z"), metav1.MicroTime to the microsecond ("2024-05-01T10:00:00.123000Z",
// leases and eventTime). JavaScript has milliseconds, so the last three digits are zeros.

/** metav1.Time: RFC 3339, seconds, UTC. */
export function rfc3339(d: Date | number = new Date()): string {
  const t = typeof d === 'number' ? new Date(d) : d;
  return t.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** metav1.MicroTime: RFC 3339 with six fractional digits, UTC. */
export function microTime(d: Date | number = new Date()): string {
  const t = typeof d === 'number' ? new Date(d) : d;
  return t.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Milliseconds since the epoch of a wire timestamp (or a Date); 0 when absent or unparsable. */
export function parseTime(t: string | Date | undefined | null): number {
  if (!t) return 0;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isNaN(ms) ? 0 : ms;
}
