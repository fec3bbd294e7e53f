/**
 * Resolves the merged Layer into an AgentConfig: defaults, then Consul's checks. Validation follows Consul's config
 * builder (agent/config/builder.go Validate) and reuses its messages where it has one, so operators can search
 * them; the entry point prints them after `==> `.
 */

import { join } from "node:path";
import { RECONNECT_TIMEOUT_MS } from "../api/client-reconcile.js";
import { DNS_DEFAULTS, type DnsConfig, normalizeDomain } from "../dns/config.js";
import { durationMs } from "../util/config-keys.js";
import { errorText } from "../util/errors.js";
import { goQuote } from "../util/goquote.js";
import { resolveAcl } from "./config-acl.js";
import { type AgentTls, resolveTls } from "./config-tls.js";
import {
  type AgentConfig,
  AgentConfigError,
  type AgentHost,
  type Env,
  type JoinAddr,
  type Layer,
  type LogLevel,
  type RaftTuning,
} from "./config-types.js";

const LOG_LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warn", "error"];

const DEFAULT_HTTP_PORT = 8500;
const DEFAULT_SERVER_PORT = 8300;
const DEFAULT_DNS_PORT = 8600;
const PORT_MAX = 65535;
const ELECTION_TIMEOUT_MS_DEFAULT = 1000;
const HEARTBEAT_INTERVAL_MS_DEFAULT = 100;
const SNAPSHOT_THRESHOLD_DEFAULT = 16384;
/** Longer than this, a lost leader stalls writes for so long that it is surely a typo (seconds for ms). */
const ELECTION_TIMEOUT_MS_MAX = 60_000;

export interface ResolveContext {
  readonly dev: boolean;
  readonly env: Env;
  readonly host: AgentHost;
  readonly configFiles: readonly string[];
}

/** Applies defaults and Consul's checks, in Consul's order, so the first error reported is Consul's. */
export function resolveConfig(l: Layer, ctx: ResolveContext): AgentConfig {
  const datacenter = (l.datacenter ?? "dc1").toLowerCase();
  if (datacenter === "") throw new AgentConfigError("datacenter cannot be empty");
  if (!/^[a-z0-9_-]+$/.test(datacenter)) {
    throw new AgentConfigError(`datacenter cannot be ${goQuote(datacenter)}. Please use only [a-z0-9-_].`);
  }
  const dataDirTemp = ctx.dev && (l.dataDir ?? "") === "";
  const dataDir = dataDirTemp ? join(ctx.env.TMPDIR || ctx.host.tmpdir(), "cairn-dev-") : (l.dataDir ?? "");
  if (dataDir === "") throw new AgentConfigError("data_dir cannot be empty");
  const nodeName = l.nodeName ?? ctx.host.hostname();
  if (nodeName === "") throw new AgentConfigError("node_name cannot be empty");
  const addrs = resolveAddrs(l, ctx.host);
  const server = l.server ?? false;
  const bootstrap = l.bootstrap ?? false;
  const bootstrapExpect = l.bootstrapExpect ?? 0;
  checkBootstrap(server, bootstrap, bootstrapExpect, ctx.dev);
  if ((l.retryJoinWan ?? []).length > 0 && !server) {
    throw new AgentConfigError(
      "'retry_join_wan' requires 'server = true': client agents join no other datacenter",
    );
  }
  const acl = resolveAcl(l);
  const tls = resolveTls(l, ctx.host);
  return {
    server,
    dev: ctx.dev,
    bootstrap,
    bootstrapExpect,
    retryJoin: parseJoins(l.retryJoin ?? []),
    retryJoinWan: parseJoins(l.retryJoinWan ?? [], DEFAULT_SERF_WAN_PORT, "retry_join_wan"),
    nodeName,
    ...addrs,
    ports: {
      // -1 turns plain HTTP off (an HTTPS-only agent), as Consul's; 0 stays an error here.
      http: l.httpPort === -1 ? -1 : port(l.httpPort, DEFAULT_HTTP_PORT, "http"),
      server: port(l.serverPort, DEFAULT_SERVER_PORT, "server"),
      dns: dnsPort(l.dnsPort),
    },
    serfWanPort: serfWanPort(l.serfWanPort, server && (l.retryJoinWan ?? []).length > 0),
    httpsPort: httpsPort(l.httpsPort, tls),
    tls,
    dns: dnsConfig(l),
    dataDir,
    dataDirTemp,
    datacenter,
    logLevel: logLevel(l.logLevel ?? "info"),
    logJson: l.logJson ?? false,
    ui: l.ui ?? false,
    raft: raftTuning(l),
    reconnectTimeoutMs: reconnectTimeout(l, ctx.env),
    configFiles: ctx.configFiles,
    warnings: [...bootstrapWarnings(server, bootstrap, bootstrapExpect, ctx.dev), ...acl.warnings],
    services: l.services ?? [],
    checks: l.checks ?? [],
    acl: acl.acl,
  };
}

