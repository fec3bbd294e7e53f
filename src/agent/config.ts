/**
 * The server agent's configuration, read as `consul agent` reads its own: defaults, then the `-dev` layer, then
 * each `-config-file`/`-config-dir` in command-line order (files of a directory in name order), then flags. A later
 * layer overrides an earlier one, except `retry_join`, which accumulates over layers as Consul's merge appends
 * slices. Validation follows Consul's config builder (agent/config/builder.go Validate) and reuses its messages
 * where it has one, so operators can search them; the entry point prints them after `==> `.
 *
 * Everything the parser reads from the machine (files, hostname, interfaces) goes through `AgentHost`, so tests
 * run without touching the disk or depending on the machine's network.
 */
import { readdirSync, readFileSync } from "node:fs";
import { hostname, networkInterfaces, tmpdir } from "node:os";
import { extname, join } from "node:path";
import { DEFINITION_KEYS, readDefinitions } from "../local/config.js";
import type { CheckDef, ServiceRegistration } from "../local/defs.js";
import { CairnError, errorText } from "../util/errors.js";
import { type FlagDefs, FlagError, flag, HelpRequested, parseFlags } from "../util/flags.js";
import { goQuote } from "../util/goquote.js";
import { wordWrap } from "../util/text.js";

export { HelpRequested };

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";
const LOG_LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warn", "error"];

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
  readonly nodeName: string;
  /** Address the server RPC listener binds (may be 0.0.0.0 or ::). */
  readonly bindAddr: string;
  /** Address other servers reach this one at. Invariant: a concrete IP, never 0.0.0.0 or ::. */
  readonly advertiseAddr: string;
  /** Address the HTTP API binds. */
  readonly clientAddr: string;
  readonly ports: { readonly http: number; readonly server: number };
  /** Use: when `dataDirTemp`, a prefix for fs.mkdtemp; the agent creates the directory and removes it on exit. */
  readonly dataDir: string;
  readonly dataDirTemp: boolean;
  /** Lower-cased, as Consul does before validating it. */
  readonly datacenter: string;
  readonly logLevel: LogLevel;
  readonly logJson: boolean;
  readonly ui: boolean;
  readonly raft: RaftTuning;
  /** Config files read, in the order applied (for the startup log). */
  readonly configFiles: readonly string[];
  /** Consul's non-fatal warnings (e.g. an even bootstrap_expect); the agent logs them at startup. */
  readonly warnings: readonly string[];
  /** Service and node-check definitions of the config files (`service`, `services`, `check`, `checks`), in order. */
  readonly services: readonly ServiceRegistration[];
  readonly checks: readonly CheckDef[];
}

/** Bad flags, config files or values. `showUsage` is true for command-line syntax errors, as Go's flag prints. */
export class AgentConfigError extends CairnError {
  readonly code = "agent_config";
  override name = "AgentConfigError";
  readonly showUsage: boolean;
  constructor(message: string, showUsage = false) {
    super(message);
    this.showUsage = showUsage;
  }
}

/** What the parser reads from the machine. Errors thrown by readFile/readDir are reported with the path. */
export interface AgentHost {
  readFile(path: string): string;
  /** Names (not paths) of the entries of a directory. */
  readDir(path: string): string[];
  hostname(): string;
  networkInterfaces(): ReturnType<typeof networkInterfaces>;
  tmpdir(): string;
}

export const nodeAgentHost: AgentHost = {
  readFile: (path) => readFileSync(path, "utf8"),
  readDir: (path) => readdirSync(path),
  hostname,
  networkInterfaces,
  tmpdir,
};

export type Env = Readonly<Record<string, string | undefined>>;

const DEFAULT_HTTP_PORT = 8500;
const DEFAULT_SERVER_PORT = 8300;
const PORT_MAX = 65535;
const ELECTION_TIMEOUT_MS_DEFAULT = 1000;
const HEARTBEAT_INTERVAL_MS_DEFAULT = 100;
const SNAPSHOT_THRESHOLD_DEFAULT = 16384;
/** Longer than this, a lost leader stalls writes for so long that it is surely a typo (seconds for ms). */
const ELECTION_TIMEOUT_MS_MAX = 60_000;
const CONFIG_FILE_BYTES_MAX = 4 * 1024 * 1024;

