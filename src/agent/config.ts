/**
 * The server agent's configuration, read as `consul agent` reads its own: defaults, then the `-dev` layer, then
 * each `-config-file`/`-config-dir` in command-line order (files of a directory in name order), then flags. A later
 * layer overrides an earlier one, except `retry_join`, which accumulates over layers as Consul's merge appends
 * slices. This module is the entry: the flags, the usage text and the merge; config-file.ts reads the files and
 * config-resolve.ts validates the merged layer into an AgentConfig.
 */
import { readdirSync, readFileSync } from "node:fs";
import { hostname, networkInterfaces, tmpdir } from "node:os";
import type { CheckDef, ServiceRegistration } from "../local/defs.js";
import { configSources } from "../util/config-file.js";
import { flagSection } from "../util/flag-usage.js";
import { type FlagDefs, flag, HelpRequested, parseFlags } from "../util/flags.js";
import { agentConfigFiles, asAgentError, readConfigFile } from "./config-file.js";
import { resolveConfig } from "./config-resolve.js";
import { type AgentConfig, AgentConfigError, type AgentHost, type Env, type Layer } from "./config-types.js";

export type { AgentConfig, AgentHost, Env, JoinAddr, LogLevel, RaftTuning } from "./config-types.js";
export { AgentConfigError, HelpRequested };

export const nodeAgentHost: AgentHost = {
  readFile: (path) => readFileSync(path, "utf8"),
  readDir: (path) => readdirSync(path),
  hostname,
  networkInterfaces,
  tmpdir,
};

export const agentFlags = {
  server: flag.bool(false, "Switches agent to server mode."),
  dev: flag.bool(false, "Starts the agent in development mode."),
  bootstrap: flag.bool(false, "Sets server to bootstrap mode."),
  "bootstrap-expect": flag.int(0, "Sets server to expect bootstrap mode."),
  "retry-join": flag.list(
    "Address of a server to join at start time with retries enabled, as `host[:port]` (port 8300 when " +
      "omitted). Can be specified multiple times.",
  ),
  join: flag.list(
    "Address of a server to join at start time, as `host[:port]`. cairn retries it as -retry-join does. " +
      "Can be specified multiple times.",
  ),
  "retry-join-wan": flag.list(
    "Address of a server of another datacenter to join on its WAN port, as `host[:port]` (port 8302 when " +
      "omitted), with retries. Servers only. Can be specified multiple times.",
  ),
  "serf-wan-port": flag.int(
    0,
    "Sets the WAN port servers join other datacenters on. Default 8302; -1 disables.",
  ),
  node: flag.string("", "Name of this node. Must be unique in the cluster. Defaults to the hostname."),
  bind: flag.string("", "Sets the bind address for cluster communication (server RPC). Default 0.0.0.0."),
  advertise: flag.string("", "Sets the advertise address to use."),
  client: flag.string("", "Sets the address to bind for client access (HTTP, DNS). Default 127.0.0.1."),
  "http-port": flag.int(0, "Sets the HTTP API port to listen on. Default 8500."),
  "server-port": flag.int(0, "Sets the server port to listen on. Default 8300."),
  "dns-port": flag.int(0, "DNS port to use. Default 8600; -1 disables the DNS interface."),
  domain: flag.string("", "Domain to use for DNS interface. Default consul."),
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
  const parsed = asAgentError(() => parseFlags(agentFlags, argv));
  if (parsed.args.length > 0) {
    throw new AgentConfigError(`config: Unknown extra arguments: [${parsed.args.join(" ")}]`);
  }
  const dev = parsed.values.dev;
  const layers: Layer[] = [];
  if (dev) layers.push(devLayer());
  const sources = configSources(agentFlags, argv.slice(0, argv.length - parsed.args.length));
  const configFiles = agentConfigFiles(sources, host);
  for (const file of configFiles) layers.push(readConfigFile(file, host));
  layers.push(flagLayer(parsed.values, parsed.set));
  return resolveConfig(merge(layers), { dev, env, host, configFiles });
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
  if (set.has("retry-join") || set.has("join")) l.retryJoin = [...v["retry-join"], ...v.join];
  if (set.has("retry-join-wan")) l.retryJoinWan = v["retry-join-wan"];
  if (set.has("serf-wan-port")) l.serfWanPort = v["serf-wan-port"];
  if (set.has("node")) l.nodeName = v.node;
  if (set.has("bind")) l.bindAddr = v.bind;
  if (set.has("advertise")) l.advertiseAddr = v.advertise;
  if (set.has("client")) l.clientAddr = v.client;
  if (set.has("http-port")) l.httpPort = v["http-port"];
  if (set.has("server-port")) l.serverPort = v["server-port"];
  if (set.has("dns-port")) l.dnsPort = v["dns-port"];
  if (set.has("domain")) l.domain = v.domain;
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
  const wanJoins: string[] = [];
  const services: ServiceRegistration[] = [];
  const checks: CheckDef[] = [];
  for (const layer of layers) {
    const tls = { ...out.tls, ...layer.tls };
    Object.assign(out, layer);
    out.tls = tls;
    joins.push(...(layer.retryJoin ?? []));
    wanJoins.push(...(layer.retryJoinWan ?? []));
    services.push(...(layer.services ?? []));
    checks.push(...(layer.checks ?? []));
  }
  out.retryJoin = joins;
  out.retryJoinWan = wanJoins;
  out.services = services;
  out.checks = checks;
  return out;
}

/** Help in the layout of Consul's flags.Usage: the command text, then the options sorted by name. */
export function agentUsage(): string {
  const text =
    "Usage: cairn agent [options]\n\n" +
    "  Starts the cairn agent and runs until an interrupt is received. The\n" +
    "  agent represents a single node in a cluster.\n\n";
  return (
    text + flagSection("Command Options", Object.keys(agentFlags), agentFlags, { dropBackquotes: true })
  ).trimEnd();
}
