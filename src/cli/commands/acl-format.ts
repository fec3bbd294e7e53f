/**
 * The output of `acl` commands, as Consul's formatters write it (command/acl/token/formatter.go,
 * command/acl/policy/formatter.go): `pretty`, label-aligned lines with `Create Time` as Go's Time.String and
 * `Hash` as hex (only with -meta), or `json`, json.MarshalIndent of the Go struct with four spaces. The JSON is
 * rebuilt in the Go struct's field order with its omitempty rules, not echoed from the server, so it reads the
 * same whatever order or extra fields a server sends.
 */
import {
  type AclLink,
  type AclPolicy,
  type AclPolicyListEntry,
  type AclToken,
  type AclTokenLinks,
  type AclTokenListEntry,
  type GoTime,
  goTimeRfc3339,
  goTimeString,
  type Json,
} from "../../client/index.js";
import { flag } from "../../util/flags.js";
import { goMarshalIndent } from "../go-json.js";

export const ACL_FORMATS = ["pretty", "json"] as const;
export type AclFormat = (typeof ACL_FORMATS)[number];

/** `-format`, as every token and policy command declares it. */
export const formatFlag = flag.string("pretty", `Output format {${ACL_FORMATS.join("|")}}`);

/** NewFormatter's check; Consul makes it after the call, cairn before anything is sent. Throws `Unknown format`. */
export function aclFormat(name: string): AclFormat {
  const found = ACL_FORMATS.find((f) => f === name);
  if (found === undefined) throw new Error(`Unknown format: ${name}`);
  return found;
}

// --- pretty -------------------------------------------------------------------------------------------------

function links(title: string, l: readonly AclLink[]): string {
  return l.length === 0 ? "" : `${title}:\n${l.map((x) => `   ${x.id} - ${x.name}\n`).join("")}`;
}

function identities(t: AclTokenLinks): string {
  let s = links("Policies", t.policies) + links("Roles", t.roles);
  if (t.serviceIdentities.length > 0) {
    s += "Service Identities:\n";
    for (const id of t.serviceIdentities) {
      const dcs = id.datacenters.length > 0 ? id.datacenters.join(", ") : "all";
      s += `   ${id.serviceName} (Datacenters: ${dcs})\n`;
    }
  }
  if (t.nodeIdentities.length > 0) {
    s += "Node Identities:\n";
    for (const id of t.nodeIdentities) s += `   ${id.nodeName} (Datacenter: ${id.datacenter})\n`;
  }
  if (t.templatedPolicies.length > 0) {
    s += "Templated Policies:\n";
    for (const tp of t.templatedPolicies) {
      s += `   ${tp.templateName}\n`;
      if (tp.variablesName !== null && tp.variablesName !== "") s += `      Name: ${tp.variablesName}\n`;
      s += `      Datacenters: ${tp.datacenters.length > 0 ? tp.datacenters.join(", ") : "all"}\n`;
    }
  }
  return s;
}

const hex = (b: Buffer | null): string => (b === null ? "" : b.toString("hex"));

/** FormatToken's pretty text, and FormatTokenList's entries (the same fields). Ends with a newline. */
function prettyToken(t: AclToken | AclTokenListEntry, showMeta: boolean): string {
  let s = `AccessorID:       ${t.accessorId}\nSecretID:         ${t.secretId}\n`;
  if (t.partition !== "") s += `Partition:        ${t.partition}\n`;
  if (t.namespace !== "") s += `Namespace:        ${t.namespace}\n`;
  s += `Description:      ${t.description}\nLocal:            ${t.local}\n`;
  if (t.authMethod !== "") s += `Auth Method:      ${t.authMethod} (Namespace: ${t.authMethodNamespace})\n`;
  s += `Create Time:      ${goTimeString(t.createTime)}\n`;
  if (t.expirationTime !== null && !isZeroTime(t.expirationTime))
    s += `Expiration Time:  ${goTimeString(t.expirationTime)}\n`;
  if (showMeta) {
    s += `Hash:             ${hex(t.hash)}\n`;
    s += `Create Index:     ${t.createIndex}\nModify Index:     ${t.modifyIndex}\n`;
  }
  return s + identities(t);
}

function isZeroTime(t: GoTime): boolean {
  return (
    t.year === 1 &&
    t.month === 1 &&
    t.day === 1 &&
    t.hour === 0 &&
    t.minute === 0 &&
    t.second === 0 &&
    t.nanos === 0 &&
    (t.offsetSeconds ?? 0) === 0
  );
}

function prettyPolicy(p: AclPolicy): string {
  return `Rules:\n${p.rules}`;
}

function prettyPolicyHead(p: AclPolicyListEntry, indent: string, showMeta: boolean): string {
  let s = `${indent}ID:           ${p.id}\n`;
  if (indent === "") s += `Name:         ${p.name}\n`;
  if (p.partition !== "") s += `${indent}Partition:    ${p.partition}\n`;
  if (p.namespace !== "") s += `${indent}Namespace:    ${p.namespace}\n`;
  s += `${indent}Description:  ${p.description}\n`;
  s += `${indent}Datacenters:  ${(p.datacenters ?? []).join(", ")}\n`;
  if (showMeta) {
    s += `${indent}Hash:         ${hex(p.hash)}\n`;
    s += `${indent}Create Index: ${p.createIndex}\n${indent}Modify Index: ${p.modifyIndex}\n`;
  }
  return s;
}