export const agentFlags = {
  server: flag.bool(false, "Switches agent to server mode."),
  dev: flag.bool(false, "Starts the agent in development mode."),
  bootstrap: flag.bool(false, "Sets server to bootstrap mode."),
  "bootstrap-expect": flag.int(0, "Sets server to expect bootstrap mode."),
  "retry-join": flag.list(
    "Address of a server to join at start time with retries enabled, as `host[:port]` (port 8300 when " +
      "omitted). Can be specified multiple times.",
  ),
  node: flag.string("", "Name of this node. Must be unique in the cluster. Defaults to the hostname."),
  bind: flag.string("", "Sets the bind address for cluster communication (server RPC). Default 0.0.0.0."),
  advertise: flag.string("", "Sets the advertise address to use."),
  client: flag.string("", "Sets the address to bind for client access (HTTP). Default 127.0.0.1."),
  "http-port": flag.int(0, "Sets the HTTP API port to listen on. Default 8500."),
  "server-port": flag.int(0, "Sets the server port to listen on. Default 8300."),
  "data-dir": flag.string("", "Path to a data directory to store agent state."),
  datacenter: flag.string("", "Datacenter of the agent. Default dc1."),
  "config-file": flag.list("A JSON file to read configuration from. Can be specified multiple times."),
  "config-dir": flag.list(
    "Path to a directory to read configuration files from. Files ending in .json are read in name order. " +
      "Can be specified multiple times.",
  ),
  "log-level": flag.string("", "Log level of the agent: trace, debug, info, warn or error. Default info."),
  "log-json": flag.bool(false, "Output logs in JSON format."),
  ui: flag.bool(false, "Enables the built-in static web UI server."),
} as const satisfies FlagDefs;

/** One source's settings; absent = not set by this source. */
interface Layer {
  server?: boolean;
  bootstrap?: boolean;
  bootstrapExpect?: number;
  retryJoin?: string[];
  nodeName?: string;
  bindAddr?: string;
  advertiseAddr?: string;
  clientAddr?: string;
  httpPort?: number;
  serverPort?: number;
  dataDir?: string;
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
}

/**
 * Parses `consul agent`-style arguments (without the leading `agent`) into a validated configuration.
 * Throws AgentConfigError for any bad input, or HelpRequested for `-h`/`-help` (print agentUsage(), exit 0).
 * `env` supplies TMPDIR for `-dev`'s data directory.
 */
export function parseAgentArgs(
  argv: readonly string[],
  env: Env,
  host: AgentHost = nodeAgentHost,
): AgentConfig {
  let parsed: ReturnType<typeof parseFlags<typeof agentFlags>>;
  try {
    parsed = parseFlags(agentFlags, argv);
  } catch (e) {
    if (e instanceof FlagError) throw new AgentConfigError(e.message, true);
    throw e;
  }
  if (parsed.args.length > 0) {
    throw new AgentConfigError(`config: Unknown extra arguments: [${parsed.args.join(" ")}]`);
  }
  const dev = parsed.values.dev;
  const layers: Layer[] = [];
  if (dev) layers.push(devLayer());
  const configFiles: string[] = [];
  for (const source of configSources(argv.slice(0, argv.length - parsed.args.length))) {
    for (const file of source.dir ? dirFiles(source.path, host) : [source.path]) {
      layers.push(readConfigFile(file, host));
      configFiles.push(file);
    }
  }
  layers.push(flagLayer(parsed.values, parsed.set));
  return resolve(merge(layers), { dev, env, host, configFiles });
}

/** Consul's DevSource, the parts cairn has: one server that elects itself, everything on loopback, chatty logs. */
function devLayer(): Layer {
  return {
    server: true,
    bootstrap: true,
    bindAddr: "127.0.0.1",
    clientAddr: "127.0.0.1",
    logLevel: "debug",
    ui: true,
  };
}

type AgentFlagValues = ReturnType<typeof parseFlags<typeof agentFlags>>["values"];

/** Only flags given on the command line form the top layer, so an unset flag never hides a file's value. */
function flagLayer(v: AgentFlagValues, set: ReadonlySet<string>): Layer {
  const l: Layer = {};
  if (set.has("server")) l.server = v.server;
  if (set.has("bootstrap")) l.bootstrap = v.bootstrap;
  if (set.has("bootstrap-expect")) l.bootstrapExpect = v["bootstrap-expect"];
  if (set.has("retry-join")) l.retryJoin = v["retry-join"];
  if (set.has("node")) l.nodeName = v.node;
  if (set.has("bind")) l.bindAddr = v.bind;
  if (set.has("advertise")) l.advertiseAddr = v.advertise;
  if (set.has("client")) l.clientAddr = v.client;
  if (set.has("http-port")) l.httpPort = v["http-port"];
  if (set.has("server-port")) l.serverPort = v["server-port"];
  if (set.has("data-dir")) l.dataDir = v["data-dir"];
  if (set.has("datacenter")) l.datacenter = v.datacenter;
  if (set.has("log-level")) l.logLevel = v["log-level"];
  if (set.has("log-json")) l.logJson = v["log-json"];
  if (set.has("ui")) l.ui = v.ui;
  return l;
}

