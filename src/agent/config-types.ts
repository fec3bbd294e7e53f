/**
 * The vocabulary the agent-configuration modules share: the resolved AgentConfig, one source's Layer, the error
 * they all throw and the AgentHost seam. It is a module of its own so that config.ts (the entry) can import
 * config-file.ts and config-resolve.ts, which need these too, without an import cycle; config.ts re-exports the
 * public part.
 *
 * Everything the parser reads from the machine (files, hostname, interfaces) goes through `AgentHost`, so tests
 * run without touching the disk or depending on the machine's network.
 */
import type { networkInterfaces } from "node:os";
import type { DnsConfig } from "../dns/config.js";
import type { CheckDef, ServiceRegistration } from "../local/defs.js";
import type { ConfigFs } from "../util/config-file.js";
import { ConfigError } from "../util/errors.js";
import type { AclConfig } from "./config-acl.js";
import type { AgentTls } from "./config-tls.js";

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";

/** A `-retry-join` target: a server's RPC address. `host` is an IP or DNS name (IPv6 without brackets). */
export interface JoinAddr {
  readonly host: string;
  readonly port: number;
}

/** cairn-only Raft timing (the `raft` object of a config file). Invariant: heartbeatIntervalMs < electionTimeoutMs. */
export interface RaftTuning {
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  /** Applied entries between two FSM snapshots (Consul's raft_snapshot_threshold, default 16384). */
  readonly snapshotThreshold: number;
}

export interface AgentConfig {
  readonly server: boolean;
  readonly dev: boolean;
  /** Bootstrap a one-server configuration at once (Consul's `bootstrap`; set by -dev). */
  readonly bootstrap: boolean;
  /** Servers to wait for before the first election; 0 = not set. */
  readonly bootstrapExpect: number;
  /** Deduplicated, in the order given. */
  readonly retryJoin: readonly JoinAddr[];
  /** WAN addresses of servers of other datacenters (`-retry-join-wan`; port 8302 when none). Servers only. */
  readonly retryJoinWan: readonly JoinAddr[];
  readonly nodeName: string;
  /** Address the server RPC listener binds (may be 0.0.0.0 or ::). */
  readonly bindAddr: string;
  /** Address other servers reach this one at. Invariant: a concrete IP, never 0.0.0.0 or ::. */
  readonly advertiseAddr: string;
  /** Address the HTTP API binds. */
  readonly clientAddr: string;
  /** `dns` is -1 when the DNS interface is disabled (Consul: a port of 0 or below); `http` is -1 when off. */
  readonly ports: { readonly http: number; readonly server: number; readonly dns: number };
  /** Consul's `ports.serf_wan` (`-serf-wan-port`, default 8302): where a server joins other datacenters; -1 off. */
  readonly serfWanPort: number;
  /** `ports.https` (config files only, no flag, as Consul): -1 unless set, as Consul's default. */
  readonly httpsPort: number;
  /** The `tls` stanza, its files read and checked (config-tls.ts). */
  readonly tls: AgentTls;
  /** `-domain` and `dns_config`, with Consul's defaults. */
  readonly dns: DnsConfig;
  /** Use: when `dataDirTemp`, a prefix for fs.mkdtemp; the agent creates the directory and removes it on exit. */
  readonly dataDir: string;
  readonly dataDirTemp: boolean;
  /** Lower-cased, as Consul does before validating it. */
  readonly datacenter: string;
  readonly logLevel: LogLevel;
  readonly logJson: boolean;
  readonly ui: boolean;
  readonly raft: RaftTuning;
  /** `reconnect_timeout` (Consul's default 72 h, at least 8 h): a client failed this long is deregistered. */
  readonly reconnectTimeoutMs: number;
  /** Config files read, in the order applied (for the startup log). */
  readonly configFiles: readonly string[];
  /** Consul's non-fatal warnings (e.g. an even bootstrap_expect); the agent logs them at startup. */
  readonly warnings: readonly string[];
  /** Service and node-check definitions of the config files (`service`, `services`, `check`, `checks`), in order. */
  readonly services: readonly ServiceRegistration[];
  readonly checks: readonly CheckDef[];
  readonly acl: AclConfig;
}

/** Bad flags, config files or values. `showUsage` is true for command-line syntax errors, as Go's flag prints. */
export class AgentConfigError extends ConfigError {
  readonly code = "agent_config";
  override name = "AgentConfigError";
}

/** What the parser reads from the machine. Errors thrown by readFile/readDir are reported with the path. */
export interface AgentHost extends ConfigFs {
  hostname(): string;
  networkInterfaces(): ReturnType<typeof networkInterfaces>;
  tmpdir(): string;
}

export type Env = Readonly<Record<string, string | undefined>>;

/** One source's settings; absent = not set by this source. */
export interface Layer {
  server?: boolean;
  bootstrap?: boolean;
  bootstrapExpect?: number;
  retryJoin?: string[];
  retryJoinWan?: string[];
  serfWanPort?: number;
  nodeName?: string;
  bindAddr?: string;
  advertiseAddr?: string;
  clientAddr?: string;
  httpPort?: number;
  serverPort?: number;
  dnsPort?: number;
  httpsPort?: number;
  /** `tls.<section>.<key>` settings by full path; merged key by key over layers. */
  tls?: Record<string, string | boolean>;
  domain?: string;
  /** `dns_config`: durations in ms as read, service TTLs still text (checked when resolved). */
  dnsNodeTtlMs?: number;
  dnsServiceTtl?: Record<string, string>;
  dnsOnlyPassing?: boolean;
  dnsAllowStale?: boolean;
  dnsEnableTruncate?: boolean;
  dnsUdpAnswerLimit?: number;
  dnsNodeMetaTxt?: boolean;
  dataDir?: string;
  /** `reconnect_timeout`: how long a failed client agent stays before the leader reaps it. */
  reconnectTimeoutMs?: number;
  datacenter?: string;
  logLevel?: string;
  logJson?: boolean;
  ui?: boolean;
  electionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  snapshotThreshold?: number;
  /** Definitions accumulate over files, as Consul appends them. */
  services?: ServiceRegistration[];
  checks?: CheckDef[];
  /** The `acl` block (config-acl.ts). */
  aclEnabled?: boolean;
  aclDefaultPolicy?: string;
  aclDownPolicy?: string;
  aclEnableKeyListPolicy?: boolean;
  aclInitialManagement?: string;
  aclMaster?: string;
  aclAgentToken?: string;
  aclAgentRecovery?: string;
  aclAgentMaster?: string;
  aclDefaultToken?: string;
}
