import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { clientMembers } from "../api/client-reconcile.js";
import { ServerService } from "../api/service.js";
import { type RunningDns, startDnsServer } from "../dns/server.js";
import {
  type Answer,
  type HttpRequest,
  type HttpServerOptions,
  handle,
  loadUiAssets,
  requestListener,
  type UiAssets,
} from "../http/index.js";
import { type RunningLocalAgent, startLocalAgent } from "../local/agent.js";
import { type RunningServer, startServer } from "../server/boot.js";
import { addForwardGauges } from "../server/metrics.js";
import { WanPool } from "../server/wan.js";
import { errorText } from "../util/errors.js";
import { makeLogger } from "../util/logger.js";
import { httpsServerTls, internalRpcTls, lanWan, reloadDefinitions } from "./agent-common.js";
import { runClientAgent } from "./client-agent.js";
import { type AgentConfig, AgentConfigError, agentUsage, HelpRequested, parseAgentArgs } from "./config.js";
import { forwardableHeaders, forwardRequest } from "./forward-client.js";
import { ForwardServer } from "./forward-serve.js";
import { ServerClients } from "./server-clients.js";

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
  const logger = makeLogger({
    level: cfg.logLevel,
    json: cfg.logJson,
    component: "agent",
    base: { node: cfg.nodeName },
  });
  for (const w of cfg.warnings) logger.warn(w);
  // The web UI's files, read once before anything starts: a broken install fails here, not in a browser.
  let ui: UiAssets;
  try {
    ui = loadUiAssets();
  } catch (e) {
    process.stderr.write(`==> ${errorText(e)}\n`);
    return 1;
  }
  // Consul's default mode: without -server (or server = true, or -dev) the agent is a client (client-agent.ts).
  if (!cfg.server) return runClientAgent(argv, cfg, logger, ui);
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
      retryJoin: cfg.retryJoin.map((j) =>
        j.host.includes(":") ? `[${j.host}]:${j.port}` : `${j.host}:${j.port}`,
      ),
      tickMs: cfg.raft.heartbeatIntervalMs,
      heartbeatTicks: 1,
      electionTicks: Math.max(2, Math.ceil(cfg.raft.electionTimeoutMs / cfg.raft.heartbeatIntervalMs)),
      snapshotThreshold: cfg.raft.snapshotThreshold,
      // Consul keeps 10240 trailing logs; a small threshold (tests) keeps proportionally fewer.
      trailingEntries: Math.min(10_240, Math.floor(cfg.raft.snapshotThreshold / 2)),
      log: (level, msg) => logger[level](msg),
      tls: internalRpcTls(cfg),
    });
  } catch (e) {
    process.stderr.write(`==> ${errorText(e)}\n`);
    return 1;
  }
  // The WAN pool, when asked for (-retry-join-wan, ports.serf_wan): servers of other datacenters (server/wan.ts).
  let wan: WanPool | null = null;
  if (cfg.serfWanPort > 0) {
    try {
      wan = await WanPool.start({
        nodeId: server.raft.self.nodeId,
        nodeName: cfg.nodeName,
        datacenter: cfg.datacenter,
        bindHost: cfg.bindAddr,
        port: cfg.serfWanPort,
        advertiseHost: cfg.advertiseAddr,
        retryJoinWan: cfg.retryJoinWan.map((j) =>
          j.host.includes(":") ? `[${j.host}]:${j.port}` : `${j.host}:${j.port}`,
        ),
        tls: internalRpcTls(cfg),
        log: (level, msg) => logger[level](msg),
      });
    } catch (e) {
      process.stderr.write(
        `==> cannot listen for the WAN on ${cfg.bindAddr}:${cfg.serfWanPort}: ${errorText(e)}\n`,
      );
      await server.stop();
      if (cfg.dataDirTemp) rmSync(dataDir, { recursive: true, force: true });
      return 1;
    }
  }
  let stop = (_signal: string): Promise<void> => Promise.resolve();
  const service = new ServerService({
    raft: server.raft,
    datacenter: cfg.datacenter,
    metrics: server.metrics,
    snapshotThrottleMs: Number(process.env.CAIRN_TEST_SNAPSHOT_THROTTLE_MS ?? 0) || 0,
    onLeave: () => void stop("a graceful leave"),
    join: (addr) => server.join(addr),
    // Consul's acl block; the reset file is where `acl bootstrap` reset instructions point (in the data dir).
    acl: { ...cfg.acl, bootstrapResetFile: join(dataDir, "acl-bootstrap-reset") },
    // Client agents, as the catalog has them (their serfHealth checks kept by the leader: server-clients.ts).
    otherMembers: () => clientMembers(server.raft.kv.catalogReads, cfg.datacenter),
    // Bound late: the clients' side is built on this service below, and is there before any request.
    forceLeaveClient: (node) => clients.forceLeave(node),
    ...(wan === null
      ? {}
      : {
          datacenters: () => wan.datacenters(),
          wanServers: () => wan.otherServers().map((s) => ({ ...s.record, failed: s.failed })),
        }),
  });
  let localAgent: RunningLocalAgent;
  try {
    localAgent = await startLocalAgent({
      dataDir,
      node: {
        node: cfg.nodeName,
        id: service.agentSelf().nodeId,
        datacenter: cfg.datacenter,
        address: cfg.advertiseAddr,
        taggedAddresses: lanWan(cfg.advertiseAddr),
        meta: { "consul-network-segment": "" },
        server: cfg.server,
      },
      services: cfg.services,
      checks: cfg.checks,
      // Anti-entropy talks to the catalog through this server's own ServerApi (writes go through Raft).
      catalog: service,
      log: (level, msg) => logger[level](msg),
      reloadConfig: async () => reloadDefinitions(argv, cfg, logger),
    });
  } catch (e) {
    process.stderr.write(`==> ${errorText(e)}\n`);
    await wan?.close();
    await server.stop();
    return 1;
  }
  // A leader appearing ends the "No cluster leader" failures of anti-entropy's first syncs: retry then.
  server.raft.leadershipListeners.add(() => localAgent.antiEntropy?.serversChanged());
  const httpOptions: HttpServerOptions = {
    local: localAgent.local,
    ui,
    // The largest body any endpoint takes (a snapshot restore streams instead of buffering).
    bodyBytesMax: 16 * 1024 * 1024,
    countRequest: (route, method, status) =>
      server.metrics.httpRequests.inc({ method, route, code: String(status) }),
    requestLog: {
      debug: (m) => logger.debug(`http: ${m}`),
      error: (m) => logger.error(`http: ${m}`),
      debugEnabled: cfg.logLevel === "trace" || cfg.logLevel === "debug",
    },
  };
  const here = (req: HttpRequest) => handle(req, service, localAgent.local, ui);
  /**
   * This datacenter's requests are answered here; another's (`?dc=`) go to a server of it over the WAN. The agent
   * endpoints are this agent's whatever `dc` says, as Consul's.
   */
  const answerFor = (req: HttpRequest, headers: Readonly<Record<string, string>>) => {
    const dc = req.query.get("dc") ?? "";
    const elsewhere = dc !== "" && dc !== cfg.datacenter;
    if (wan !== null && elsewhere && req.path.startsWith("/v1/") && !req.path.startsWith("/v1/agent/")) {
      return forwardRequest(req, headers, wan.via(dc));
    }
    return here(req);
  };
  // Client agents' heartbeats, leave and forwarded requests, answered as HTTP clients' requests are.
  const clients = new ServerClients({
    raft: server.raft,
    service,
    datacenter: cfg.datacenter,
    answer: answerFor,
    bodyBytesMax: httpOptions.bodyBytesMax,
    reconnectTimeoutMs: cfg.reconnectTimeoutMs,
    log: (level, msg) => logger[level](msg),
  });
  addForwardGauges(server.metrics.registry, () => clients.forwardCounts());
  // Requests from other datacenters are answered here, never passed on (a wrong ?dc= is "No path to datacenter").
  const fromWan =
    wan === null
      ? null
      : new ForwardServer(wan.rpc, { answer: here, bodyBytesMax: httpOptions.bodyBytesMax });
  // The same handler on ports.http (plain) and ports.https (TLS), each unless -1.
  const answer: Answer = (req, incoming) => answerFor(req, forwardableHeaders(incoming.headers));
  const keepAlive = <T extends http.Server>(s: T): T => {
    // Longer than Node's 5 s default, as node-adapter.ts's servers: clients' keep-alive agents rarely race a close.
    s.keepAliveTimeout = 65_000;
    return s;
  };
  const listeners: { name: string; port: number; server: http.Server | https.Server }[] = [];
  if (cfg.ports.http > 0) {
    const s = keepAlive(http.createServer({ keepAlive: true }, requestListener(answer, httpOptions)));
    listeners.push({ name: "HTTP", port: cfg.ports.http, server: s });
  }
  const httpsTls = httpsServerTls(cfg);
  if (cfg.httpsPort > 0 && httpsTls !== undefined) {
    const s = keepAlive(
      https.createServer({ ...httpsTls, keepAlive: true }, requestListener(answer, httpOptions)),
    );
    listeners.push({ name: "HTTPS", port: cfg.httpsPort, server: s });
  }
  const closeListeners = (): void => {
    for (const l of listeners) {
      l.server.close();
      l.server.closeAllConnections?.();
    }
  };
  /** A listener that cannot start ends the agent: exit 1, nothing left behind (-dev's temp data dir included). */
  const abandon = async (what: string, port: number, e: unknown): Promise<number> => {
    process.stderr.write(`==> cannot listen for ${what} on ${cfg.clientAddr}:${port}: ${String(e)}\n`);
    closeListeners();
    clients.stop();
    fromWan?.close();
    await wan?.close();
    localAgent.stop();
    await server.stop();
    if (cfg.dataDirTemp) rmSync(dataDir, { recursive: true, force: true });
    return 1;
  };
  for (const l of listeners) {
    try {
      await new Promise<void>((resolve, reject) => {
        l.server.once("error", reject);
        l.server.listen(l.port, cfg.clientAddr, () => resolve());
      });
    } catch (e) {
      return abandon(l.name, l.port, e);
    }
  }
  let dns: RunningDns | null = null;
  if (cfg.ports.dns > 0) {
    try {
      // The DNS interface answers from this server's own ServerApi reads (stale unless dns_config says otherwise).
      dns = await startDnsServer(cfg.clientAddr, cfg.ports.dns, {
        api: service,
        config: cfg.dns,
        log: (level, msg) => logger[level](msg),
      });
    } catch (e) {
      return abandon("DNS", cfg.ports.dns, e);
    }
  }
  const httpText = listeners.map((l) => {
    const at = l.server.address() as AddressInfo;
    return `${l.name} ${at.address}:${at.port}`;
  });
  const dnsText = dns === null ? [] : [`DNS ${cfg.clientAddr}:${dns.port} (TCP, UDP)`];
  const rpcText = `RPC ${server.rpcAddress}${internalRpcTls(cfg) === undefined ? "" : " (mutual TLS)"}`;
  const wanText = wan === null ? [] : [`WAN ${wan.self.addr}`];
  const listening = [...httpText, ...dnsText, rpcText, ...wanText].join(", ");
  logger.info(`cairn agent running: node ${cfg.nodeName}, datacenter ${cfg.datacenter}, ${listening}`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info(`caught ${signal}, shutting down`);
      closeListeners();
      await dns?.close();
      clients.stop();
      fromWan?.close();
      await wan?.close();
      localAgent.stop();
      await server.stop();
      if (cfg.dataDirTemp) rmSync(dataDir, { recursive: true, force: true });
      resolve(0);
    };
    process.once("SIGINT", () => void stop("SIGINT"));
    process.once("SIGTERM", () => void stop("SIGTERM"));
    // Consul reloads its configuration on SIGHUP, as on PUT /v1/agent/reload.
    process.on("SIGHUP", () => {
      localAgent.local.reload().catch((e: unknown) => logger.warn(`reload failed: ${errorText(e)}`));
    });
    // A throwaway server started by another process (the snapshot agent's restore drill) ends with its parent.
    if (process.env.CAIRN_STOP_ON_STDIN_END === "1") {
      process.stdin.once("end", () => void stop("the end of stdin (its parent is gone)"));
      process.stdin.resume();
    }
  });
}
