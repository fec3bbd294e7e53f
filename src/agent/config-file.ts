/**
 * The `-config-file`/`-config-dir` sources: each JSON file becomes one Layer. Keys are checked against
 * FILE_SCHEMA (Consul's spelling, plus cairn's `raft` object); a Consul key cairn lacks is named as such rather
 * than as a typo, and HCL is refused rather than skipped. Malformed JSON is reported with its line and column.
 */
import { extname, join } from "node:path";
import { DEFINITION_KEYS, readDefinitions } from "../local/config.js";
import { errorText } from "../util/errors.js";
import { goQuote } from "../util/goquote.js";
import { AgentConfigError, type AgentHost, type Layer } from "./config-types.js";

const CONFIG_FILE_BYTES_MAX = 4 * 1024 * 1024;

/** The .json files of a config dir, in name order, as Consul reads them. */
export function dirFiles(dir: string, host: AgentHost): string[] {
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

export function readConfigFile(file: string, host: AgentHost): Layer {
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
