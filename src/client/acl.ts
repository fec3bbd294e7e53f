/**
 * Consul's ACL API as Go's `api` package calls it (api/acl.go): bootstrap, tokens and policies. Answers decode
 * into ACLToken, ACLTokenListEntry, ACLPolicy and ACLPolicyListEntry with Go's zero values for missing fields,
 * keeping what Go would keep apart: a nil slice from an empty one (`Datacenters`, `Hash` print `null` or `[]`),
 * and times as written (go-time.ts). Every call needs `acl:read`/`acl:write` except bootstrap and read-self;
 * statuses other than 2xx are ApiErrors with Go's text (`Unexpected response code: 403 (ACL not found)`).
 */
import type { ConsulClient, JsonBody } from "./client.js";
import { DecodeError, InvalidRequestError } from "./errors.js";
import { GO_ZERO_TIME, type GoTime, goTimeRfc3339, parseGoTime } from "./go-time.js";
import { isObject, type Json, str, toU64 } from "./json.js";
import { arrayOf, objectOf } from "./types.js";

/** The anonymous token's AccessorID, which the CLI accepts as `anonymous` (consul-compat.md §4.2). */
export const ANONYMOUS_TOKEN_ID = "00000000-0000-0000-0000-000000000002";
/** The built-in `global-management` policy's ID, which the CLI accepts by that name. */
export const GLOBAL_MANAGEMENT_POLICY_ID = "00000000-0000-0000-0000-000000000001";

/** ACLLink: a policy or role named by ID, by Name, or both. */
export interface AclLink {
  readonly id: string;
  readonly name: string;
}

export interface AclServiceIdentity {
  readonly serviceName: string;
  readonly datacenters: readonly string[];
}

export interface AclNodeIdentity {
  readonly nodeName: string;
  readonly datacenter: string;
}

export interface AclTemplatedPolicy {
  readonly templateName: string;
  /** TemplateVariables.Name; null when the server sent no variables. */
  readonly variablesName: string | null;
  readonly datacenters: readonly string[];
}

/** What a token's links and identities are; shared by a token, a list entry and a write. */
export interface AclTokenLinks {
  readonly policies: readonly AclLink[];
  readonly roles: readonly AclLink[];
  readonly serviceIdentities: readonly AclServiceIdentity[];
  readonly nodeIdentities: readonly AclNodeIdentity[];
  readonly templatedPolicies: readonly AclTemplatedPolicy[];
}

interface AclTokenCommon extends AclTokenLinks {
  readonly createIndex: bigint;
  readonly modifyIndex: bigint;
  readonly accessorId: string;
  readonly secretId: string;
  readonly description: string;
  readonly local: boolean;
  readonly authMethod: string;
  /** null when the server sent none (Go's nil pointer). */
  readonly expirationTime: GoTime | null;
  readonly createTime: GoTime;
  /** null for JSON null or a missing field (Go's nil slice). */
  readonly hash: Buffer | null;
  readonly namespace: string;
  readonly partition: string;
  readonly authMethodNamespace: string;
}

/** api.ACLToken. */
export interface AclToken extends AclTokenCommon {
  /** Nanoseconds, as Go's time.Duration goes on the wire; 0n when absent. */
  readonly expirationTtlNs: bigint;
}

/** api.ACLTokenListEntry (its SecretID is redacted by the server for tokens without acl:write). */
export interface AclTokenListEntry extends AclTokenCommon {
  readonly legacy: boolean;
}

/** api.ACLPolicyListEntry. */
export interface AclPolicyListEntry {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  /** null for Go's nil slice (no datacenter scope). */
  readonly datacenters: readonly string[] | null;
  readonly hash: Buffer | null;
  readonly createIndex: bigint;
  readonly modifyIndex: bigint;
  readonly namespace: string;
  readonly partition: string;
}

/** api.ACLPolicy. */
export interface AclPolicy extends AclPolicyListEntry {
  readonly rules: string;
}

/** The fields a token create or update sends (the rest are the server's). */
export interface AclTokenWrite extends Partial<AclTokenLinks> {
  readonly accessorId?: string;
  readonly secretId?: string;
  readonly description?: string;
  readonly local?: boolean;
  /** Positive: the token expires this many nanoseconds after creation. */
  readonly expirationTtlNs?: bigint;
  /** Sent back unchanged on update (Consul refuses to change it). */
  readonly expirationTime?: GoTime | null;
}

