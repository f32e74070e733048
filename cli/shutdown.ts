import type { Logger } from 'pino';

/**
 * On SIGTERM or SIGINT: log, run `stop` once, exit 0; exit 1 if stopping takes over 10 s
 * (a wedged shutdown must not keep a unit or a test waiting forever).
 */
export function exitOnSignal(log: Logger, stop: () => Promise<void>, message = 'stopping'): void {
  let stopping = false;
  const handler = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, message);
    setTimeout(() => process.exit(1), 10_000).unref();
    await stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void handler('SIGTERM'));
  process.once('SIGINT', () => void handler('SIGINT'));
}
