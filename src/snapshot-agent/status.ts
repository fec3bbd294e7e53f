/**
 * The agent's own HTTP listener (`listen` / -listen): /metrics for Prometheus and /health for load balancers and
 * monitors. Health answers 200 while the newest verified backup (this agent's, or the active agent's as recorded
 * in the lock key) is younger than 2 × interval, and 503 with the reason otherwise, so a stopped datacenter, a
 * store that refuses uploads or an agent that lost its lock shows up without reading logs.
 */
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { LastDrill } from "./drill-schedule.js";
import type { AgentMetrics } from "./metrics.js";

export interface HealthState {
  /** When this agent started: a fresh agent counts as healthy for 2 × interval before its first backup. */
  readonly startedMs: number;
  /** The newest verified backup known (ms), or 0. */
  readonly lastSuccessMs: number;
  /** Why the last attempt failed, or "" after a success. */
  readonly lastError: string;
  readonly active: boolean;
  /** The last restore drill of this agent, or null: told in the reason, not part of the verdict. */
  readonly lastDrill: LastDrill | null;
}

export interface Health {
  readonly ok: boolean;
  readonly reason: string;
}

/** The health verdict at `now` for a schedule of `intervalMs` (0: one-shot agents are not served). */
export function healthOf(s: HealthState, intervalMs: number, now: number): Health {
  const since = Math.max(s.startedMs, s.lastSuccessMs);
  const ageMs = now - since;
  const role = s.active ? "active" : "standby";
  if (ageMs <= 2 * intervalMs) {
    const last =
      s.lastSuccessMs === 0 ? "no backup yet" : `last verified backup ${secs(now - s.lastSuccessMs)} ago`;
    return { ok: true, reason: `ok (${role}): ${last}${drillText(s.lastDrill, now)}` };
  }
  const last =
    s.lastSuccessMs === 0 ? "no verified backup" : `the last verified backup is ${secs(ageMs)} old`;
  const why = s.lastError === "" ? "" : `; last error: ${s.lastError}`;
  return {
    ok: false,
    reason: `unhealthy (${role}): ${last}, more than 2 × interval (${secs(2 * intervalMs)})${why}${drillText(s.lastDrill, now)}`,
  };
}

/** "; restore drill of X passed 5s ago" or "; restore drill of X FAILED 5s ago: why", "" before any drill. */
function drillText(d: LastDrill | null, now: number): string {
  if (d === null) return "";
  const ago = secs(now - d.atMs);
  return d.ok
    ? `; restore drill of ${d.name} passed ${ago} ago`
    : `; restore drill of ${d.name} FAILED ${ago} ago: ${d.error}`;
}

function secs(ms: number): string {
  return `${Math.round(ms / 1000)}s`;
}

/** Listens on `listen` ("host:port"; port 0 picks a free one); resolves the server and its bound address. */
export async function serveStatus(
  listen: string,
  metrics: AgentMetrics,
  health: () => Health,
): Promise<{ server: Server; address: string }> {
  const at = listen.lastIndexOf(":");
  const host = at <= 0 ? "127.0.0.1" : listen.slice(0, at).replace(/^\[|\]$/g, "");
  const port = Number(at === -1 ? listen : listen.slice(at + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`invalid listen address "${listen}"`);
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/metrics") {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "Content-Type": metrics.registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500).end(String(e)),
      );
      return;
    }
    if (path === "/health") {
      const h = health();
      res.writeHead(h.ok ? 200 : 503, { "Content-Type": "text/plain; charset=utf-8" }).end(`${h.reason}\n`);
      return;
    }
    res
      .writeHead(404, { "Content-Type": "text/plain; charset=utf-8" })
      .end("not found: try /metrics or /health\n");
  });
  server.listen(port, host);
  await Promise.race([
    once(server, "listening"),
    once(server, "error").then(([e]) => {
      throw e;
    }),
  ]);
  const a = server.address() as AddressInfo;
  return { server, address: `${a.address.includes(":") ? `[${a.address}]` : a.address}:${a.port}` };
}
