/**
 * The bodies of PUT /v1/catalog/register and /deregister decoded as Go's encoding/json decodes them into
 * structs.RegisterRequest / DeregisterRequest: field names matched case-insensitively, unknown fields ignored,
 * null = the zero value, a wrong type = 400 `Request decode failed: ...` (consul-compat.md §8.2). Absent fields
 * take their zero values; the server fills in Consul's defaults (ID = name, check Node and CheckID).
 * Kindness taken from §8.9: node TaggedAddresses given as `{"lan":{"Address","Port"}}` (the npm client's
 * shape) keep their Address; check Definition durations may be Go strings or nanoseconds.
 */
import {
  type CatalogDeregisterRequest,
  type CatalogRegisterRequest,
  type CheckDefinition,
  type CheckSpec,
  formatGoDuration,
  type ServiceAddress,
  type ServiceSpec,
} from "../fsm/index.js";
import { errorText } from "../util/errors.js";
import { HttpError } from "./errors.js";
import { parseGoDurationMs } from "./params.js";

type Fields = Map<string, unknown>;

function failed(where: string): HttpError {
  return new HttpError(400, `Request decode failed: json: cannot unmarshal into Go struct field ${where}`);
}

/** An object's fields by lower-cased name; null → no fields (Go leaves the zero value). */
function fields(v: unknown, where: string): Fields {
  if (v === null || v === undefined) return new Map();
  if (typeof v !== "object" || Array.isArray(v)) throw failed(where);
  return new Map(Object.entries(v).map(([k, x]) => [k.toLowerCase(), x]));
}

function str(f: Fields, name: string, where: string): string {
  const v = f.get(name.toLowerCase());
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw failed(`${where}.${name}`);
  return v;
}

function int(f: Fields, name: string, where: string, dflt = 0): number {
  const v = f.get(name.toLowerCase());
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw failed(`${where}.${name}`);
  return v;
}

function bool(f: Fields, name: string, where: string): boolean {
  const v = f.get(name.toLowerCase());
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw failed(`${where}.${name}`);
  return v;
}

function strList(f: Fields, name: string, where: string): string[] {
  const v = f.get(name.toLowerCase());
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw failed(`${where}.${name}`);
  return v as string[];
}

function strMap(f: Fields, name: string, where: string, lenient = false): Record<string, string> {
  const v = f.get(name.toLowerCase());
  const out: Record<string, string> = {};
  if (v === undefined || v === null) return out;
  fields(v, `${where}.${name}`); // an object, or a decode error
  // Map keys keep their case (only struct field names match case-insensitively).
  for (const [k, x] of Object.entries(v as object)) {
    if (typeof x === "string") out[k] = x;
    else if (lenient && typeof x === "object" && x !== null) out[k] = str(fields(x, where), "Address", where);
    else throw failed(`${where}.${name}`);
  }
  return out;
}

function serviceAddresses(f: Fields, where: string): Record<string, ServiceAddress> {
  const v = f.get("taggedaddresses");
  const out: Record<string, ServiceAddress> = {};
  if (v === undefined || v === null) return out;
  fields(v, `${where}.TaggedAddresses`); // an object, or a decode error
  for (const [k, x] of Object.entries(v as object)) {
    const a = fields(x, `${where}.TaggedAddresses`);
    out[k] = { Address: str(a, "Address", where), Port: int(a, "Port", where) };
  }
  return out;
}

function service(v: unknown): ServiceSpec | null {
  if (v === null || v === undefined) return null;
  const w = "NodeService";
  const f = fields(v, "RegisterRequest.Service");
  const weights = f.get("weights");
  const wf = fields(weights, `${w}.Weights`);
  return {
    ID: str(f, "ID", w),
    Service: str(f, "Service", w),
    Tags: strList(f, "Tags", w),
    Address: str(f, "Address", w),
    TaggedAddresses: serviceAddresses(f, w),
    Meta: strMap(f, "Meta", w),
    Port: int(f, "Port", w),
    // Consul's default weights when none are given.
    Weights:
      weights === undefined || weights === null
        ? { Passing: 1, Warning: 1 }
        : { Passing: int(wf, "Passing", w), Warning: int(wf, "Warning", w) },
    EnableTagOverride: bool(f, "EnableTagOverride", w),
    Kind: str(f, "Kind", w),
  };
}

