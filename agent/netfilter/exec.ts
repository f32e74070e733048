// How backends reach the kernel tools. Injectable so tests and benches can run the same
// code inside a network namespace (`ip netns exec NS …`) or against a recording fake.
import { execa } from 'execa';

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Runs `cmd args…` with optional stdin; resolves with the exit code instead of throwing. */
export type Runner = (cmd: string, args: string[], input?: string) => Promise<RunResult>;

export class CommandError extends Error {
  constructor(
    readonly cmd: string,
    readonly args: string[],
    readonly result: RunResult,
  ) {
    super(`${cmd} ${args.join(' ')} exited ${result.exitCode}: ${result.stderr.trim().slice(0, 2000)}`);
    this.name = 'CommandError';
  }
}

/** A runner on this host, or inside network namespace `netns` when given. */
export function execRunner(netns?: string): Runner {
  return async (cmd, args, input) => {
    const [file, argv] = netns ? ['ip', ['netns', 'exec', netns, cmd, ...args]] : [cmd, args];
    const r = await execa(file, argv, {
      input: input ?? '',
      reject: false,
      stripFinalNewline: false,
      maxBuffer: 1024 * 1024 * 1024,
    });
    return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? -1 };
  };
}

/** Runs and throws CommandError on a non-zero exit. */
export async function mustRun(run: Runner, cmd: string, args: string[], input?: string): Promise<RunResult> {
  const r = await run(cmd, args, input);
  if (r.exitCode !== 0) throw new CommandError(cmd, args, r);
  return r;
}
