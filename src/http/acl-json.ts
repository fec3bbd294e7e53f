/**
 * The JSON of Consul's ACL endpoints: tokens and policies in Consul's field order (structs.ACLToken,
 * ACLTokenListStub, ACLPolicy, ACLPolicyListStub, with their omitempty fields), and the request bodies of token
 * and policy writes, decoded as Go's encoding/json does (field names case-insensitive, unknown fields ignored).
 */
import type { AclLinkRequest, AclPolicyRequest, AclTokenRequest } from "../api/acl-types.js";
import { parseGoDuration } from "../fsm/index.js";
import { type AclPolicyRecord, type AclTokenRecord, type Decoded, goTimeJson } from "../snapshot/index.js";
import { errorText } from "../util/errors.js";
import { HttpError } from "./errors.js";
import type { GoJson } from "./json.js";

const utf8 = new TextDecoder();

/** A restored record's uninterpreted field (identities, roles) as JSON: Go strings were bytes on the wire. */
function decodedJson(v: Decoded): GoJson {
  if (v instanceof Uint8Array) return utf8.decode(v);
  if (Array.isArray(v)) return v.map(decodedJson);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decodedJson(x)]));
  }
  return v;
}

/** A list field with `json:",omitempty"`: absent when nil or empty. */
function listOrOmit(v: Decoded | undefined): GoJson | undefined {
  return Array.isArray(v) && v.length > 0 ? decodedJson(v) : undefined;
}

const base64 = (b: Uint8Array | null): string | null =>
  b === null ? null : Buffer.from(b).toString("base64");

function tokenFields(t: AclTokenRecord): { [k: string]: GoJson | undefined } {
  return {
    AccessorID: t.AccessorID,
    SecretID: t.SecretID,
    Description: t.Description,
    Policies: t.Policies === null || t.Policies.length === 0 ? undefined : t.Policies.map((l) => ({ ...l })),
    Roles: listOrOmit(t.extra?.Roles),
    ServiceIdentities: listOrOmit(t.extra?.ServiceIdentities),
    NodeIdentities: listOrOmit(t.extra?.NodeIdentities),
    TemplatedPolicies: listOrOmit(t.extra?.TemplatedPolicies),
    Local: t.Local,
    AuthMethod: t.AuthMethod === "" ? undefined : t.AuthMethod,
    ExpirationTime: t.ExpirationTime === null ? undefined : goTimeJson(t.ExpirationTime),
    ExpirationTTL: t.ExpirationTTL === 0 ? undefined : t.ExpirationTTL,
  };
}

/** structs.ACLToken as GET /v1/acl/token/<id> answers it. */
export function tokenJson(t: AclTokenRecord): { readonly [k: string]: GoJson | undefined } {
  return {
    ...tokenFields(t),
    CreateTime: goTimeJson(t.CreateTime),
    Hash: base64(t.Hash),
    CreateIndex: t.CreateIndex,
    ModifyIndex: t.ModifyIndex,
  };
}

/** structs.ACLTokenListStub, as GET /v1/acl/tokens lists them. */
export function tokenStubJson(t: AclTokenRecord): GoJson {
  const { ExpirationTTL: _ttl, ...fields } = tokenFields(t);
  return {
    ...fields,
    CreateTime: goTimeJson(t.CreateTime),
    Hash: base64(t.Hash),
    CreateIndex: t.CreateIndex,
    ModifyIndex: t.ModifyIndex,
  };
}

export function policyJson(p: AclPolicyRecord): GoJson {
  return {
    ID: p.ID,
    Name: p.Name,
    Description: p.Description,
    Rules: p.Rules,
    Datacenters: p.Datacenters === null ? null : [...p.Datacenters],
    Hash: base64(p.Hash),
    CreateIndex: p.CreateIndex,
    ModifyIndex: p.ModifyIndex,
  };
}

export function policyStubJson(p: AclPolicyRecord): GoJson {
  return {
    ID: p.ID,
    Name: p.Name,
    Description: p.Description,
    Datacenters: p.Datacenters === null ? null : [...p.Datacenters],
    Hash: base64(p.Hash),
    CreateIndex: p.CreateIndex,
    ModifyIndex: p.ModifyIndex,
  };
}

// ---- request bodies ----

/** What decoding a body failed with: `Token decoding failed: …` / `Policy decoding failed: …`, as Consul's. */
function decodeFailed(why: string, type: string): HttpError {
  return new HttpError(400, `${type.includes("Policy") ? "Policy" : "Token"} decoding failed: ${why}`);
}

/** A body's fields by lower-cased name (Go matches JSON names case-insensitively); {} for an empty body. */
function bodyFields(body: Uint8Array, type: string): Map<string, unknown> {
  const text = Buffer.from(body).toString("utf8");
  if (text.trim() === "") return new Map();
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw decodeFailed(errorText(e), type);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw decodeFailed(`json: cannot unmarshal into Go value of type ${type}`, type);
  return new Map(Object.entries(raw).map(([k, v]) => [k.toLowerCase(), v]));
}