/** The fields a policy create or update sends. */
export interface AclPolicyWrite {
  readonly name: string;
  readonly description?: string;
  readonly rules?: string;
  /** null or absent: valid in every datacenter. */
  readonly datacenters?: readonly string[] | null;
}

// --- decoding -----------------------------------------------------------------------------------------------

function strings(v: Json | undefined, what: string): string[] {
  return arrayOf(v ?? null, what).map((s) => {
    if (typeof s !== "string") throw new DecodeError(`Failed to decode ${what}: expected strings`);
    return s;
  });
}

/** A Go `[]string` field: null stays null (nil), anything else must be an array of strings. */
function nullableStrings(v: Json | undefined, what: string): string[] | null {
  return v === undefined || v === null ? null : strings(v, what);
}

function bytes(v: Json | undefined, what: string): Buffer | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") throw new DecodeError(`Failed to decode ${what}: expected base64 text`);
  return Buffer.from(v, "base64");
}

function time(v: Json | undefined, what: string): GoTime | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") throw new DecodeError(`Failed to decode ${what}: expected an RFC 3339 string`);
  return parseGoTime(v, what);
}

function bool(v: Json | undefined, what: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw new DecodeError(`Failed to decode ${what}: expected true or false`);
  return v;
}

function u64(v: Json | undefined, what: string): bigint {
  try {
    return toU64(v, what);
  } catch (e) {
    throw new DecodeError(`Failed to decode ${what}: expected an unsigned integer`, { cause: e });
  }
}

function decodeLinks(o: { [key: string]: Json }, what: string): AclTokenLinks {
  const link = (v: Json): AclLink => {
    const l = objectOf(v, `${what} link`);
    return { id: str(l.ID), name: str(l.Name) };
  };
  return {
    policies: arrayOf(o.Policies ?? null, `${what} Policies`).map(link),
    roles: arrayOf(o.Roles ?? null, `${what} Roles`).map(link),
    serviceIdentities: arrayOf(o.ServiceIdentities ?? null, `${what} ServiceIdentities`).map((v) => {
      const s = objectOf(v, `${what} ServiceIdentities`);
      return { serviceName: str(s.ServiceName), datacenters: strings(s.Datacenters, "Datacenters") };
    }),
    nodeIdentities: arrayOf(o.NodeIdentities ?? null, `${what} NodeIdentities`).map((v) => {
      const n = objectOf(v, `${what} NodeIdentities`);
      return { nodeName: str(n.NodeName), datacenter: str(n.Datacenter) };
    }),
    templatedPolicies: arrayOf(o.TemplatedPolicies ?? null, `${what} TemplatedPolicies`).map((v) => {
      const t = objectOf(v, `${what} TemplatedPolicies`);
      const vars = t.TemplateVariables;
      return {
        templateName: str(t.TemplateName),
        variablesName: isObject(vars) ? str(vars.Name) : null,
        datacenters: strings(t.Datacenters, "Datacenters"),
      };
    }),
  };
}

function decodeTokenCommon(v: Json | undefined, what: string): [AclTokenCommon, { [key: string]: Json }] {
  const o = objectOf(v, what);
  const common: AclTokenCommon = {
    ...decodeLinks(o, what),
    createIndex: u64(o.CreateIndex, "CreateIndex"),
    modifyIndex: u64(o.ModifyIndex, "ModifyIndex"),
    accessorId: str(o.AccessorID),
    secretId: str(o.SecretID),
    description: str(o.Description),
    local: bool(o.Local, "Local"),
    authMethod: str(o.AuthMethod),
    expirationTime: time(o.ExpirationTime, "ExpirationTime"),
    createTime: time(o.CreateTime, "CreateTime") ?? GO_ZERO_TIME,
    hash: bytes(o.Hash, "Hash"),
    namespace: str(o.Namespace),
    partition: str(o.Partition),
    authMethodNamespace: str(o.AuthMethodNamespace),
  };
  return [common, o];
}

