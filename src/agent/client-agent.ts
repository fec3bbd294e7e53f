/**
 * `cairn agent` without -server: a client agent (docs/membership.md). It holds no raft log and never votes; it
 * keeps its node id, services and checks in its -data-dir, runs its checks and anti-entropy, and answers
 * /v1/agent/* itself. Every other request is forwarded to a server of its datacenter over the server RPC
 * transport (forward-client.ts), which answers it with its own router: headers, blocking and errors are the
 * server's. The servers learn it is alive from its heartbeats (server/client-link.ts).
 */
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { type RunningDns, startDnsServer } from "../dns/server.js";
import {
  type Answer,
  errorResponse,
  type HttpRequest,
  handle,
  memoryRequest,
  requestListener,
  type UiAssets,
} from "../http/index.js";
import { requestToken } from "../http/request-token.js";
import { type RunningLocalAgent, startLocalAgent } from "../local/agent.js";
import { ClientLink } from "../server/client-link.js";
import { createMetrics } from "../server/metrics.js";
import { errorText } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { httpsServerTls, internalRpcTls, lanWan, reloadDefinitions } from "./agent-common.js";
import { ClientAcl, TOKEN_TTL_MS } from "./client-acl.js";
import { ClientApi, ForwardedCatalog } from "./client-api.js";
import type { AgentConfig } from "./config.js";
import { type ForwardVia, forwardableHeaders, forwardRequest } from "./forward-client.js";
import { Parking } from "./forward-park.js";

/** /v1/agent/force-leave/ is about servers (the raft configuration): a server answers it. */
const FORWARDED_AGENT_ROUTES = ["/v1/agent/force-leave/"];

/** Whether the client answers this (raw) path itself: its agent endpoints, the UI and its metrics. */
export function answeredByClient(rawPath: string): boolean {
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    // The router refuses a bad escape with 400; let it.
    return true;
  }
  if (path.startsWith("/v1/agent/")) return !FORWARDED_AGENT_ROUTES.some((p) => path.startsWith(p));
  return !path.startsWith("/v1/");
}

/**
 * PUT /v1/session/create: Consul's agent names its own node as the session's before it forwards (the body's Node
 * wins), so a session made through a client is tied to the client's serfHealth. A body that is not a JSON object
 * goes on unchanged, for the server to refuse.
 */
export async function sessionOnThisNode(
  req: HttpRequest,
  headers: Record<string, string>,
  nodeName: string,
): Promise<{ req: HttpRequest; headers: Record<string, string> }> {
  const text = Buffer.from(await req.body()).toString("utf8");
  let body: unknown = {};
  try {
    if (text.trim() !== "") body = JSON.parse(text);
  } catch {
    body = null;
  }
  const isObject = typeof body === "object" && body !== null && !Array.isArray(body);
  const named = isObject && Object.keys(body as object).some((k) => k.toLowerCase() === "node");
  const out = isObject && !named ? JSON.stringify({ ...(body as object), Node: nodeName }) : text;
  const h = { ...headers, "content-length": String(Buffer.byteLength(out)) };
  const target = `${req.path}${req.query.size > 0 ? `?${req.query.toString()}` : ""}`;
  return { req: memoryRequest(req.method, target, { body: out, headers: h }), headers: h };
}