function checkBootstrap(server: boolean, bootstrap: boolean, expect: number, dev: boolean): void {
  if (bootstrap && !server) throw new AgentConfigError("'bootstrap = true' requires 'server = true'");
  if (expect < 0) {
    throw new AgentConfigError(`bootstrap_expect cannot be ${expect}. Must be greater than or equal to zero`);
  }
  if (expect > 0 && !server) throw new AgentConfigError("'bootstrap_expect > 0' requires 'server = true'");
  if (expect > 0 && dev) throw new AgentConfigError("'bootstrap_expect > 0' not allowed in dev mode");
  if (expect > 0 && bootstrap) {
    throw new AgentConfigError("'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive");
  }
}

/** Consul's warnings, word for word, with the link to its deployment table. */
function bootstrapWarnings(server: boolean, bootstrap: boolean, expect: number, dev: boolean): string[] {
  const table = "See https://www.consul.io/docs/internals/consensus.html#deployment-table";
  const w: string[] = [];
  if (!server || bootstrap) {
    if (server && bootstrap && expect === 0) w.push("bootstrap = true: do not enable unless necessary");
    return w;
  }
  if (!dev && expect === 2) {
    w.push(`bootstrap_expect = 2: A cluster with 2 servers will provide no failure tolerance. ${table}`);
  }
  if (expect > 2 && expect % 2 === 0) {
    w.push(
      "bootstrap_expect is even number: A cluster with an even number of servers does not achieve optimum " +
        `fault tolerance. ${table}`,
    );
  }
  if (!dev && expect > 1) w.push(`bootstrap_expect > 0: expecting ${expect} servers`);
  return w;
}

function port(value: number | undefined, def: number, key: string): number {
  const p = value ?? def;
  if (!Number.isInteger(p) || p < 1 || p > PORT_MAX) {
    throw new AgentConfigError(`ports.${key} cannot be ${p}. Must be between 1 and ${PORT_MAX}`);
  }
  return p;
}

/** Serf's WAN port, Consul's default; cairn's servers join other datacenters on it (docs/membership.md). */
export const DEFAULT_SERF_WAN_PORT = 8302;

/**
 * As the DNS port: 0 or below turns the WAN listener off (Consul's portVal). cairn's decision: a server listens on
 * it only when the WAN is asked for (`-retry-join-wan` given, or the port set), since servers of one datacenter
 * often share a host, where a default WAN port would collide (consul-compat.md, Decisions).
 */
function serfWanPort(value: number | undefined, joinsWan: boolean): number {
  if (value === undefined && !joinsWan) return -1;
  const p = value ?? DEFAULT_SERF_WAN_PORT;
  if (p <= 0) return -1;
  return port(p, DEFAULT_SERF_WAN_PORT, "serf_wan");
}

/** Consul disables an interface whose port is 0 or below (builder.go portVal; `-dns-port -1`). */
function dnsPort(value: number | undefined): number {
  const p = value ?? DEFAULT_DNS_PORT;
  if (p <= 0) return -1;
  return port(p, DEFAULT_DNS_PORT, "dns");
}

/** Consul's default for https is -1, off; a port of 0 or below is off too (portVal). HTTPS needs a cert and key. */
function httpsPort(value: number | undefined, tls: AgentTls): number {
  if (value === undefined || value <= 0) return -1;
  const p = port(value, value, "https");
  if (tls.https.pair === undefined) {
    throw new AgentConfigError(
      "ports.https is set, and no Cert/Key pair provided! (set tls.defaults or tls.https cert_file and key_file)",
    );
  }
  return p;
}

