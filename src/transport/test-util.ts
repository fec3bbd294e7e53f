/** Helpers for the transport's tests (not exported from index.ts). */
import type { Log, LogLevel } from "./peer-link.js";
import type { NodeIdentity } from "./transport.js";

export function identity(raftId: number, datacenter = "dc1"): NodeIdentity {
  const hex = raftId.toString(16).padStart(12, "0");
  return {
    nodeId: `00000000-0000-4000-8000-${hex}`,
    raftId,
    name: `server-${raftId}`,
    datacenter,
    version: "0.1.0",
  };
}

/** A log that records instead of printing, so expected connection errors do not clutter test output. */
export function quietLog(lines: string[] = []): Log {
  return (level: LogLevel, message: string) => {
    lines.push(`${level}: ${message}`);
  };
}

export function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (cond()) {
        resolve();
        return;
      }
      if (Date.now() - started > timeoutMs) {
        reject(new Error(`timed out waiting for ${what}`));
        return;
      }
      setTimeout(poll, 5);
    };
    poll();
  });
}
