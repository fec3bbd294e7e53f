/**
 * Service and check definitions of the agent's local state, decoded from JSON as Consul's agent decodes them
 * (agent/agent_endpoint.go, structs.ServiceDefinition / CheckDefinition / CheckType): keys are matched without
 * regard to case or underscores (Go's json is case-insensitive, and newer Consul also takes snake_case), durations
 * are Go strings or integer nanoseconds, unknown keys are ignored. Errors carry Consul's texts.
 *
 * Used by the HTTP handlers (a body) and by the agent's config files (`service` / `services` / `check` / `checks`).
 */
import { parseGoDurationNs } from "../util/flags.js";
import { goQuote } from "../util/goquote.js";
import { CairnError } from "../util/index.js";

export type CheckStatus = "passing" | "warning" | "critical";
export const CHECK_STATUSES: readonly CheckStatus[] = ["passing", "warning", "critical"];

/** Consul's text for a check that is neither a TTL check nor a probe with an interval (agent/agent_endpoint.go). */
export const INVALID_CHECK = "Must provide TTL or Script/DockerContainerID/HTTP/TCP and Interval";

/**
 * A client's mistake or an unknown ID, with the HTTP status Consul answers and its text.
 * `no_ttl` is the 500 `CheckID "<id>" does not have associated TTL` that clients match to re-register.
 */
export class LocalStateError extends CairnError {
  override name = "LocalStateError";
  readonly code: "invalid" | "not_found" | "no_ttl";
  constructor(code: "invalid" | "not_found" | "no_ttl", message: string) {
    super(message);
    this.code = code;
  }
  get status(): number {
    return this.code === "invalid" ? 400 : this.code === "not_found" ? 404 : 500;
  }
}

export function invalid(message: string): LocalStateError {
  return new LocalStateError("invalid", message);
}

export interface TaggedAddress {
  readonly Address: string;
  readonly Port: number;
}

/** An agent service (structs.NodeService) with Consul's defaults applied. */
export interface ServiceDef {
  readonly ID: string;
  readonly Service: string;
  readonly Tags: readonly string[];
  readonly Meta: Readonly<Record<string, string>>;
  readonly Port: number;
  readonly Address: string;
  readonly TaggedAddresses: Readonly<Record<string, TaggedAddress>>;
  readonly Weights: { readonly Passing: number; readonly Warning: number };
  readonly EnableTagOverride: boolean;
}

/** How a check is run (structs.CheckType): exactly one of ttlMs > 0, http, tcp. Durations in ms (0 = unset). */
export interface CheckProbe {
  readonly ttlMs: number;
  readonly http: string;
  readonly method: string;
  readonly header: Readonly<Record<string, readonly string[]>>;
  readonly body: string;
  readonly tlsSkipVerify: boolean;
  readonly tcp: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly deregisterCriticalServiceAfterMs: number;
  /** Consecutive passing (or warning) results before the status changes to them; 0 = at once. */
  readonly successBeforePassing: number;
  /** Consecutive critical results before the status turns critical; 0 = at once. */
  readonly failuresBeforeCritical: number;
  /** Consecutive critical results before the status turns warning; 0 = as failuresBeforeCritical. */
  readonly failuresBeforeWarning: number;
  /** Bytes of output kept (TTL notes, HTTP bodies); 0 = Consul's default, 4096. */
  readonly outputMaxSize: number;
  /** HTTP checks: report a redirect as it is instead of following it (Go's client follows up to 10). */
  readonly disableRedirects: boolean;
}

/** The probe of a check nothing runs (maintenance checks, checks read back without a ChkType). */
export const NO_PROBE: CheckProbe = {
  ttlMs: 0,
  http: "",
  method: "",
  header: {},
  body: "",
  tlsSkipVerify: false,
  tcp: "",
  intervalMs: 0,
  timeoutMs: 0,
  deregisterCriticalServiceAfterMs: 0,
  successBeforePassing: 0,
  failuresBeforeCritical: 0,
  failuresBeforeWarning: 0,
  outputMaxSize: 0,
  disableRedirects: false,
};

