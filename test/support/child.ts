/** Emulators as child processes: start one and wait (bounded) for the line saying where it listens; end it. */
import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";

const STOP_TIMEOUT_MS = 10_000;

/**
 * Runs `node <args>` and resolves with the process and the match of `ready` in its output (stdout and stderr),
 * or kills it and rejects, with the output so far, if it exits or `timeoutMs` passes first.
 */
export async function startNode(
  args: readonly string[],
  options: SpawnOptions,
  ready: RegExp,
  timeoutMs: number,
): Promise<{ proc: ChildProcess; match: RegExpExecArray }> {
  const proc = spawn(process.execPath, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  try {
    const match = await new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${ready} within ${timeoutMs} ms`)), timeoutMs);
      const onData = (d: Buffer): void => {
        output += d.toString();
        const m = ready.exec(output);
        if (m !== null) {
          clearTimeout(timer);
          resolve(m);
        }
      };
      proc.stdout?.on("data", onData);
      proc.stderr?.on("data", onData);
      proc.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`exited (${code ?? signal}) before ${ready}`));
      });
      proc.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    proc.removeAllListeners("exit");
    proc.removeAllListeners("error");
    // Keep draining its output (a full pipe would stall it) without keeping it.
    for (const s of [proc.stdout, proc.stderr]) {
      s?.removeAllListeners("data");
      s?.resume();
    }
    return { proc, match };
  } catch (e) {
    await endProcess(proc, "SIGKILL");
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n${output}`);
  }
}

/** Sends `signal` and waits for the exit; SIGKILL after 10 s if it has not exited by then. */
export function endProcess(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => proc.kill("SIGKILL"), STOP_TIMEOUT_MS);
    proc.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill(signal);
  });
}