/** A duration as HealthCheckDefinition's UnmarshalJSON takes it: a Go string or nanoseconds. */
function duration(f: Fields, name: string): string | undefined {
  const v = f.get(name.toLowerCase());
  if (v === undefined || v === null) return undefined;
  if (typeof v === "number" && Number.isSafeInteger(v)) return formatGoDuration(BigInt(v));
  if (typeof v === "string") {
    const ms = parseGoDurationMs(v);
    if (ms === null) throw new HttpError(400, `Request decode failed: time: invalid duration "${v}"`);
    return formatGoDuration(BigInt(Math.round(ms * 1e6)));
  }
  throw failed(`HealthCheckDefinition.${name}`);
}

function definition(v: unknown): CheckDefinition {
  const w = "HealthCheckDefinition";
  const f = fields(v, `HealthCheck.Definition`);
  const d: Record<string, unknown> = {};
  for (const k of ["HTTP", "Method", "Body", "TCP"]) if (str(f, k, w) !== "") d[k] = str(f, k, w);
  if (bool(f, "TLSSkipVerify", w)) d.TLSSkipVerify = true;
  for (const k of ["Interval", "Timeout", "DeregisterCriticalServiceAfter"]) {
    const x = duration(f, k);
    if (x !== undefined) d[k] = x;
  }
  const header = f.get("header");
  if (header !== undefined && header !== null) {
    const h: Record<string, string[]> = {};
    for (const [k, vals] of Object.entries(header as object)) {
      if (!Array.isArray(vals) || vals.some((x) => typeof x !== "string")) throw failed(`${w}.Header`);
      h[k] = vals as string[];
    }
    d.Header = h;
  }
  return d as CheckDefinition;
}

const STATUSES = new Set(["", "passing", "warning", "critical", "maintenance"]);

function check(v: unknown): CheckSpec {
  const w = "HealthCheck";
  const f = fields(v, "RegisterRequest.Checks");
  const status = str(f, "Status", w);
  if (!STATUSES.has(status)) throw new HttpError(400, `Invalid check status: '${status}'`);
  return {
    Node: str(f, "Node", w),
    CheckID: str(f, "CheckID", w),
    Name: str(f, "Name", w),
    Status: status,
    Notes: str(f, "Notes", w),
    Output: str(f, "Output", w),
    ServiceID: str(f, "ServiceID", w),
    Type: str(f, "Type", w),
    Definition: definition(f.get("definition")),
  };
}

function parseJson(body: Uint8Array): unknown {
  const text = Buffer.from(body).toString("utf8");
  if (text.trim() === "") throw new HttpError(400, "Request decode failed: EOF");
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `Request decode failed: ${errorText(e)}`);
  }
}

export function parseRegister(body: Uint8Array): CatalogRegisterRequest {
  const w = "RegisterRequest";
  const f = fields(parseJson(body), w);
  const list = f.get("checks");
  if (list !== undefined && list !== null && !Array.isArray(list)) throw failed(`${w}.Checks`);
  const one = f.get("check");
  const checks = [...(one === undefined || one === null ? [] : [one]), ...((list as unknown[] | null) ?? [])];
  return {
    ID: str(f, "ID", w),
    Node: str(f, "Node", w),
    Address: str(f, "Address", w),
    Datacenter: str(f, "Datacenter", w),
    TaggedAddresses: strMap(f, "TaggedAddresses", w, true),
    NodeMeta: strMap(f, "NodeMeta", w),
    Service: service(f.get("service")),
    Checks: checks.map(check),
    SkipNodeUpdate: bool(f, "SkipNodeUpdate", w),
  };
}

export function parseDeregister(body: Uint8Array): CatalogDeregisterRequest {
  const w = "DeregisterRequest";
  const f = fields(parseJson(body), w);
  return {
    Node: str(f, "Node", w),
    Datacenter: str(f, "Datacenter", w),
    ServiceID: str(f, "ServiceID", w),
    CheckID: str(f, "CheckID", w),
  };
}
