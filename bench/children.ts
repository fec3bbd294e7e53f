/**
 * What the benchmarks start and must stop: a registry of every child process and cluster still running, emptied
 * on exit, on error and on SIGINT/SIGTERM, and `run`, one bounded child process to completion.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** cairn's command line, as built (`dist/src/main.js`). */
export const CLI = resolve(fileURLToPath(import.meta.url), "..", "..", "src", "main.js");
const CHILD_TIMEOUT_MS = 15 * 60_000;

/** Every child and cluster still running, by its stop function; emptied by cleanup() on exit, error or signal. */
export const running = new Set<() => Promise<void>>();

/** Registers `stop` in `running`; the function returned stops it once, and only then unregisters it. */
export function tracked(stop: () => Promise<void>): () => Promise<void> {
  running.add(stop);
  return async () => {
    if (!running.delete(stop)) return; // already stopped by cleanup()
    await stop();
  };
}

export async function cleanup(): Promise<void> {
  const stops = [...running];
  running.clear();
  await Promise.allSettled(stops.map((s) => s()));
}

export interface RunOptions {
  /** The child's whole environment [this process's]. */
  readonly env?: NodeJS.ProcessEnv;
  /** Called with the child's pid right after it is spawned (to sample its RSS). */
  readonly onSpawn?: (pid: number) => void;
}

/**
 * Runs a command to completion within 15 min; resolves its wall time from just before the spawn and its stdout
 * (the last 64 KiB), rejects on a non-zero exit with the tail of its stderr.
 */
export function run(
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<{ ms: number; stdout: string }> {
  const t0 = performance.now();
  return new Promise((res, rej) => {
    const p = spawn(cmd, args, {
      stdio: ["ignore", "pipe", "pipe"],
      ...(options.env === undefined ? {} : { env: options.env }),
    });
    let out = "";
    let errText = "";
    p.stdout?.on("data", (c: Buffer) => {
      out = (out + c.toString("utf8")).slice(-65536);
    });
    p.stderr?.on("data", (c: Buffer) => {
      errText = (errText + c.toString("utf8")).slice(-2000);
    });
    const kill = async () => {
      p.kill("SIGKILL");
    };
    running.add(kill);
    const timer = setTimeout(() => p.kill("SIGKILL"), CHILD_TIMEOUT_MS);
    p.once("error", (e) => {
      // Not started (ENOENT): no "close" will come to clean up.
      clearTimeout(timer);
      running.delete(kill);
      rej(e);
    });
    if (p.pid !== undefined) options.onSpawn?.(p.pid);
    p.once("close", (code, signal) => {
      clearTimeout(timer);
      running.delete(kill);
      if (code === 0) res({ ms: performance.now() - t0, stdout: out });
      else rej(new Error(`${cmd} ${args.join(" ")} ended with ${code ?? signal}:\n${errText}`));
    });
  });
}

/**
 * Runs `body`, then stops everything in `running` and calls `tidy` (removes the work directory), also when
 * `body` throws or on SIGINT/SIGTERM: a finally does not get to run once the signal is raised again, so the
 * handler tidies up itself before re-raising it.
 */
export async function guarded<T>(tidy: () => void, body: () => Promise<T>): Promise<T> {
  const onSignal = (sig: NodeJS.Signals) => {
    void cleanup()
      .then(tidy)
      .finally(() => process.kill(process.pid, sig));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    return await body();
  } finally {
    await cleanup();
    tidy();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
