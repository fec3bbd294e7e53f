/**
 * `lock`: as `consul lock` (command/lock/lock.go) in its lock mode: takes `<prefix>/.lock` with a TTL session,
 * runs the child while the lock is held, kills the child (SIGTERM, then SIGKILL after a grace period) when the
 * lock is lost, and releases the lock when the child exits or the command is told to stop. Consul's semaphore
 * mode (`-n` > 1) is not built; it is refused in words rather than run as a lock.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { posix } from "node:path";
import { httpClientFlags, httpServerFlags } from "../../client/index.js";
import { Lock, LockInUseError } from "../../client/lock.js";
import { flag } from "../../util/flags.js";
import {
  type Command,
  type CommandIO,
  clientFrom,
  err,
  errorText,
  out,
  parseOrExit,
  usage,
} from "../command.js";
import { withCheckedClient } from "./kv.js";

/**
 * Consul's lockKillGracePeriod: between SIGTERM and SIGKILL, short of the default 15 s lock-delay so the
 * next holder cannot start before this child is gone.
 */
const KILL_GRACE_MS = 5_000;
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

const lockFlags = {
  ...httpClientFlags,
  ...httpServerFlags,
  "child-exit-code": flag.bool(
    false,
    "Exit 2 if the child process exited with an error if this is true, otherwise this doesn't propagate an " +
      "error from the child. The default value is false.",
  ),
  n: flag.int(
    1,
    "Optional limit on the number of concurrent lock holders. Only 1 is supported by cairn (no semaphore " +
      "mode). The default value is 1.",
  ),
  "monitor-retry": flag.int(
    3,
    "Number of times to retry if the server returns a 500 error while monitoring the lock. This allows riding " +
      "out brief periods of unavailability without causing leader elections, but increases the amount of time " +
      "required to detect a lost lock in some cases. The default value is 3, with a 1s wait between retries. " +
      "Set this value to 0 to disable retires.",
  ),
  name: flag.string(
    "",
    "Optional name to associate with the lock session. It not provided, one is generated based on the " +
      "provided child command.",
  ),
  "pass-stdin": flag.bool(false, "Pass stdin to the child process."),
  shell: flag.bool(
    true,
    "Use a shell to run the command (can set a custom shell via the SHELL environment variable).",
  ),
  timeout: flag.duration(
    0,
    'Maximum amount of time to wait to acquire the lock, specified as a duration like "1s" or "3h". The ' +
      "default value is 0.",
  ),
  try: flag.duration(0, "DEPRECATED. Use -timeout instead."),
  verbose: flag.bool(false, "Enable verbose (debugging) output."),
};

const lockHelp = usage(
  `Usage: cairn lock [options] prefix child...

  Acquires a lock at a given path, and invokes a child process when successful. The child process can assume
  the lock is held while it executes. If the lock is lost or communication is disrupted the child process will
  be sent a SIGTERM signal and given time to gracefully exit. After the grace period expires the process will
  be hard terminated.

  The prefix provided must have write privileges.`,
  lockFlags,
);

/** Runs the child; resolves its exit as Go's cmd.Wait error text, or null for a clean exit 0. */
function startChild(
  args: readonly string[],
  shell: boolean,
  passStdin: boolean,
  io: CommandIO,
): { proc: ChildProcess; exited: Promise<string | null> } {
  const env = { ...io.env, CONSUL_LOCK_HELD: "true" };
  const stdio: ["inherit" | "ignore", "pipe", "pipe"] = [passStdin ? "inherit" : "ignore", "pipe", "pipe"];
  const proc = shell
    ? spawn(io.env.SHELL || "/bin/sh", ["-c", args.join(" ")], { env, stdio })
    : spawn(args[0] as string, args.slice(1), { env, stdio });
  proc.stdout?.on("data", (b: Buffer) => io.stdout.write(b));
  proc.stderr?.on("data", (b: Buffer) => io.stderr.write(b));
  const exited = new Promise<string | null>((resolve) => {
    proc.once("error", (e) => resolve(e.message));
    proc.once("close", (code, signal) => {
      if (signal !== null) resolve(`signal: ${signal === "SIGKILL" ? "killed" : signal}`);
      else resolve(code === 0 ? null : `exit status ${code}`);
    });
  });
  return { proc, exited };
}

