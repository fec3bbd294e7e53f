/** `cairn snapshot agent` as a child process for tests: start it with its own listener, read it, stop it. */
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

const MAIN = resolve(fileURLToPath(import.meta.url), "..", "..", "..", "src", "main.js");

export interface AgentProc {
  readonly proc: ChildProcess;
  /** host:port of its /metrics and /health. */
  readonly listen: string;
  /** Everything it printed so far. */
  output: string;
}

export function startAgent(args: readonly string[], listen: string): AgentProc {
  const proc = spawn(process.execPath, [MAIN, "snapshot", "agent", "-listen", listen, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const a: AgentProc = { proc, listen, output: "" };
  proc.stdout?.on("data", (d: Buffer) => {
    a.output += d.toString();
  });
  proc.stderr?.on("data", (d: Buffer) => {
    a.output += d.toString();
  });
  return a;
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves once it has exited. */
export async function stopAgent(a: AgentProc, graceMs = 10_000): Promise<void> {
  if (a.proc.exitCode !== null || a.proc.signalCode !== null) return;
  await new Promise<void>((res) => {
    const t = setTimeout(() => a.proc.kill("SIGKILL"), graceMs);
    a.proc.once("exit", () => {
      clearTimeout(t);
      res();
    });
    a.proc.kill("SIGTERM");
  });
}

/** GET `url` (3 s bound): status and body, or null when nothing answered. */
export async function get(url: string): Promise<{ status: number; body: string } | null> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return { status: r.status, body: await r.text() };
  } catch {
    return null;
  }
}
