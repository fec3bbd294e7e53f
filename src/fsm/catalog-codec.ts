/**
 * The payload of catalog commands: the normalized request as JSON text inside the command's str field (see
 * command.ts). JSON keeps nested maps and lists simple to encode; the decoder checks every field's type and
 * that the text is exactly what the encoder writes for the value it parsed, so every byte string still decodes
 * to at most one command and encodes back to itself.
 */
import type {
  CatalogDeregisterRequest,
  CatalogRegisterRequest,
  CheckDefinition,
  CheckSpec,
  ServiceSpec,
} from "./catalog-types.js";
import { CommandDecodeError } from "./errors.js";

type Obj = Record<string, unknown>;

function fail(what: string): never {
  throw new CommandDecodeError(`decode catalog command: ${what}`);
}

function obj(v: unknown, what: string): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(`${what} is not an object`);
  return v as Obj;
}

function s(o: Obj, k: string): string {
  if (typeof o[k] !== "string") fail(`field ${k} is not a string`);
  return o[k] as string;
}

function n(o: Obj, k: string): number {
  if (typeof o[k] !== "number" || !Number.isSafeInteger(o[k])) fail(`field ${k} is not an integer`);
  return o[k] as number;
}

function b(o: Obj, k: string): boolean {
  if (typeof o[k] !== "boolean") fail(`field ${k} is not a boolean`);
  return o[k] as boolean;
}

function strMap(v: unknown, what: string): Record<string, string> {
  const o = obj(v, what);
  for (const k of Object.keys(o)) s(o, k);
  return o as Record<string, string>;
}

function strList(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) fail(`${what} is not a list of strings`);
  return v as string[];
}

function service(v: unknown): ServiceSpec {
  const o = obj(v, "Service");
  const tagged = obj(o.TaggedAddresses, "TaggedAddresses");
  for (const k of Object.keys(tagged)) {
    const a = obj(tagged[k], "TaggedAddresses entry");
    s(a, "Address");
    n(a, "Port");
  }
  const w = obj(o.Weights, "Weights");
  return {
    ID: s(o, "ID"),
    Service: s(o, "Service"),
    Tags: strList(o.Tags, "Tags"),
    Address: s(o, "Address"),
    TaggedAddresses: tagged as ServiceSpec["TaggedAddresses"],
    Meta: strMap(o.Meta, "Meta"),
    Port: n(o, "Port"),
    Weights: { Passing: n(w, "Passing"), Warning: n(w, "Warning") },
    EnableTagOverride: b(o, "EnableTagOverride"),
    Kind: s(o, "Kind"),
  };
}

function definition(v: unknown): CheckDefinition {
  const o = obj(v, "Definition");
  for (const [k, x] of Object.entries(o)) {
    if (k === "TLSSkipVerify") b(o, k);
    else if (k === "Header") for (const vals of Object.values(obj(x, "Header"))) strList(vals, "Header");
    else s(o, k);
  }
  return o as CheckDefinition;
}

function check(v: unknown): CheckSpec {
  const o = obj(v, "check");
  return {
    Node: s(o, "Node"),
    CheckID: s(o, "CheckID"),
    Name: s(o, "Name"),
    Status: s(o, "Status"),
    Notes: s(o, "Notes"),
    Output: s(o, "Output"),
    ServiceID: s(o, "ServiceID"),
    Type: s(o, "Type"),
    Definition: definition(o.Definition),
  };
}

function parse(text: string): Obj {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    fail("payload is not JSON");
  }
  return obj(v, "payload");
}

/** The canonical text: the encoder's output for the decoded value must be the input. */
function canonical<T>(text: string, value: T): T {
  if (JSON.stringify(value) !== text) fail("payload is not in canonical form");
  return value;
}

function buildRegister(o: Obj): CatalogRegisterRequest {
  if (!Array.isArray(o.Checks)) fail("Checks is not a list");
  return {
    ID: s(o, "ID"),
    Node: s(o, "Node"),
    Address: s(o, "Address"),
    Datacenter: s(o, "Datacenter"),
    TaggedAddresses: strMap(o.TaggedAddresses, "TaggedAddresses"),
    NodeMeta: strMap(o.NodeMeta, "NodeMeta"),
    Service: o.Service === null ? null : service(o.Service),
    Checks: (o.Checks as unknown[]).map(check),
    SkipNodeUpdate: b(o, "SkipNodeUpdate"),
  };
}

function buildDeregister(o: Obj): CatalogDeregisterRequest {
  return {
    Node: s(o, "Node"),
    Datacenter: s(o, "Datacenter"),
    ServiceID: s(o, "ServiceID"),
    CheckID: s(o, "CheckID"),
  };
}

/** The request in canonical form: fields in the decoder's order, whatever order the caller built them in. */
export function encodeRegisterPayload(r: CatalogRegisterRequest): string {
  return JSON.stringify(buildRegister(parse(JSON.stringify(r))));
}

export function decodeRegisterPayload(text: string): CatalogRegisterRequest {
  return canonical(text, buildRegister(parse(text)));
}

export function encodeDeregisterPayload(r: CatalogDeregisterRequest): string {
  return JSON.stringify(buildDeregister(parse(JSON.stringify(r))));
}

export function decodeDeregisterPayload(text: string): CatalogDeregisterRequest {
  return canonical(text, buildDeregister(parse(text)));
}