async function killChild(
  proc: ChildProcess,
  exited: Promise<unknown>,
  info: (s: string) => void,
): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  info(`Terminating child pid ${proc.pid}`);
  proc.kill("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(true), KILL_GRACE_MS);
  });
  const timedOut = await Promise.race([exited.then(() => false), graceOver]);
  clearTimeout(timer);
  if (!timedOut) {
    info("Child terminated");
    return;
  }
  info(`Child did not exit after grace period of ${KILL_GRACE_MS / 1000}s`);
  info(`Killing child pid ${proc.pid}`);
  proc.kill("SIGKILL");
  await exited;
}

export const lock: Command = {
  help: lockHelp,
  async run(argv, io) {
    const parsed = parseOrExit(lockFlags, argv, io, lockHelp);
    if (typeof parsed === "number") return parsed;
    const v = parsed.values;
    if (v.n <= 0) {
      err(io, "Lock holder limit must be positive");
      return 1;
    }
    if (v.n > 1) {
      err(io, "Semaphore mode (-n greater than 1) is not supported by cairn; only -n=1 locks are");
      return 1;
    }
    if (parsed.args.length < 2) {
      err(io, "Key prefix and child command must be specified");
      return 1;
    }
    const prefix = (parsed.args[0] as string).replace(/^\//, "");
    const child = parsed.args.slice(1);
    const timeoutMs = parsed.set.has("timeout") ? v.timeout : v.try;
    if (timeoutMs < 0) {
      err(io, "Timeout must be positive");
      return 1;
    }
    if (v["monitor-retry"] < 0) {
      err(io, "Number for 'monitor-retry' must be >= 0");
      return 1;
    }
    const name = v.name !== "" ? v.name : `Consul lock for '${child.join(" ")}' at '${prefix}'`;
    const info = (s: string): void => {
      if (v.verbose) out(io, s);
    };

    return withCheckedClient(
      io,
      () => clientFrom(parsed, io),
      async (client) => {
        // path.Join, as Consul: the prefix is cleaned and ".lock" appended (DefaultSemaphoreKey).
        const key = posix.join(prefix, ".lock").replace(/^\//, "");
        info(`Setting up lock at path: ${key}`);
        const l = new Lock(client, {
          key,
          sessionName: name,
          monitorRetries: v["monitor-retry"],
          ...(timeoutMs > 0 ? { tryOnceMs: timeoutMs } : {}),
        });

        const shutdown = new AbortController();
        const onSignal = (): void => shutdown.abort();
        for (const s of SIGNALS) process.on(s, onSignal);
        try {
          info("Attempting lock acquisition");
          let lost: AbortSignal | null;
          try {
            lost = await l.lock(shutdown.signal);
          } catch (e) {
            err(io, `Lock acquisition failed: ${errorText(e)}`);
            return 1;
          }
          if (lost === null) {
            err(io, "Shutdown triggered or timeout during lock acquisition");
            return 1;
          }
          let childCode = 0;
          if (shutdown.signal.aborted) {
            err(io, "Shutdown triggered during lock acquisition");
          } else {
            info("Starting handler");
            const { proc, exited } = startChild(child, v.shell, v["pass-stdin"], io);
            const forward = (sig: NodeJS.Signals): void => {
              proc.kill(sig);
            };
            for (const s of SIGNALS) process.on(s, forward);
            const stopped = new Promise<string>((resolve) => {
              const onAbort = (why: string) => () => resolve(why);
              lost.addEventListener("abort", onAbort("Lock lost, killing child"), { once: true });
              shutdown.signal.addEventListener("abort", onAbort("Shutdown triggered, killing child"), {
                once: true,
              });
              if (lost.aborted) resolve("Lock lost, killing child");
            });
            const first = await Promise.race([
              exited.then((e) => ({ exit: e })),
              stopped.then((why) => ({ why })),
            ]);
            if ("exit" in first) {
              if (first.exit !== null) {
                err(io, `Error running handler: ${first.exit}`);
                childCode = 2;
              }
              info("Child terminated, releasing lock");
            } else {
              info(first.why);
              await killChild(proc, exited, info);
            }
            for (const s of SIGNALS) process.off(s, forward);
          }
          try {
            await l.unlock();
          } catch (e) {
            err(io, `Lock release failed: ${errorText(e)}`);
            return 1;
          }
          try {
            await l.destroy();
            info("Cleanup succeeded");
          } catch (e) {
            if (!(e instanceof LockInUseError)) {
              err(io, `Lock cleanup failed: ${errorText(e)}`);
              return 1;
            }
            info("Cleanup aborted, lock in use");
          }
          return v["child-exit-code"] ? childCode : 0;
        } finally {
          for (const s of SIGNALS) process.off(s, onSignal);
        }
      },
    );
  },
};