function field<T>(
  f: Map<string, unknown>,
  name: string,
  type: string,
  check: (v: unknown) => v is T,
): T | undefined {
  const v = f.get(name.toLowerCase());
  if (v === undefined || v === null) return undefined;
  if (!check(v)) throw decodeFailed(`json: cannot unmarshal into Go struct field ${type}.${name}`, type);
  return v;
}

const isString = (v: unknown): v is string => typeof v === "string";
const isBool = (v: unknown): v is boolean => typeof v === "boolean";
const isArray = (v: unknown): v is unknown[] => Array.isArray(v);
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

function links(v: unknown[] | undefined): readonly AclLinkRequest[] | null {
  if (v === undefined) return null;
  return v.map((item) => {
    if (typeof item !== "object" || item === null || Array.isArray(item))
      throw decodeFailed("json: cannot unmarshal into Go struct field ACLToken.Policies", "ACLToken");
    const f = new Map(Object.entries(item).map(([k, x]) => [k.toLowerCase(), x]));
    const out: { ID?: string; Name?: string } = {};
    const id = field(f, "ID", "ACLToken.Policies", isString);
    const name = field(f, "Name", "ACLToken.Policies", isString);
    if (id !== undefined) out.ID = id;
    if (name !== undefined) out.Name = name;
    return out;
  });
}

/** ExpirationTTL: a Go duration string ("10m") or nanoseconds, as structs.ACLToken's UnmarshalJSON takes it. */
function ttlNs(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (isNumber(v)) return Math.trunc(v);
  if (isString(v)) {
    try {
      return Number(parseGoDuration(v));
    } catch (e) {
      throw decodeFailed(errorText(e), "ACLToken");
    }
  }
  throw decodeFailed("json: cannot unmarshal into Go struct field ACLToken.ExpirationTTL", "ACLToken");
}

/** Token links cairn does not grant rights through yet: refused on write rather than stored and ignored. */
const UNSUPPORTED_TOKEN_LINKS = ["Roles", "ServiceIdentities", "NodeIdentities", "TemplatedPolicies"];

export function parseTokenRequest(body: Uint8Array): AclTokenRequest {
  const f = bodyFields(body, "structs.ACLToken");
  for (const name of UNSUPPORTED_TOKEN_LINKS) {
    const v = f.get(name.toLowerCase());
    if (Array.isArray(v) && v.length > 0)
      throw new HttpError(
        400,
        `cairn does not support ${name} on tokens yet; link policies with Policies instead`,
      );
  }
  const out: { -readonly [K in keyof AclTokenRequest]: AclTokenRequest[K] } = {};
  const s = (name: string): string | undefined => field(f, name, "ACLToken", isString);
  const accessor = s("AccessorID");
  if (accessor !== undefined) out.AccessorID = accessor;
  const secret = s("SecretID");
  if (secret !== undefined) out.SecretID = secret;
  const description = s("Description");
  if (description !== undefined) out.Description = description;
  out.Policies = links(field(f, "Policies", "ACLToken", isArray));
  const local = field(f, "Local", "ACLToken", isBool);
  if (local !== undefined) out.Local = local;
  const ttl = ttlNs(f.get("expirationttl"));
  if (ttl !== undefined) out.ExpirationTTL = ttl;
  const at = s("ExpirationTime");
  if (at !== undefined) {
    const ms = Date.parse(at);
    if (Number.isNaN(ms)) throw decodeFailed(`parsing time ${JSON.stringify(at)} as RFC 3339`, "ACLToken");
    out.ExpirationTime = ms;
  }
  return out;
}

export function parsePolicyRequest(body: Uint8Array): AclPolicyRequest {
  const f = bodyFields(body, "structs.ACLPolicy");
  const out: { -readonly [K in keyof AclPolicyRequest]: AclPolicyRequest[K] } = {};
  const s = (name: string): string | undefined => field(f, name, "ACLPolicy", isString);
  for (const name of ["ID", "Name", "Description", "Rules"] as const) {
    const v = s(name);
    if (v !== undefined) out[name] = v;
  }
  const dcs = field(f, "Datacenters", "ACLPolicy", isArray);
  if (dcs !== undefined) {
    if (!dcs.every(isString))
      throw decodeFailed("json: cannot unmarshal into Go struct field ACLPolicy.Datacenters", "ACLPolicy");
    out.Datacenters = dcs;
  }
  return out;
}

/** Clone's body: only Description counts. */
export function parseCloneDescription(body: Uint8Array): string {
  return field(bodyFields(body, "structs.ACLToken"), "Description", "ACLToken", isString) ?? "";
}