function merge(layers: readonly Layer[]): Layer {
  const out: Layer = {};
  const joins: string[] = [];
  const services: ServiceRegistration[] = [];
  const checks: CheckDef[] = [];
  for (const layer of layers) {
    Object.assign(out, layer);
    joins.push(...(layer.retryJoin ?? []));
    services.push(...(layer.services ?? []));
    checks.push(...(layer.checks ?? []));
  }
  out.retryJoin = joins;
  out.services = services;
  out.checks = checks;
  return out;
}

interface ConfigSource {
  readonly path: string;
  readonly dir: boolean;
}

/**
 * `-config-file` and `-config-dir` in the order given, interleaved, as Consul applies them. parseFlags keeps one
 * list per flag, so this walks the flag part of argv again with the same definitions to recover the order.
 */
function configSources(flagArgv: readonly string[]): ConfigSource[] {
  const out: ConfigSource[] = [];
  for (let i = 0; i < flagArgv.length; i++) {
    const s = flagArgv[i] ?? "";
    if (s === "--") break;
    const body = s.startsWith("--") ? s.slice(2) : s.slice(1);
    const eq = body.indexOf("=");
    const name = eq > 0 ? body.slice(0, eq) : body;
    const def = Object.hasOwn(agentFlags, name) ? agentFlags[name as keyof typeof agentFlags] : undefined;
    if (def === undefined || def.kind === "bool") continue;
    const value = eq > 0 ? body.slice(eq + 1) : (flagArgv[++i] ?? "");
    if (name === "config-file") out.push({ path: value, dir: false });
    if (name === "config-dir") out.push({ path: value, dir: true });
  }
  return out;
}

function dirFiles(dir: string, host: AgentHost): string[] {
  let names: string[];
  try {
    names = host.readDir(dir);
  } catch (e) {
    throw new AgentConfigError(`cannot read config dir ${goQuote(dir)}: ${errorText(e)}`);
  }
  const sorted = [...names].sort();
  const hcl = sorted.find((n) => n.endsWith(".hcl"));
  // Consul reads .hcl files from a config dir too; skipping one silently would drop settings the operator wrote.
  if (hcl !== undefined) throw hclError(join(dir, hcl));
  return sorted.filter((n) => n.endsWith(".json")).map((n) => join(dir, n));
}

function hclError(file: string): AgentConfigError {
  return new AgentConfigError(
    `cannot read config file ${goQuote(file)}: HCL is not supported yet; write the configuration as JSON`,
  );
}