/** Consul's least reconnect_timeout (its default: RECONNECT_TIMEOUT_MS). */
const RECONNECT_TIMEOUT_MS_MIN = 8 * 3600_000;

/**
 * `reconnect_timeout`, at least 8 h as Consul's. Tests that watch a client reaped set CAIRN_TEST_RECONNECT_TIMEOUT_ANY=1
 * in the agent's environment to accept a shorter one (cairn's, not Consul's).
 */
function reconnectTimeout(l: Layer, env: Env): number {
  const ms = l.reconnectTimeoutMs ?? RECONNECT_TIMEOUT_MS;
  if (ms < RECONNECT_TIMEOUT_MS_MIN && env.CAIRN_TEST_RECONNECT_TIMEOUT_ANY !== "1") {
    throw new AgentConfigError("reconnect_timeout must be >= 8h");
  }
  if (ms <= 0) throw new AgentConfigError("reconnect_timeout must be positive");
  return ms;
}

function dnsConfig(l: Layer): DnsConfig {
  let domain: string;
  try {
    domain = normalizeDomain(l.domain ?? "consul.");
  } catch (e) {
    throw new AgentConfigError(errorText(e));
  }
  const serviceTtl: Record<string, number> = {};
  for (const [name, text] of Object.entries(l.dnsServiceTtl ?? {})) {
    const ms = durationMs(text);
    const why = typeof ms === "string" ? ms : ms < 0 ? "must not be negative" : undefined;
    if (why !== undefined) {
      throw new AgentConfigError(
        `dns_config.service_ttl[${goQuote(name)}] cannot be ${goQuote(text)}: ${why}`,
      );
    }
    // Consul keeps whole seconds (uint32(ttl / time.Second)).
    serviceTtl[name] = Math.floor((ms as number) / 1000);
  }
  const limit = l.dnsUdpAnswerLimit ?? DNS_DEFAULTS.udpAnswerLimit;
  // Consul's builder.go Validate, word for word.
  if (limit <= 0) throw new AgentConfigError("dns_config.udp_answer_limit must be > 0");
  return {
    domain,
    nodeTtl: Math.floor((l.dnsNodeTtlMs ?? 0) / 1000),
    serviceTtl,
    onlyPassing: l.dnsOnlyPassing ?? DNS_DEFAULTS.onlyPassing,
    allowStale: l.dnsAllowStale ?? DNS_DEFAULTS.allowStale,
    enableTruncate: l.dnsEnableTruncate ?? DNS_DEFAULTS.enableTruncate,
    udpAnswerLimit: limit,
    nodeMetaTxt: l.dnsNodeMetaTxt ?? DNS_DEFAULTS.nodeMetaTxt,
  };
}

function logLevel(s: string): LogLevel {
  const lower = s.toLowerCase();
  const level = LOG_LEVELS.find((l) => l === lower);
  if (level === undefined) {
    throw new AgentConfigError(`log_level cannot be ${goQuote(s)}. Use one of: ${LOG_LEVELS.join(", ")}`);
  }
  return level;
}

function raftTuning(l: Layer): RaftTuning {
  const electionTimeoutMs = l.electionTimeoutMs ?? ELECTION_TIMEOUT_MS_DEFAULT;
  const heartbeatIntervalMs = l.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS_DEFAULT;
  const snapshotThreshold = l.snapshotThreshold ?? SNAPSHOT_THRESHOLD_DEFAULT;
  if (electionTimeoutMs < 1 || electionTimeoutMs > ELECTION_TIMEOUT_MS_MAX) {
    throw new AgentConfigError(
      `raft.election_timeout_ms cannot be ${electionTimeoutMs}. Must be between 1 and ${ELECTION_TIMEOUT_MS_MAX}`,
    );
  }
  // A follower that hears no heartbeat within its election timeout campaigns, so heartbeats must come sooner.
  if (heartbeatIntervalMs < 1 || heartbeatIntervalMs >= electionTimeoutMs) {
    throw new AgentConfigError(
      `raft.heartbeat_interval_ms cannot be ${heartbeatIntervalMs}. Must be at least 1 and less than ` +
        `raft.election_timeout_ms (${electionTimeoutMs})`,
    );
  }
  if (snapshotThreshold < 1) {
    throw new AgentConfigError(`raft.snapshot_threshold cannot be ${snapshotThreshold}. Must be at least 1`);
  }
  return { electionTimeoutMs, heartbeatIntervalMs, snapshotThreshold };
}

