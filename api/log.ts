import { pino, type Logger } from 'pino';

// One JSON line per event; human-readable when stdout is a TTY. Components take a child
// logger with `component` (and `pod`/`node` where they apply).
let root: Logger | undefined;

export function rootLogger(): Logger {
  if (!root) {
    const level = process.env.K8TS_LOG_LEVEL ?? (process.env.VITEST ? 'silent' : 'info');
    root = process.stdout.isTTY
      ? pino({ level, transport: { target: 'pino-pretty', options: { colorize: true } } })
      : pino({ level });
  }
  return root;
}

export function setLogLevel(level: string): void {
  rootLogger().level = level;
}

export function logger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}