export async function runClientAgent(
  argv: readonly string[],
  cfg: AgentConfig,
  logger: Logger,
  ui: UiAssets,
): Promise<number> {
  const dataDir = cfg.dataDirTemp ? mkdtempSync(join(cfg.dataDir)) : cfg.dataDir;
  const removeTemp = (): void => {
    if (cfg.dataDirTemp) rmSync(dataDir, { recursive: true, force: true });
  };
  const tagged = lanWan(cfg.advertiseAddr);
  const meta = { "consul-network-segment": "" };
  let link: ClientLink;
  try {
    link = await ClientLink.open({
      dataDir,
      nodeName: cfg.nodeName,
      datacenter: cfg.datacenter,
      retryJoin: cfg.retryJoin.map((j) =>
        j.host.includes(":") ? `[${j.host}]:${j.port}` : `${j.host}:${j.port}`,
      ),
      node: { node: cfg.nodeName, address: cfg.advertiseAddr, taggedAddresses: tagged, meta },
      tls: internalRpcTls(cfg),
      log: (level, msg) => logger[level](msg),
    });
  } catch (e) {
    process.stderr.write(`==> ${errorText(e)}\n`);
    removeTemp();
    return 1;
  }
  let stop = (_signal: string): Promise<void> => Promise.resolve();
  const metrics = createMetrics();
  // Anti-entropy's catalog calls and the DNS interface's reads are forwarded requests, as any HTTP client's.
  const catalog = new ForwardedCatalog(link, cfg.acl.tokens.agent, cfg.acl.tokens.default);
  const acl = new ClientAcl(cfg.acl, link, (m) => logger.warn(m));
  const api = new ClientApi({
    link,
    acl,
    catalog,
    datacenter: cfg.datacenter,
    nodeName: cfg.nodeName,
    address: cfg.advertiseAddr,
    metrics,
    beforeLeave: () => localAgent.antiEntropy?.stop(),
    // After the answer is sent, as a server's leave.
    onLeave: () => setImmediate(() => void stop("a graceful leave")),
  });
  let localAgent: RunningLocalAgent;
  try {
    localAgent = await startLocalAgent({
      dataDir,
      node: {
        node: cfg.nodeName,
        id: link.nodeId,
        datacenter: cfg.datacenter,
        address: cfg.advertiseAddr,
        taggedAddresses: tagged,
        meta,
        server: false,
      },
      services: cfg.services,
      checks: cfg.checks,
      catalog,
      log: (level, msg) => logger[level](msg),
      reloadConfig: async () => reloadDefinitions(argv, cfg, logger),
    });
  } catch (e) {
    process.stderr.write(`==> ${errorText(e)}\n`);
    await link.close();
    removeTemp();
    return 1;
  }
  // The first server found ends anti-entropy's "No known Consul servers" failures: retry then.
  link.onServersChanged(() => localAgent.antiEntropy?.serversChanged());
  // Forwarded requests go through the link; its blocking queries park on the server while they wait.
  const via: ForwardVia = {
    call: (method, request, timeoutMs, idempotent) => link.call(method, request, timeoutMs, idempotent),
    callOn: (server, method, request, timeoutMs) => link.callOn(server, method, request, timeoutMs),
    parking: new Parking((server, method, request, timeoutMs) =>
      link.callOn(server, method, request, timeoutMs),
    ),
  };
  const answer: Answer = async (request, incoming) => {
    if (answeredByClient(request.path)) {
      // The handlers resolve tokens synchronously: the request's is resolved through a server first.
      await acl.prefetch(requestToken(request));
      return handle(request, api, localAgent.local, ui);
    }
    const headers = forwardableHeaders(incoming.headers);
    if (request.method === "PUT" && request.path === "/v1/session/create") {
      let named: { req: HttpRequest; headers: Record<string, string> };
      try {
        named = await sessionOnThisNode(request, headers, cfg.nodeName);
      } catch (e) {
        return errorResponse(e);
      }
      return forwardRequest(named.req, named.headers, via);
    }
    return forwardRequest(request, headers, via);
  };
  const listen = requestListener(answer, {
    bodyBytesMax: 16 * 1024 * 1024,
    countRequest: (route, method, status) =>
      metrics.httpRequests.inc({ method, route, code: String(status) }),
    requestLog: {
      debug: (m) => logger.debug(`http: ${m}`),
      error: (m) => logger.error(`http: ${m}`),
      debugEnabled: cfg.logLevel === "trace" || cfg.logLevel === "debug",
    },
  });
  // ports.http and ports.https as a server's (each unless off), and the DNS interface, its reads forwarded.
  const listeners: { name: string; port: number; server: http.Server | https.Server }[] = [];
  if (cfg.ports.http > 0) {
    listeners.push({
      name: "HTTP",
      port: cfg.ports.http,
      server: http.createServer({ keepAlive: true }, listen),
    });
  }
  const httpsTls = httpsServerTls(cfg);
  if (cfg.httpsPort > 0 && httpsTls !== undefined) {
    const server = https.createServer({ ...httpsTls, keepAlive: true }, listen);
    listeners.push({ name: "HTTPS", port: cfg.httpsPort, server });
  }
  let dns: RunningDns | null = null;
  let dnsAcl: NodeJS.Timeout | undefined;
  const closeAll = async (): Promise<void> => {
    clearInterval(dnsAcl);
    for (const l of listeners) {
      l.server.close();
      l.server.closeAllConnections();
    }
    await dns?.close();
    localAgent.stop();
    await link.close();
    removeTemp();
  };
  try {
    for (const l of listeners) {
      l.server.keepAliveTimeout = 65_000;
      await new Promise<void>((resolve, reject) => {
        l.server.once("error", (e) =>
          reject(new Error(`cannot listen for ${l.name} on ${cfg.clientAddr}:${l.port}: ${e}`)),
        );
        l.server.listen(l.port, cfg.clientAddr, () => resolve());
      });
    }
    if (cfg.ports.dns > 0) {
      // DNS answers with the agent's default token (else anonymous): keep its resolution fresh.
      void acl.prefetch(undefined);
      dnsAcl = setInterval(() => void acl.prefetch(undefined), TOKEN_TTL_MS / 2);
      dnsAcl.unref();
      dns = await startDnsServer(cfg.clientAddr, cfg.ports.dns, {
        api,
        config: cfg.dns,
        log: (level, msg) => logger[level](msg),
      }).catch((e: unknown) => {
        throw new Error(`cannot listen for DNS on ${cfg.clientAddr}:${cfg.ports.dns}: ${String(e)}`);
      });
    }
  } catch (e) {
    process.stderr.write(`==> ${errorText(e)}\n`);
    await closeAll();
    return 1;
  }
  const listening = listeners.map((l) => {
    const at = l.server.address() as AddressInfo;
    return `${l.name} ${at.address}:${at.port}`;
  });
  if (dns !== null) listening.push(`DNS ${cfg.clientAddr}:${dns.port} (TCP, UDP)`);
  logger.info(
    `cairn agent running: client node ${cfg.nodeName}, datacenter ${cfg.datacenter}, ${listening.join(", ") || "no listeners"}`,
  );
  return new Promise<number>((resolve) => {
    let stopping = false;
    stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info(`caught ${signal}, shutting down`);
      await closeAll();
      resolve(0);
    };
    process.once("SIGINT", () => void stop("SIGINT"));
    process.once("SIGTERM", () => void stop("SIGTERM"));
    process.on("SIGHUP", () => {
      localAgent.local.reload().catch((e: unknown) => logger.warn(`reload failed: ${errorText(e)}`));
    });
  });
}