/** A check as registered (structs.CheckDefinition): IDs and names filled in, status "" = keep or critical. */
export interface CheckDef {
  readonly CheckID: string;
  readonly Name: string;
  readonly Notes: string;
  /** "" when the definition gave none: a new check starts critical, a re-registered one keeps its status. */
  readonly Status: CheckStatus | "";
  readonly ServiceID: string;
  readonly probe: CheckProbe;
}

/** A service with its checks, as PUT /v1/agent/service/register or a config file's `service` gives it. */
export interface ServiceRegistration {
  readonly service: ServiceDef;
  readonly checks: readonly CheckDef[];
  /** A config file's definition's `token` (Consul's ServiceDefinition.Token); the API takes the request's. */
  readonly token?: string;
}

export type JsonObject = { readonly [key: string]: unknown };

export function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function norm(key: string): string {
  return key.replaceAll("_", "").toLowerCase();
}

/** The value of a struct field, matched as Go's json (case-insensitively) and Consul's snake_case translation. */
export function field(obj: JsonObject, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name];
  const want = norm(name);
  for (const [k, v] of Object.entries(obj)) if (norm(k) === want) return v;
  return undefined;
}

function str(obj: JsonObject, name: string): string {
  const v = field(obj, name);
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw invalid(`Request decode failed: ${name} must be a string`);
  return v;
}

function int(obj: JsonObject, name: string, def = 0): number {
  const v = field(obj, name);
  if (v === undefined || v === null) return def;
  if (!Number.isSafeInteger(v)) throw invalid(`Request decode failed: ${name} must be an integer`);
  return v as number;
}

function bool(obj: JsonObject, name: string): boolean {
  const v = field(obj, name);
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw invalid(`Request decode failed: ${name} must be a boolean`);
  return v;
}

function strings(obj: JsonObject, name: string): string[] {
  const v = field(obj, name);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
    throw invalid(`Request decode failed: ${name} must be an array of strings`);
  return [...v];
}

function stringMap(obj: JsonObject, name: string): Record<string, string> {
  const v = field(obj, name);
  if (v === undefined || v === null) return {};
  if (!isObject(v) || !Object.values(v).every((x) => typeof x === "string"))
    throw invalid(`Request decode failed: ${name} must be an object of strings`);
  return { ...(v as Record<string, string>) };
}

/** A duration as Consul's decode hook takes it: a Go duration string or integer nanoseconds; in ms. */
export function durationMs(obj: JsonObject, name: string): number {
  const v = field(obj, name);
  if (v === undefined || v === null || v === "") return 0;
  if (typeof v === "number" && Number.isSafeInteger(v)) return v / 1e6;
  if (typeof v !== "string") throw invalid(`Request decode failed: ${name} must be a duration`);
  try {
    return Number(parseGoDurationNs(v)) / 1e6;
  } catch {
    throw invalid(`Request decode failed: time: invalid duration ${goQuote(v)}`);
  }
}