// --- json (Go's struct order and omitempty) -----------------------------------------------------------------

type JsonObject = { [key: string]: Json };

function linksJson(t: AclTokenLinks): JsonObject {
  const o: JsonObject = {};
  const link = (l: AclLink): Json => ({ ID: l.id, Name: l.name });
  if (t.policies.length > 0) o.Policies = t.policies.map(link);
  if (t.roles.length > 0) o.Roles = t.roles.map(link);
  if (t.serviceIdentities.length > 0)
    o.ServiceIdentities = t.serviceIdentities.map((s) => ({
      ServiceName: s.serviceName,
      ...(s.datacenters.length > 0 ? { Datacenters: [...s.datacenters] } : {}),
    }));
  if (t.nodeIdentities.length > 0)
    o.NodeIdentities = t.nodeIdentities.map((n) => ({ NodeName: n.nodeName, Datacenter: n.datacenter }));
  if (t.templatedPolicies.length > 0)
    o.TemplatedPolicies = t.templatedPolicies.map((tp) => ({
      TemplateName: tp.templateName,
      ...(tp.variablesName === null ? {} : { TemplateVariables: { Name: tp.variablesName } }),
      ...(tp.datacenters.length > 0 ? { Datacenters: [...tp.datacenters] } : {}),
    }));
  return o;
}

const omitEmpty = (key: string, v: string): JsonObject => (v === "" ? {} : { [key]: v });
const base64OrNull = (b: Buffer | null): Json => (b === null ? null : b.toString("base64"));

function tenancyJson(t: { namespace: string; partition: string }): JsonObject {
  return { ...omitEmpty("Namespace", t.namespace), ...omitEmpty("Partition", t.partition) };
}

/**
 * api.ACLToken and api.ACLTokenListEntry share their fields and order; they differ in ExpirationTTL (a token's
 * only) and Hash (omitempty on a token, always written in a list entry, `null` when nil).
 */
function tokenFieldsJson(t: AclToken | AclTokenListEntry, ttl: JsonObject, hash: JsonObject): Json {
  return {
    CreateIndex: t.createIndex,
    ModifyIndex: t.modifyIndex,
    AccessorID: t.accessorId,
    SecretID: t.secretId,
    Description: t.description,
    ...linksJson(t),
    Local: t.local,
    ...omitEmpty("AuthMethod", t.authMethod),
    ...ttl,
    ...(t.expirationTime === null ? {} : { ExpirationTime: goTimeRfc3339(t.expirationTime) }),
    CreateTime: goTimeRfc3339(t.createTime),
    ...hash,
    ...tenancyJson(t),
    ...omitEmpty("AuthMethodNamespace", t.authMethodNamespace),
  };
}

/** api.ACLToken. */
export function tokenJson(t: AclToken): Json {
  return tokenFieldsJson(
    t,
    t.expirationTtlNs === 0n ? {} : { ExpirationTTL: t.expirationTtlNs },
    t.hash === null || t.hash.length === 0 ? {} : { Hash: t.hash.toString("base64") },
  );
}

/** api.ACLTokenListEntry (Legacy is `json:"-"`). */
export function tokenListEntryJson(t: AclTokenListEntry): Json {
  return tokenFieldsJson(t, {}, { Hash: base64OrNull(t.hash) });
}

/** api.ACLPolicyListEntry, and api.ACLPolicy with its Rules after Description. */
export function policyJson(p: AclPolicyListEntry | AclPolicy): Json {
  return {
    ID: p.id,
    Name: p.name,
    Description: p.description,
    ...("rules" in p ? { Rules: p.rules } : {}),
    Datacenters: p.datacenters === null ? null : [...p.datacenters],
    Hash: base64OrNull(p.hash),
    CreateIndex: p.createIndex,
    ModifyIndex: p.modifyIndex,
    ...tenancyJson(p),
  };
}

// --- the formatters -----------------------------------------------------------------------------------------

const indentJson = (v: Json): string => goMarshalIndent(v, "    ");

export function formatToken(t: AclToken, format: AclFormat, showMeta: boolean): string {
  return format === "json" ? indentJson(tokenJson(t)) : prettyToken(t, showMeta);
}

/** Pretty entries are separated by a blank line; an empty list prints nothing (pretty) or `[]` (json). */
export function formatTokenList(
  ts: readonly AclTokenListEntry[],
  format: AclFormat,
  showMeta: boolean,
): string {
  if (format === "json") return indentJson(ts.map(tokenListEntryJson));
  return ts.map((t) => prettyToken(t, showMeta)).join("\n");
}

export function formatPolicy(p: AclPolicy, format: AclFormat, showMeta: boolean): string {
  return format === "json" ? indentJson(policyJson(p)) : prettyPolicyHead(p, "", showMeta) + prettyPolicy(p);
}

export function formatPolicyList(
  ps: readonly AclPolicyListEntry[],
  format: AclFormat,
  showMeta: boolean,
): string {
  if (format === "json") return indentJson(ps.map(policyJson));
  return ps.map((p) => `${p.name}:\n${prettyPolicyHead(p, "   ", showMeta)}`).join("");
}