function readConfigFile(file: string, host: AgentHost): Layer {
  const ext = extname(file);
  if (ext === ".hcl") throw hclError(file);
  if (ext !== ".json") {
    throw new AgentConfigError(`cannot read config file ${goQuote(file)}: its name must end in .json`);
  }
  let text: string;
  try {
    text = host.readFile(file);
  } catch (e) {
    throw new AgentConfigError(`cannot read config file ${goQuote(file)}: ${errorText(e)}`);
  }
  if (text.length > CONFIG_FILE_BYTES_MAX) {
    throw new AgentConfigError(`config file ${goQuote(file)} is larger than ${CONFIG_FILE_BYTES_MAX} bytes`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new AgentConfigError(`invalid JSON in config file ${goQuote(file)}: ${jsonErrorPlace(text, e)}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new AgentConfigError(`config file ${goQuote(file)} must hold a JSON object`);
  }
  const layer: Layer = {};
  const settings: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) if (!DEFINITION_KEYS.includes(k)) settings[k] = v;
  readObject(settings, FILE_SCHEMA, "", file, layer);
  try {
    const defs = readDefinitions(doc as Record<string, unknown>);
    layer.services = [...defs.services];
    layer.checks = [...defs.checks];
  } catch (e) {
    throw new AgentConfigError(`config file ${goQuote(file)}: ${errorText(e)}`);
  }
  return layer;
}

/**
 * "line L, column C: <reason>". V8 reports an offset for some syntax errors only ("Unexpected token 'x', ... is not
 * valid JSON" has none, and its wording changes between Node versions), so the place comes from a scan of our own.
 */
function jsonErrorPlace(text: string, e: unknown): string {
  const reason = errorText(e)
    .replace(/, ".*" is not valid JSON$/s, "")
    .replace(/ in JSON at position \d+.*$/s, "");
  const offset = jsonErrorOffset(text);
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - (before.lastIndexOf("\n") + 1) + 1;
  return `line ${line}, column ${column}: ${reason}`;
}

class JsonStop {
  constructor(readonly offset: number) {}
}
const JSON_DEPTH_MAX = 256;

/** Offset of the first RFC 8259 syntax error (text.length for an early end). Called only after JSON.parse failed. */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const stop = (): never => {
    throw new JsonStop(i);
  };
  const ws = () => {
    while (/[ \t\n\r]/.test(text[i] ?? "")) i++;
  };
  const expect = (chars: string) => {
    for (const c of chars) {
      if (text[i] !== c) stop();
      i++;
    }
  };
  const value = (depth: number): void => {
    ws();
    const c = text[i] ?? "";
    if (depth > JSON_DEPTH_MAX) stop();
    else if (c === "{" || c === "[") container(c, depth);
    else if (c === '"') jsonString();
    else if (c === "t" || c === "f" || c === "n") expect(c === "t" ? "true" : c === "f" ? "false" : "null");
    else {
      const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
      if (m === null) stop();
      else i += m[0].length;
    }
  };
  const container = (open: string, depth: number) => {
    const close = open === "{" ? "}" : "]";
    i++;
    ws();
    if (text[i] === close) return void i++;
    for (;;) {
      ws();
      if (open === "{") {
        if (text[i] !== '"') stop();
        jsonString();
        ws();
        expect(":");
      }
      value(depth + 1);
      ws();
      if (text[i] === close) return void i++;
      expect(",");
    }
  };
  const jsonString = () => {
    i++;
    for (;;) {
      const c = text[i];
      if (c === undefined || c < " ") stop();
      i++;
      if (c === '"') return;
      if (c === "\\") {
        if (text[i] === "u") {
          i++;
          for (let k = 0; k < 4; k++, i++) if (!/[0-9a-fA-F]/.test(text[i] ?? "")) stop();
        } else if ('"\\/bfnrt'.includes(text[i] ?? "x")) i++;
        else stop();
      }
    }
  };
  try {
    value(0);
    ws();
    if (i < text.length) stop();
  } catch (e) {
    if (e instanceof JsonStop) return Math.min(e.offset, text.length);
    throw e;
  }
  return text.length;
}

type Kind = "bool" | "int" | "string" | "strings";
type FieldKey = keyof Layer;
interface Field {
  readonly kind: Kind;
  readonly field: FieldKey;
}
interface Schema {
  readonly [key: string]: Field | Schema;
}

const f = (kind: Kind, field: FieldKey): Field => ({ kind, field });

/** Config-file keys as Consul spells them, plus cairn's own `raft` object. */
const FILE_SCHEMA: Schema = {
  server: f("bool", "server"),
  bootstrap: f("bool", "bootstrap"),
  bootstrap_expect: f("int", "bootstrapExpect"),
  retry_join: f("strings", "retryJoin"),
  node_name: f("string", "nodeName"),
  bind_addr: f("string", "bindAddr"),
  advertise_addr: f("string", "advertiseAddr"),
  client_addr: f("string", "clientAddr"),
  ports: { http: f("int", "httpPort"), server: f("int", "serverPort") },
  data_dir: f("string", "dataDir"),
  datacenter: f("string", "datacenter"),
  log_level: f("string", "logLevel"),
  log_json: f("bool", "logJson"),
  ui: f("bool", "ui"),
  raft: {
    election_timeout_ms: f("int", "electionTimeoutMs"),
    heartbeat_interval_ms: f("int", "heartbeatIntervalMs"),
    snapshot_threshold: f("int", "snapshotThreshold"),
  },
};

/** Consul keys an operator may well have in an existing file: named as such, not as typos. */
const CONSUL_ONLY = new Set([
  "acl",
  "addresses",
  "advertise_addr_wan",
  "auto_encrypt",
  "ca_file",
  "cert_file",
  "connect",
  "disable_update_check",
  "dns_config",
  "enable_script_checks",
  "encrypt",
  "key_file",
  "leave_on_terminate",
  "node_meta",
  "performance",
  "ports.dns",
  "ports.grpc",
  "ports.grpc_tls",
  "ports.https",
  "ports.serf_lan",
  "ports.serf_wan",
  "primary_datacenter",
  "raft_snapshot_threshold",
  "retry_interval",
  "telemetry",
  "tls",
  "ui_config",
  "verify_incoming",
  "verify_outgoing",
]);

function isField(x: Field | Schema): x is Field {
  return typeof x.kind === "string" && typeof x.field === "string";
}

function readObject(
  obj: Record<string, unknown>,
  schema: Schema,
  prefix: string,
  file: string,
  out: Layer,
): void {
  for (const [key, value] of Object.entries(obj)) {
    const path = prefix + key;
    const spec = Object.hasOwn(schema, key) ? schema[key] : undefined;
    if (spec === undefined) {
      const what = CONSUL_ONLY.has(path)
        ? "is a Consul setting cairn does not support yet"
        : "is not a config key";
      throw new AgentConfigError(`config file ${goQuote(file)}: ${goQuote(path)} ${what}`);
    }
    if (isField(spec)) {
      setField(out, spec, checkKind(value, spec.kind, path, file));
    } else if (typeof value === "object" && value !== null && !Array.isArray(value)) {
      readObject(value as Record<string, unknown>, spec, `${path}.`, file, out);
    } else {
      throw new AgentConfigError(`config file ${goQuote(file)}: ${goQuote(path)} must be an object`);
    }
  }
}

function checkKind(
  value: unknown,
  kind: Kind,
  path: string,
  file: string,
): boolean | number | string | string[] {
  const ok =
    kind === "strings"
      ? Array.isArray(value) && value.every((v) => typeof v === "string")
      : kind === "int"
        ? Number.isSafeInteger(value)
        : typeof value === (kind === "bool" ? "boolean" : "string");
  if (!ok) {
    const want = { bool: "a boolean", int: "an integer", string: "a string", strings: "an array of strings" }[
      kind
    ];
    throw new AgentConfigError(`config file ${goQuote(file)}: ${goQuote(path)} must be ${want}`);
  }
  return value as boolean | number | string | string[];
}

function setField(out: Layer, spec: Field, value: boolean | number | string | string[]): void {
  // checkKind has matched the value to the field's kind; the table ties each field to its kind.
  (out as Record<string, unknown>)[spec.field] = value;
}

interface ResolveContext {
  readonly dev: boolean;
  readonly env: Env;
  readonly host: AgentHost;
  readonly configFiles: readonly string[];
}

/** Applies defaults and Consul's checks, in Consul's order, so the first error reported is Consul's. */
function resolve(l: Layer, ctx: ResolveContext): AgentConfig {
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
  return {
    server,
    dev: ctx.dev,
    bootstrap,
    bootstrapExpect,
    retryJoin: parseJoins(l.retryJoin ?? []),
    nodeName,
    ...addrs,
    ports: {
      http: port(l.httpPort, DEFAULT_HTTP_PORT, "http"),
      server: port(l.serverPort, DEFAULT_SERVER_PORT, "server"),
    },
    dataDir,
    dataDirTemp,
    datacenter,
    logLevel: logLevel(l.logLevel ?? "info"),
    logJson: l.logJson ?? false,
    ui: l.ui ?? false,
    raft: raftTuning(l),
    configFiles: ctx.configFiles,
    warnings: bootstrapWarnings(server, bootstrap, bootstrapExpect, ctx.dev),
    services: l.services ?? [],
    checks: l.checks ?? [],
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
function parseJoins(raw: readonly string[]): JoinAddr[] {
  const seen = new Set<string>();
  const out: JoinAddr[] = [];
  for (const s of raw) {
    const addr = parseJoin(s);
    const key = `${addr.host}\u0000${addr.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(addr);
  }
  return out;
}

export function parseJoin(s: string): JoinAddr {
  const bad = (why: string) => new AgentConfigError(`retry_join cannot be ${goQuote(s)}: ${why}`);
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
  if (portText === undefined) return { host, port: DEFAULT_SERVER_PORT };
  const p = /^\d{1,5}$/.test(portText) ? Number(portText) : 0;
  if (p < 1 || p > PORT_MAX) throw bad(`port must be between 1 and ${PORT_MAX}`);
  return { host, port: p };
}

/** Help in the layout of Consul's flags.Usage: the command text, then the options sorted by name. */
export function agentUsage(): string {
  let s =
    "Usage: cairn agent [options]\n\n" +
    "  Starts the cairn agent and runs until an interrupt is received. The\n" +
    "  agent represents a single node in a cluster.\n\n" +
    "Command Options\n\n";
  for (const name of Object.keys(agentFlags).sort()) {
    const def = agentFlags[name as keyof typeof agentFlags];
    const example =
      /`([^`]*)`/.exec(def.usage)?.[1] ?? { bool: "", int: "int", string: "string", list: "value" }[def.kind];
    s += example === "" ? `  -${name}\n` : `  -${name}=<${example}>\n`;
    s += `${wordWrap(def.usage.replaceAll("`", ""), USAGE_WIDTH - 5)
      .map((line) => `     ${line}`)
      .join("\n")}\n\n`;
  }
  return s.trimEnd();
}

const USAGE_WIDTH = 72;