/** Go's time.Duration.String for whole milliseconds and above ("10s", "1m30s", "1.5s", "0s"). */
export function goDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  const sec = `${Number(s.toFixed(3))}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  return m > 0 ? `${m}m${sec}` : sec;
}

function header(obj: JsonObject): Record<string, string[]> {
  const v = field(obj, "Header");
  if (v === undefined || v === null) return {};
  const out: Record<string, string[]> = {};
  if (isObject(v)) {
    for (const [k, list] of Object.entries(v)) {
      if (Array.isArray(list) && list.every((x) => typeof x === "string")) out[k] = [...list];
      else throw invalid("Request decode failed: Header must map names to arrays of strings");
    }
    return out;
  }
  throw invalid("Request decode failed: Header must map names to arrays of strings");
}

const UNSUPPORTED_KINDS = [
  "UDP",
  "OSService",
  "Script",
  "ScriptArgs",
  "Args",
  "GRPC",
  "DockerContainerID",
  "AliasNode",
  "AliasService",
  "H2PING",
];

/** structs.CheckType from a check object; validated as Consul's CheckType.Validate. */
export function parseProbe(obj: JsonObject): CheckProbe {
  for (const k of UNSUPPORTED_KINDS) {
    const v = field(obj, k);
    if (v !== undefined && v !== null && v !== "" && !(Array.isArray(v) && v.length === 0))
      throw invalid(`Invalid check: ${k} checks are not supported by cairn; use TTL, HTTP or TCP`);
  }
  const probe: CheckProbe = {
    ttlMs: durationMs(obj, "TTL"),
    http: str(obj, "HTTP"),
    method: str(obj, "Method"),
    header: header(obj),
    body: str(obj, "Body"),
    tlsSkipVerify: bool(obj, "TLSSkipVerify"),
    tcp: str(obj, "TCP"),
    intervalMs: durationMs(obj, "Interval"),
    timeoutMs: durationMs(obj, "Timeout"),
    deregisterCriticalServiceAfterMs: durationMs(obj, "DeregisterCriticalServiceAfter"),
    successBeforePassing: int(obj, "SuccessBeforePassing"),
    failuresBeforeCritical: int(obj, "FailuresBeforeCritical"),
    failuresBeforeWarning: int(obj, "FailuresBeforeWarning"),
    outputMaxSize: int(obj, "OutputMaxSize"),
    disableRedirects: bool(obj, "DisableRedirects"),
  };
  const counts = [probe.successBeforePassing, probe.failuresBeforeCritical, probe.failuresBeforeWarning];
  if (counts.some((n) => n < 0) || probe.outputMaxSize < 0)
    throw invalid("Invalid check: counts and OutputMaxSize must be >= 0");
  // TLS over TCP would pass a check that never spoke TLS: refuse what cairn cannot run rather than run less.
  if (bool(obj, "TCPUseTLS")) throw invalid("Invalid check: TCPUseTLS is not supported by cairn");
  const probed = probe.http !== "" || probe.tcp !== "";
  if (probe.http !== "" && probe.tcp !== "") throw invalid(INVALID_CHECK);
  if (probed ? probe.intervalMs <= 0 || probe.ttlMs > 0 : probe.ttlMs <= 0) throw invalid(INVALID_CHECK);
  if (probe.timeoutMs < 0) throw invalid("Invalid check: Timeout must be >= 0");
  return probe;
}

function status(obj: JsonObject, badText: string): CheckStatus | "" {
  const s = str(obj, "Status");
  if (s === "") return "";
  if (!CHECK_STATUSES.includes(s as CheckStatus)) throw invalid(badText);
  return s as CheckStatus;
}

/** PUT /v1/agent/check/register (or a config file's `check`): Name required, ID defaults to Name. */
export function parseCheckRegistration(obj: JsonObject): CheckDef {
  const name = str(obj, "Name");
  if (name === "") throw invalid("Missing check name");
  const st = status(obj, "Bad check status");
  const id = str(obj, "ID") || str(obj, "CheckID") || name;
  return {
    CheckID: id,
    Name: name,
    Notes: str(obj, "Notes"),
    Status: st,
    ServiceID: str(obj, "ServiceID"),
    probe: parseProbe(obj),
  };
}

/** "0.0.0.0", "::" and their spellings: an address that names no host (Consul's ipaddr.IsAny). */
export function isAnyAddress(a: string): boolean {
  const ip = a.startsWith("[") && a.endsWith("]") ? a.slice(1, -1) : a;
  return ip === "0.0.0.0" || (ip.includes(":") && /^[0:]+$/.test(ip));
}

function taggedAddresses(obj: JsonObject): Record<string, TaggedAddress> {
  const v = field(obj, "TaggedAddresses");
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw invalid("Request decode failed: TaggedAddresses must be an object");
  const out: Record<string, TaggedAddress> = {};
  for (const [k, t] of Object.entries(v)) {
    if (!isObject(t)) throw invalid("Request decode failed: TaggedAddresses values must be objects");
    const a = { Address: str(t, "Address"), Port: int(t, "Port") };
    if (isAnyAddress(a.Address)) throw invalid("Invalid service address");
    out[k] = a;
  }
  return out;
}

/** structs.ValidateWeights, prefixed as the agent endpoint reports it. */
function weights(obj: JsonObject): { Passing: number; Warning: number } {
  const v = field(obj, "Weights");
  if (v === undefined || v === null) return { Passing: 1, Warning: 1 };
  if (!isObject(v)) throw invalid("Request decode failed: Weights must be an object");
  const w = { Passing: int(v, "Passing"), Warning: int(v, "Warning") };
  if (w.Passing < 1) throw invalid("Invalid Weights: Passing must be greater than 0");
  if (w.Warning < 0) throw invalid("Invalid Weights: Warning must be greater or equal than 0");
  if (w.Passing > 65535 || w.Warning > 65535)
    throw invalid("Invalid Weights: DNS Weight must be between 0 and 65535");
  return w;
}

/** Consul's metadata limits (agent/structs): pairs, key and value lengths, key characters, reserved prefix. */
const META_PAIRS_MAX = 64;
const META_KEY_CHARS_MAX = 128;
const META_VALUE_CHARS_MAX = 512;

function metaPairError(key: string, value: string): string | null {
  if (key === "") return "Key cannot be blank";
  if (!/^[a-zA-Z0-9_-]+$/.test(key)) return "Key contains invalid characters";
  if (key.length > META_KEY_CHARS_MAX) return `Key is too long (limit: ${META_KEY_CHARS_MAX} characters)`;
  if (key.startsWith("consul-")) return "Key prefix 'consul-' is reserved for internal use";
  if (value.length > META_VALUE_CHARS_MAX)
    return `Value is too long (limit: ${META_VALUE_CHARS_MAX} characters)`;
  return null;
}

/** structs.ValidateServiceMetadata with the agent endpoint's "Invalid Service Meta: " prefix. */
function checkMeta(meta: Readonly<Record<string, string>>): void {
  const pairs = Object.entries(meta);
  if (pairs.length > META_PAIRS_MAX)
    throw invalid(
      `Invalid Service Meta: Node metadata cannot contain more than ${META_PAIRS_MAX} key/value pairs`,
    );
  for (const [k, v] of pairs) {
    const why = metaPairError(k, v);
    if (why !== null)
      throw invalid(`Invalid Service Meta: Couldn't load metadata pair ('${k}', '${v}'): ${why}`);
  }
}

