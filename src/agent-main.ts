import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import pino from "pino";
import { createHttpServer } from "./http/index.js";
import { type RunningServer, startServer } from "./server/boot.js";
import { type AgentConfig, AgentConfigError, agentUsage, HelpRequested, parseAgentArgs } from "./server/config.js";

/**
 * `cairn agent`: parses the configuration, starts the server (data dir, raft, transport) and the HTTP API, and
 * stops gracefully on SIGINT/SIGTERM (a leader hands over leadership first). Exit 1 with a clear message on bad
 * configuration or a data dir that cannot be used.
 */
export async function runAgent(argv: readonly string[]): Promise<number> {
  let cfg: AgentConfig;
  try {
    cfg = parseAgentArgs(argv, process.env);
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(`${agentUsage()}\n`);
      return 0;
    }
    if (e instanceof AgentConfigError) {
      process.stderr.write(`==> ${e.message}\n${e.showUsage ? `\n${agentUsage()}\n` : ""}`);
      return 1;
    }
    throw e;
  }
  const logger = pino(
    { level: cfg.logLevel, base: { node: cfg.nodeName } },
    cfg.logJson ? pino.destination(2) : pino.destination({ dest: 2, sync: false }),
  );
  for (const w of cfg.warnings) logger.warn(w);
  const dataDir = cfg.dataDirTemp ? mkdtempSync(join(cfg.dataDir)) : cfg.dataDir;
  let server: RunningServer;
  try {
    server = await startServer({
      dataDir,
      nodeName: cfg.nodeName,
      datacenter: cfg.datacenter,
      bindHost: cfg.bindAddr,
      serverPort: cfg.ports.server,
      advertiseHost: cfg.advertiseAddr,
      bootstrapExpect: cfg.bootstrap ? 1 : cfg.bootstrapExpect,
      retryJoin: cfg.retryJoin.map((j) => (j.host.includes(":") ? `[${j.host}]:${j.port}` : `${j.host}:${j.port}`)),
      tickMs: cfg.raft.heartbeatIntervalMs,
      heartbeatTicks: 1,
      electionTicks: Math.max(2, Math.ceil(cfg.raft.electionTimeoutMs / cfg.raft.heartbeatIntervalMs)),
      log: (level, msg) => logger[level](msg),
    });
  } catch (e) {
    process.stderr.write(`==> ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const http = createHttpServer(server.service, {
    onRequest: (method: string, route: string, code: number) =>
      server.metrics.httpRequests.inc({ method, route, code: String(code) }),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(cfg.ports.http, cfg.clientAddr, () => resolve());
    });
  } catch (e) {
    process.stderr.write(`==> cannot listen for HTTP on ${cfg.clientAddr}:${cfg.ports.http}: ${String(e)}\n`);
    await server.stop();
    return 1;
  }
  const at = http.address() as AddressInfo;
  logger.info(`cairn agent running: node ${cfg.nodeName}, datacenter ${cfg.datacenter}, HTTP ${at.address}:${at.port}, RPC ${server.rpcAddress}`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info(`caught ${signal}, shutting down`);
      http.close();
      http.closeAllConnections?.();
      await server.stop();
      if (cfg.dataDirTemp) rmSync(dataDir, { recursive: true, force: true });
      logger.flush?.();
      resolve(0);
    };
    process.once("SIGINT", () => void stop("SIGINT"));
    process.once("SIGTERM", () => void stop("SIGTERM"));
  });
}