export function decodeAclToken(v: Json | undefined): AclToken {
  const [common, o] = decodeTokenCommon(v, "ACL token");
  // Go's time.Duration decodes only from a JSON number (nanoseconds).
  const ttl = o.ExpirationTTL;
  if (ttl !== undefined && ttl !== null && typeof ttl !== "number" && typeof ttl !== "bigint")
    throw new DecodeError("Failed to decode ExpirationTTL: expected nanoseconds as a number");
  const ns = ttl === undefined || ttl === null ? 0n : BigInt(typeof ttl === "number" ? Math.trunc(ttl) : ttl);
  return { ...common, expirationTtlNs: ns };
}

export function decodeAclTokenListEntry(v: Json | undefined): AclTokenListEntry {
  const [common, o] = decodeTokenCommon(v, "ACL token list entry");
  return { ...common, legacy: bool(o.Legacy, "Legacy") };
}

export function decodeAclPolicyListEntry(v: Json | undefined): AclPolicyListEntry {
  const o = objectOf(v, "ACL policy");
  return {
    id: str(o.ID),
    name: str(o.Name),
    description: str(o.Description),
    datacenters: nullableStrings(o.Datacenters, "Datacenters"),
    hash: bytes(o.Hash, "Hash"),
    createIndex: u64(o.CreateIndex, "CreateIndex"),
    modifyIndex: u64(o.ModifyIndex, "ModifyIndex"),
    namespace: str(o.Namespace),
    partition: str(o.Partition),
  };
}

export function decodeAclPolicy(v: Json | undefined): AclPolicy {
  const entry = decodeAclPolicyListEntry(v);
  return { ...entry, rules: str(objectOf(v, "ACL policy").Rules) };
}

// --- request bodies -----------------------------------------------------------------------------------------

function linksBody(w: Partial<AclTokenLinks>): { [key: string]: JsonBody } {
  const body: { [key: string]: JsonBody } = {};
  const links = (l: readonly AclLink[]): JsonBody => l.map((x) => ({ ID: x.id, Name: x.name }));
  // Go's api omits empty slices (omitempty), which the server reads as "none".
  if ((w.policies ?? []).length > 0) body.Policies = links(w.policies ?? []);
  if ((w.roles ?? []).length > 0) body.Roles = links(w.roles ?? []);
  if ((w.serviceIdentities ?? []).length > 0)
    body.ServiceIdentities = (w.serviceIdentities ?? []).map((s) => ({
      ServiceName: s.serviceName,
      ...(s.datacenters.length > 0 ? { Datacenters: [...s.datacenters] } : {}),
    }));
  if ((w.nodeIdentities ?? []).length > 0)
    body.NodeIdentities = (w.nodeIdentities ?? []).map((n) => ({
      NodeName: n.nodeName,
      Datacenter: n.datacenter,
    }));
  if ((w.templatedPolicies ?? []).length > 0)
    body.TemplatedPolicies = (w.templatedPolicies ?? []).map((t) => ({
      TemplateName: t.templateName,
      ...(t.variablesName === null ? {} : { TemplateVariables: { Name: t.variablesName } }),
      ...(t.datacenters.length > 0 ? { Datacenters: [...t.datacenters] } : {}),
    }));
  return body;
}

/** A token write in api.ACLToken's field order; the server fills in what is left out. */
function tokenBody(w: AclTokenWrite): JsonBody {
  const ttl = w.expirationTtlNs ?? 0n;
  return {
    AccessorID: w.accessorId ?? "",
    SecretID: w.secretId ?? "",
    Description: w.description ?? "",
    ...linksBody(w),
    Local: w.local ?? false,
    // Consul's server reads this number as a float64, so a JS number loses nothing it would keep.
    ...(ttl > 0n ? { ExpirationTTL: Number(ttl) } : {}),
    ...(w.expirationTime === undefined || w.expirationTime === null
      ? {}
      : { ExpirationTime: goTimeRfc3339(w.expirationTime) }),
  };
}

function policyBody(p: AclPolicyWrite, id: string): JsonBody {
  return {
    ID: id,
    Name: p.name,
    Description: p.description ?? "",
    Rules: p.rules ?? "",
    Datacenters: p.datacenters === undefined || p.datacenters === null ? null : [...p.datacenters],
  };
}

/** Go's url.PathEscape of one path segment (an accessor or policy ID, a policy name). */
function segment(s: string): string {
  return encodeURIComponent(s);
}

/** The ACL endpoints over a client; as Go's `client.ACL()`. */
export class AclApi {
  constructor(private readonly client: ConsulClient) {}