/** The check objects of a service definition: `Check` first, then `Checks` in order. */
function serviceCheckObjects(obj: JsonObject): JsonObject[] {
  const out: JsonObject[] = [];
  const one = field(obj, "Check");
  if (isObject(one) && Object.keys(one).length > 0) out.push(one);
  else if (one !== undefined && one !== null && !isObject(one))
    throw invalid("Request decode failed: Check must be an object");
  const many = field(obj, "Checks");
  if (many !== undefined && many !== null) {
    if (!Array.isArray(many) || !many.every(isObject))
      throw invalid("Request decode failed: Checks must be an array of objects");
    out.push(...many);
  }
  return out;
}

/**
 * PUT /v1/agent/service/register (or a config file's `service`): Name required, ID defaults to Name, checks get
 * `service:<id>` (one check) or `service:<id>:<n>` IDs and the name `Service '<name>' check`.
 */
export function parseServiceRegistration(obj: JsonObject): ServiceRegistration {
  const name = str(obj, "Name");
  if (name === "") throw invalid("Missing service name");
  const address = str(obj, "Address");
  if (isAnyAddress(address)) throw invalid("Invalid service address");
  const kind = str(obj, "Kind");
  // Connect proxies and gateways need Consul's service mesh, which cairn does not have: refuse, not drop.
  if (kind !== "" && kind !== "typical")
    throw invalid(`Invalid service kind ${goQuote(kind)}: cairn registers typical services only`);
  const service: ServiceDef = {
    ID: str(obj, "ID") || name,
    Service: name,
    Tags: strings(obj, "Tags"),
    Meta: stringMap(obj, "Meta"),
    Port: int(obj, "Port"),
    Address: address,
    TaggedAddresses: taggedAddresses(obj),
    Weights: weights(obj),
    EnableTagOverride: bool(obj, "EnableTagOverride"),
  };
  checkMeta(service.Meta);
  const objs = serviceCheckObjects(obj);
  const checks = objs.map((c, i): CheckDef => {
    const probe = parseProbe(c);
    const st = status(c, "Status for checks must 'passing', 'warning', 'critical'");
    const given = str(c, "CheckID") || str(c, "ID");
    const id =
      given !== "" ? given : objs.length === 1 ? `service:${service.ID}` : `service:${service.ID}:${i + 1}`;
    const checkName = str(c, "Name") || `Service '${name}' check`;
    return { CheckID: id, Name: checkName, Notes: str(c, "Notes"), Status: st, ServiceID: service.ID, probe };
  });
  return { service, checks };
}
