/**
 * The `-config-file`/`-config-dir` sources of `cairn agent`: each JSON file becomes one Layer. Keys are checked
 * against FILE_SCHEMA (Consul's spelling, plus cairn's `raft` object); a Consul key cairn lacks is named as such
 * rather than as a typo. Finding and reading the files is util/config-file.ts, shared with the snapshot agent.
 */
import { DEFINITION_KEYS, readDefinitions } from "../local/config.js";
import {
  asCommandError,
  type ConfigFs,
  type ConfigSource,
  configFiles,
  readJsonConfigFile,
} from "../util/config-file.js";
import { type ConfigKey, readConfigKeys } from "../util/config-keys.js";
import { errorText } from "../util/errors.js";
import { goQuote } from "../util/goquote.js";
import { ACL_FILE_KEYS } from "./config-acl.js";
import { tlsFileSchema } from "./config-tls.js";
import { AgentConfigError, type Layer } from "./config-types.js";

/** util's readers' errors as the agent's own, so callers handle one type. */
export const asAgentError = <T>(read: () => T): T =>
  asCommandError(read, (m, u) => new AgentConfigError(m, u));

/** The files the sources name, in the order they apply. */
export function agentConfigFiles(sources: readonly ConfigSource[], fs: ConfigFs): string[] {
  return asAgentError(() => configFiles(sources, fs));
}

export function readConfigFile(file: string, fs: ConfigFs): Layer {
  return asAgentError(() => {
    const doc = readJsonConfigFile(file, fs);
    const layer: Layer = {};
    const settings: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(doc)) if (!DEFINITION_KEYS.includes(k)) settings[k] = v;
    const unknown = (path: string) =>
      CONSUL_ONLY.has(path) ? "is a Consul setting cairn does not support yet" : undefined;
    for (const { path, key, value } of readConfigKeys(settings, FILE_SCHEMA, { file, unknown })) {
      // readConfigKeys has matched the value to the key's kind; the table ties each field to its kind.
      if (key.field === "tls") layer.tls = { ...layer.tls, [path]: value as string | boolean };
      else (layer as Record<string, unknown>)[key.field] = value;
    }
    try {
      const defs = readDefinitions(doc);
      layer.services = [...defs.services];
      layer.checks = [...defs.checks];
    } catch (e) {
      throw new AgentConfigError(`config file ${goQuote(file)}: ${errorText(e)}`);
    }
    return layer;
  });
}

interface Field extends ConfigKey {
  readonly field: keyof Layer;
}

const f = (kind: Field["kind"], field: keyof Layer, min?: number): Field =>
  min === undefined ? { kind, field } : { kind, field, min };

/** Config-file keys as Consul spells them, plus cairn's own `raft` object. */
const FILE_SCHEMA: Readonly<Record<string, Field>> = {
  server: f("bool", "server"),
  bootstrap: f("bool", "bootstrap"),
  bootstrap_expect: f("int", "bootstrapExpect"),
  retry_join: f("strings", "retryJoin"),
  retry_join_wan: f("strings", "retryJoinWan"),
  node_name: f("string", "nodeName"),
  bind_addr: f("string", "bindAddr"),
  advertise_addr: f("string", "advertiseAddr"),
  client_addr: f("string", "clientAddr"),
  "ports.http": f("int", "httpPort"),
  "ports.server": f("int", "serverPort"),
  "ports.dns": f("int", "dnsPort"),
  "ports.serf_wan": f("int", "serfWanPort"),
  "ports.https": f("int", "httpsPort"),
  ...tlsFileSchema((kind) => f(kind, "tls")),
  domain: f("string", "domain"),
  "dns_config.node_ttl": f("duration", "dnsNodeTtlMs", 0),
  "dns_config.service_ttl": f("stringMap", "dnsServiceTtl"),
  "dns_config.only_passing": f("bool", "dnsOnlyPassing"),
  "dns_config.allow_stale": f("bool", "dnsAllowStale"),
  "dns_config.enable_truncate": f("bool", "dnsEnableTruncate"),
  "dns_config.udp_answer_limit": f("int", "dnsUdpAnswerLimit"),
  "dns_config.enable_additional_node_meta_txt": f("bool", "dnsNodeMetaTxt"),
  data_dir: f("string", "dataDir"),
  reconnect_timeout: f("duration", "reconnectTimeoutMs", 0),
  datacenter: f("string", "datacenter"),
  log_level: f("string", "logLevel"),
  log_json: f("bool", "logJson"),
  ui: f("bool", "ui"),
  "raft.election_timeout_ms": f("int", "electionTimeoutMs"),
  "raft.heartbeat_interval_ms": f("int", "heartbeatIntervalMs"),
  "raft.snapshot_threshold": f("int", "snapshotThreshold"),
  ...ACL_FILE_KEYS,
};

/** Consul keys an operator may well have in an existing file: named as such, not as typos. */
const CONSUL_ONLY = new Set([
  "addresses",
  "advertise_addr_wan",
  "auto_encrypt",
  "connect",
  "disable_update_check",
  "dns_config.a_record_limit",
  "dns_config.cache_max_age",
  "dns_config.disable_compression",
  "dns_config.max_stale",
  "dns_config.prefer_namespace",
  "dns_config.recursor_strategy",
  "dns_config.recursor_timeout",
  "dns_config.soa",
  "dns_config.use_cache",
  "enable_script_checks",
  "encrypt",
  "leave_on_terminate",
  "node_meta",
  "performance",
  "ports.grpc",
  "ports.grpc_tls",
  "ports.serf_lan",
  "ports.serf_wan",
  "primary_datacenter",
  "raft_snapshot_threshold",
  "recursors",
  "retry_interval",
  "telemetry",
  "ui_config",
]);
