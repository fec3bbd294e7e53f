/** What the server and the client agent share of their wiring: reload, internal RPC TLS, tagged addresses. */
import type https from "node:https";
import type { ConfigDefinitions } from "../local/config.js";
import type { MutualTlsSettings } from "../server/boot.js";
import { errorText } from "../util/errors.js";
import { type AgentConfig, parseAgentArgs } from "./config.js";

/**
 * PUT /v1/agent/reload: the flags and config files read again. Services and checks are applied (LocalState); any
 * other setting cairn only reads at start is named in a warning, since the running agent keeps its old value.
 */
export function reloadDefinitions(
  argv: readonly string[],
  current: AgentConfig,
  logger: { warn(msg: string): void; info(msg: string): void },
): ConfigDefinitions {
  let next: AgentConfig;
  try {
    next = parseAgentArgs(argv, process.env);
  } catch (e) {
    throw new Error(`Failed to reload configs: ${errorText(e)}`, { cause: e });
  }
  const unchanged = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
  const fixed = (Object.keys(next) as (keyof AgentConfig)[]).filter(
    (k) => k !== "services" && k !== "checks" && k !== "warnings" && !unchanged(next[k], current[k]),
  );
  for (const k of fixed)
    logger.warn(`reload: "${k}" changed but is only read at start; restart the agent to apply it`);
  logger.info(
    `reload: ${next.services.length} services and ${next.checks.length} checks from the configuration`,
  );
  return { services: next.services, checks: next.checks };
}

/** Servers speak mutual TLS when internal RPC verifies either way (config-tls.ts says why both ways at once). */
export function internalRpcTls(cfg: AgentConfig): MutualTlsSettings | undefined {
  const t = cfg.tls.internalRpc;
  if (!(t.verifyIncoming || t.verifyOutgoing) || t.pair === undefined) return undefined;
  const domain = cfg.dns.domain.replace(/\.$/, "");
  const names = new Set([`server.${cfg.datacenter}.cairn`, `server.${cfg.datacenter}.consul`]);
  names.add(`server.${cfg.datacenter}.${domain}`);
  return {
    ca: t.ca,
    cert: t.pair.cert,
    key: t.pair.key,
    verifyIncoming: t.verifyIncoming,
    verifyOutgoing: t.verifyOutgoing,
    serverNames: t.verifyServerHostname ? [...names] : [],
  };
}

/** The tagged addresses a Consul agent reports for its node: lan/wan, plus the family-specific pair. */
export function lanWan(addr: string): Record<string, string> {
  const family = addr.includes(":") ? "ipv6" : "ipv4";
  return { lan: addr, [`lan_${family}`]: addr, wan: addr, [`wan_${family}`]: addr };
}

/** The HTTPS listener's TLS: verify_incoming asks every client for a certificate from the CA. */
export function httpsServerTls(cfg: AgentConfig): https.ServerOptions | undefined {
  const t = cfg.tls.https;
  if (t.pair === undefined) return undefined;
  const ca = t.ca.length > 0 ? { ca: [...t.ca] } : {};
  return {
    ...ca,
    cert: t.pair.cert,
    key: t.pair.key,
    requestCert: t.verifyIncoming,
    rejectUnauthorized: t.verifyIncoming,
  };
}
