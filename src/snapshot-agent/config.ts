/**
 * `cairn snapshot agent`'s configuration, read as Consul Enterprise's snapshot agent reads its own
 * (docs/consul-compat.md §6.3): the `snapshot_agent` object of each `-config-file`/`-config-dir` file in
 * command-line order (a directory's `.json` files in name order; other top-level objects are ignored, so the
 * files can be shared with `cairn agent`), then the flags, then the environment. Precedence per setting: flag >
 * config file (a later one over an earlier one) > environment variable > default. Consul documents no order between
 * its files and its variables; this one lets a setting written for this agent beat a variable exported for the
 * whole shell (CONSUL_HTTP_ADDR often is), and a flag beat both, as in every Consul command.
 * Every setting is in one table (config-settings.ts); this module reads the sources, config-resolve.ts applies
 * the defaults and the checks across keys. Every bad input is a SnapshotAgentConfigError, thrown before anything
 * runs.
 */
import { readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import {
  type ClientConfig,
  clientConfigFrom,
  type Env,
  HTTP_FLAG_NAMES,
  httpClientFlags,
  httpFlagValueName,
  httpServerFlags,
} from "../client/index.js";
import {
  asCommandError,
  type ConfigFs,
  configFiles,
  configSources,
  isJsonObject,
  readJsonConfigFile,
} from "../util/config-file.js";
import { type ConfigValue, minText, readConfigKeys, shown } from "../util/config-keys.js";
import { flagSection } from "../util/flag-usage.js";
import { type FlagDef, type FlagDefs, flag, HelpRequested, parseFlags } from "../util/flags.js";
import { goQuote } from "../util/goquote.js";
import { resolveSnapshotAgentConfig } from "./config-resolve.js";
import { type Layer, SECTIONS, SETTINGS, type SettingPath } from "./config-settings.js";
import { type HttpConnection, type SnapshotAgentConfig, SnapshotAgentConfigError } from "./config-types.js";

export type { SnapshotAgentConfig } from "./config-types.js";
export { HelpRequested, SnapshotAgentConfigError };

/** What the parser reads from the machine; tests pass a table instead. */
export interface SnapshotAgentHost extends ConfigFs {
  /** The default `local_scratch_path`. */
  tmpdir(): string;
}

export const nodeSnapshotAgentHost: SnapshotAgentHost = {
  readFile: (path) => readFileSync(path, "utf8"),
  readDir: (path) => readdirSync(path),
  tmpdir,
};

const SETTING_FLAGS: FlagDefs = Object.fromEntries(
  Object.values(SETTINGS).flatMap((s): [string, FlagDef][] =>
    "flag" in s ? [[s.flag.name, flagDef(s.kind, s.flag.usage)]] : [],
  ),
);

function flagDef(kind: (typeof SETTINGS)[SettingPath]["kind"], usage: string): FlagDef {
  switch (kind) {
    case "string":
      return flag.string("", usage);
    case "bool":
      return flag.bool(false, usage);
    case "int":
      return flag.int(0, usage);
    case "duration":
      return flag.duration(0, usage);
    case "stringMap":
      return flag.list(usage);
  }
}

const CONFIG_FLAGS = {
  "config-file": flag.list(
    'A JSON file to read the "snapshot_agent" object from; other top-level objects are ignored. Can be repeated.',
  ),
  "config-dir": flag.list(
    "A directory whose .json files are read in name order, as -config-file reads one. Can be repeated.",
  ),
} as const;

/** Consul's flags of `consul snapshot agent`, the CLI's HTTP flags, and cairn's additions. */
export const snapshotAgentFlags: FlagDefs = {
  ...httpClientFlags,
  datacenter: httpServerFlags.datacenter,
  ...CONFIG_FLAGS,
  ...SETTING_FLAGS,
};

/**
 * Parses `cairn snapshot agent` arguments (after `snapshot agent`) into the resolved configuration.
 * Throws SnapshotAgentConfigError for any bad input, or HelpRequested for `-h`/`-help` (print
 * snapshotAgentUsage(), exit 0).
 */
export function parseSnapshotAgentArgs(
  argv: readonly string[],
  env: Env,
  host: SnapshotAgentHost = nodeSnapshotAgentHost,
): SnapshotAgentConfig {
  const parsed = asConfigError(() => parseFlags(snapshotAgentFlags, argv));
  if (parsed.args.length > 0) {
    throw new SnapshotAgentConfigError(`Too many arguments (expected 0, got ${parsed.args.length})`, true);
  }
  // Every argument is a flag (none is left over), so argv is what configSources must walk again.
  const files = asConfigError(() => configFiles(configSources(snapshotAgentFlags, argv), host));
  const fromFiles: Layer = {};
  let withObject = 0;
  for (const file of files) {
    const layer = asConfigError(() => readFileLayer(file, host));
    if (layer === null) continue;
    withObject++;
    Object.assign(fromFiles, layer);
  }
  // Consul: "At least one config file needs to have a snapshot_agent object, or the snapshot agent will fail to
  // start" — a file given for the agent that holds none is surely a mistake (a misspelt object, the wrong file).
  if ((parsed.set.has("config-file") || parsed.set.has("config-dir")) && withObject === 0) {
    throw new SnapshotAgentConfigError(
      files.length === 0
        ? 'the config dirs given hold no .json file; the snapshot agent needs one with a "snapshot_agent" object'
        : `none of the config files has a "snapshot_agent" object (read: ${files.join(", ")}); the snapshot ` +
            "agent's settings go inside it",
    );
  }
  const merged: Layer = { ...fromFiles, ...flagLayer(parsed.values, parsed.set) };
  const client = clientConfigFrom(parsed.values, parsed.set, env, {
    address: fromFiles.http_addr,
    token: fromFiles.token,
    datacenter: fromFiles.datacenter,
    caFile: fromFiles.ca_file,
    caPath: fromFiles.ca_path,
    certFile: fromFiles.cert_file,
    keyFile: fromFiles.key_file,
    tlsServerName: fromFiles.tls_server_name,
  });
  return resolveSnapshotAgentConfig(merged, client, env, host.tmpdir());
}

function asConfigError<T>(read: () => T): T {
  return asCommandError(read, (message, showUsage) => new SnapshotAgentConfigError(message, showUsage));
}

/** The settings of one file's `snapshot_agent` object, or null when it has none. */
function readFileLayer(file: string, fs: ConfigFs): Layer | null {
  const doc = readJsonConfigFile(file, fs);
  const object = doc.snapshot_agent;
  if (object === undefined) return null;
  if (!isJsonObject(object)) {
    throw new SnapshotAgentConfigError(`config file ${goQuote(file)}: "snapshot_agent" must be an object`);
  }
  const layer: Layer = {};
  for (const { path, value } of readConfigKeys(object, SETTINGS, { file, prefix: "snapshot_agent." })) {
    // readConfigKeys has checked the value against the setting's kind, which is what Layer's type says.
    (layer as Record<string, unknown>)[path] = value;
  }
  return layer;
}

type FlagValues = ReturnType<typeof parseFlags<FlagDefs>>["values"];

/** The settings of the flags given (an unset flag never hides a file's value), checked as a file's are. */
function flagLayer(values: FlagValues, set: ReadonlySet<string>): Layer {
  const layer: Layer = {};
  for (const [path, s] of Object.entries(SETTINGS)) {
    if (!("flag" in s) || !set.has(s.flag.name)) continue;
    const name = s.flag.name;
    const raw = values[name];
    const value = s.kind === "stringMap" && Array.isArray(raw) ? metaOf(name, raw) : raw;
    // A duration's text is gone once parsed, so a bound names the flag alone.
    if ("min" in s && typeof value === "number" && value < s.min) {
      throw new SnapshotAgentConfigError(`-${name} ${minText(s.min)}`);
    }
    const why = "check" in s ? s.check(value as ConfigValue) : undefined;
    if (why !== undefined) throw new SnapshotAgentConfigError(`-${name} cannot be ${shown(value)}: ${why}`);
    (layer as Record<string, unknown>)[path] = value;
  }
  return layer;
}

/** Repeated `-login-meta key=value` as one map; a later pair overrides an earlier one for the same key. */
function metaOf(name: string, pairs: readonly string[]): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new SnapshotAgentConfigError(`-${name} cannot be ${goQuote(pair)}: must be key=value`);
    meta[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return meta;
}

/** The client's configuration for the connection the agent resolved. */
export function clientConfigOf(http: HttpConnection): ClientConfig {
  const tls = {
    ...(http.caFile === "" ? {} : { caFile: http.caFile }),
    ...(http.caPath === "" ? {} : { caPath: http.caPath }),
    ...(http.certFile === "" ? {} : { certFile: http.certFile }),
    ...(http.keyFile === "" ? {} : { keyFile: http.keyFile }),
    ...(http.tlsServerName === "" ? {} : { serverName: http.tlsServerName }),
    ...(http.tlsSkipVerify ? { insecureSkipVerify: true } : {}),
  };
  return {
    address: http.httpAddr,
    useTls: http.useTls,
    tls,
    ...(http.token === "" ? {} : { token: http.token }),
    ...(http.tokenFile === "" ? {} : { tokenFile: http.tokenFile }),
    ...(http.basicAuth === "" ? {} : { basicAuth: http.basicAuth }),
    ...(http.datacenter === "" ? {} : { datacenter: http.datacenter }),
  };
}

const USAGE_TEXT = `
Usage: cairn snapshot agent [options]

  Starts a process that takes snapshots of the state of the servers at an
  interval, verifies each, and saves it to local disk or to S3, Azure Blob
  Storage or Google Cloud Storage (several at once), keeping as many as
  the retention settings say. As a daemon, the agents of a cluster elect
  one active agent through a KV lock and register a service with health
  checks; with -interval=0 it takes one snapshot and exits.

  Settings come from the "snapshot_agent" object of the config files (the
  keys of Consul Enterprise's snapshot agent), flags and environment
  variables: a flag wins over the files, a later file over an earlier one,
  a file over the environment (CAIRN_HTTP_ADDR, CONSUL_HTTP_ADDR, ...,
  AWS_S3_ENDPOINT), and all of them over the defaults. An unknown key is
  an error.

  cairn adds: snapshot.retain_hourly, retain_daily, retain_weekly and
  retain_monthly (grandfather-father-son retention besides "retain"),
  snapshot.drill_interval (restore drills), snapshot.encryption_key_file
  (encryption at rest), listen (/metrics and /health), log.json, and
  azure_blob_storage.prefix and google_storage.prefix; HCL config files
  and login with an ACL auth method are not supported yet.
`;

/** Help in the layout of Consul's flags.Usage, the options grouped as Consul's documentation groups them. */
export function snapshotAgentUsage(): string {
  const opts = { valueName: httpFlagValueName };
  const names = Object.keys(snapshotAgentFlags);
  let s = `${USAGE_TEXT.trim()}\n\n`;
  s += flagSection(
    "HTTP API Options",
    [...HTTP_FLAG_NAMES].filter((n) => n !== "stale"),
    snapshotAgentFlags,
    opts,
  );
  s += flagSection("Config File Options", Object.keys(CONFIG_FLAGS), snapshotAgentFlags, opts);
  for (const [section, title] of Object.entries(SECTIONS)) {
    const inSection = Object.values(SETTINGS).flatMap((v) =>
      "flag" in v && v.flag.section === section ? [v.flag.name] : [],
    );
    s += flagSection(
      title,
      inSection.filter((n) => names.includes(n)),
      snapshotAgentFlags,
      opts,
    );
  }
  return s.trimEnd();
}