  /** PUT /v1/acl/bootstrap; `secret` (a UUID) becomes the management token's SecretID when given. */
  async bootstrap(secret = ""): Promise<AclToken> {
    const body = secret === "" ? undefined : { BootstrapSecret: secret };
    const r = await this.client.callJson("PUT", "/v1/acl/bootstrap", {
      ...(body === undefined ? {} : { body }),
      what: "ACL token",
    });
    return decodeAclToken(r.value);
  }

  async tokenCreate(w: AclTokenWrite): Promise<AclToken> {
    const r = await this.client.callJson("PUT", "/v1/acl/token", { body: tokenBody(w), what: "ACL token" });
    return decodeAclToken(r.value);
  }

  async tokenRead(accessorId: string): Promise<AclToken> {
    const r = await this.client.callJson("GET", `/v1/acl/token/${segment(accessorId)}`, {
      what: "ACL token",
    });
    return decodeAclToken(r.value);
  }

  /** The token the client sends (its SecretID): GET /v1/acl/token/self, which needs no ACL rights. */
  async tokenReadSelf(): Promise<AclToken> {
    const r = await this.client.callJson("GET", "/v1/acl/token/self", { what: "ACL token" });
    return decodeAclToken(r.value);
  }

  /** PUT /v1/acl/token/<accessor>; as Go's TokenUpdate, an empty accessor is refused before sending. */
  async tokenUpdate(accessorId: string, w: AclTokenWrite): Promise<AclToken> {
    if (accessorId === "") throw new InvalidRequestError("Must specify an AccessorID for Token Updating");
    const body = tokenBody({ ...w, accessorId });
    const r = await this.client.callJson("PUT", `/v1/acl/token/${segment(accessorId)}`, {
      body,
      what: "ACL token",
    });
    return decodeAclToken(r.value);
  }

  async tokenClone(accessorId: string, description: string): Promise<AclToken> {
    if (accessorId === "") throw new InvalidRequestError("Must specify a token AccessorID for Token Cloning");
    const r = await this.client.callJson("PUT", `/v1/acl/token/${segment(accessorId)}/clone`, {
      body: { Description: description },
      what: "ACL token",
    });
    return decodeAclToken(r.value);
  }

  async tokenDelete(accessorId: string): Promise<void> {
    await this.client.callJson("DELETE", `/v1/acl/token/${segment(accessorId)}`);
  }

  async tokenList(): Promise<AclTokenListEntry[]> {
    const r = await this.client.callJson("GET", "/v1/acl/tokens", { what: "ACL tokens" });
    return arrayOf(r.value, "ACL tokens").map(decodeAclTokenListEntry);
  }

  /** PUT /v1/acl/policy; the server assigns the ID. */
  async policyCreate(p: AclPolicyWrite): Promise<AclPolicy> {
    const r = await this.client.callJson("PUT", "/v1/acl/policy", {
      body: policyBody(p, ""),
      what: "ACL policy",
    });
    return decodeAclPolicy(r.value);
  }

  async policyRead(id: string): Promise<AclPolicy> {
    const r = await this.client.callJson("GET", `/v1/acl/policy/${segment(id)}`, { what: "ACL policy" });
    return decodeAclPolicy(r.value);
  }

  /** null when no policy has that name (the server's 404), as Go's PolicyReadByName. */
  async policyReadByName(name: string): Promise<AclPolicy | null> {
    const r = await this.client.callJson("GET", `/v1/acl/policy/name/${segment(name)}`, {
      notFoundOk: true,
      what: "ACL policy",
    });
    return r.notFound ? null : decodeAclPolicy(r.value);
  }

  async policyUpdate(id: string, p: AclPolicyWrite): Promise<AclPolicy> {
    if (id === "") throw new InvalidRequestError("Must specify an ID in Policy Update");
    const r = await this.client.callJson("PUT", `/v1/acl/policy/${segment(id)}`, {
      body: policyBody(p, id),
      what: "ACL policy",
    });
    return decodeAclPolicy(r.value);
  }

  async policyDelete(id: string): Promise<void> {
    await this.client.callJson("DELETE", `/v1/acl/policy/${segment(id)}`);
  }

  async policyList(): Promise<AclPolicyListEntry[]> {
    const r = await this.client.callJson("GET", "/v1/acl/policies", { what: "ACL policies" });
    return arrayOf(r.value, "ACL policies").map(decodeAclPolicyListEntry);
  }
}