interface Addrs {
  readonly bindAddr: string;
  readonly advertiseAddr: string;
  readonly clientAddr: string;
}

function resolveAddrs(l: Layer, host: AgentHost): Addrs {
  const bindAddr = ipOrThrow(l.bindAddr ?? "0.0.0.0", "bind_addr");
  const clientAddr = ipOrThrow(l.clientAddr ?? "127.0.0.1", "client_addr");
  let advertiseAddr: string;
  if (l.advertiseAddr !== undefined) {
    advertiseAddr = ipOrThrow(l.advertiseAddr, "advertise_addr");
    if (isAny(advertiseAddr)) throw new AgentConfigError("Advertise address cannot be 0.0.0.0, :: or [::]");
  } else {
    advertiseAddr = isAny(bindAddr) ? firstPublicIPv4(host) : bindAddr;
  }
  return { bindAddr, advertiseAddr, clientAddr };
}

/** Returns the address without IPv6 brackets; Consul also takes go-sockaddr templates, which cairn does not. */
function ipOrThrow(raw: string, key: string): string {
  const s = raw.startsWith("[") && raw.endsWith("]") ? raw.slice(1, -1) : raw;
  if (isIPv4(s) || isIPv6(s)) return s;
  const hint = raw.includes("{{") ? " (go-sockaddr templates are not supported)" : "";
  throw new AgentConfigError(`${key} cannot be ${goQuote(raw)}. Must be an IP address${hint}`);
}

export function isIPv4(s: string): boolean {
  return /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(s);
}

/** node:net is outside this folder's allowed imports; the WHATWG URL parser validates IPv6 exactly. */
export function isIPv6(s: string): boolean {
  if (!s.includes(":") || !/^[0-9a-fA-F:.]+$/.test(s)) return false;
  try {
    new URL(`http://[${s}]/`);
    return true;
  } catch {
    return false;
  }
}

function isAny(ip: string): boolean {
  return ip === "0.0.0.0" || /^[0:]+$/.test(ip);
}

/** Consul picks the one private IPv4; cairn takes the first non-internal one, then loopback as a last resort. */
function firstPublicIPv4(host: AgentHost): string {
  for (const infos of Object.values(host.networkInterfaces())) {
    for (const info of infos ?? []) {
      if (info.family === "IPv4" && !info.internal) return info.address;
    }
  }
  return "127.0.0.1";
}

/** `host[:port]`, `[v6]:port` or a bare IPv6; duplicates dropped (Consul's merge can repeat an address). */
function parseJoins(
  raw: readonly string[],
  defaultPort = DEFAULT_SERVER_PORT,
  what = "retry_join",
): JoinAddr[] {
  const seen = new Set<string>();
  const out: JoinAddr[] = [];
  for (const s of raw) {
    const addr = parseJoin(s, defaultPort, what);
    const key = `${addr.host}\u0000${addr.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(addr);
  }
  return out;
}

export function parseJoin(s: string, defaultPort = DEFAULT_SERVER_PORT, key = "retry_join"): JoinAddr {
  const bad = (why: string) => new AgentConfigError(`${key} cannot be ${goQuote(s)}: ${why}`);
  if (s.includes("provider=")) throw bad("cloud auto-join is not supported; give host[:port]");
  let host = s;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(s);
  if (bracketed !== null) {
    host = bracketed[1] ?? "";
    portText = bracketed[2];
  } else if (s.indexOf(":") === s.lastIndexOf(":") && s.includes(":")) {
    host = s.slice(0, s.indexOf(":"));
    portText = s.slice(s.indexOf(":") + 1);
  }
  if (host === "" || /[\s/[\]]/.test(host)) throw bad("expected host[:port]");
  if (portText === undefined) return { host, port: defaultPort };
  const p = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
  if (p < 1 || p > PORT_MAX) throw bad(`port must be between 1 and ${PORT_MAX}`);
  return { host, port: p };
}
