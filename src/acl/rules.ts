/**
 * Consul's ACL rules language (acl/policy.go `PolicyRules`, `Validate`; acl/policy_ce.go `decodeRules`): a
 * policy's `Rules` text, HCL or JSON (hcl.ts), decoded into typed rules and validated with Consul's texts.
 *
 * Decoding follows HCL1's decoder into Consul's structs: names match case-insensitively (`Policy`, `policy`),
 * repeated blocks accumulate, keys Consul does not know are ignored (as Consul CE ignores `namespace` and
 * typos alike), a number where a string is expected is taken as its text. Access levels are valid in any case
 * (`AccessLevelFromString` lowers them) and are kept lowered.
 */
import { goQuote } from "../util/goquote.js";
import { AclRulesError } from "./errors.js";
import { type HclItem, HclSyntaxError, type HclValue, parseHcl } from "./hcl.js";

/** An access level a rule grants (acl/policy.go PolicyDeny, PolicyRead, PolicyList, PolicyWrite). */
export type PolicyAccess = "read" | "list" | "write" | "deny";

/** The resources with per-name rules: `key "a" {…}` (exact) and `key_prefix "a" {…}` (prefix). */
export type SegmentResource = "agent" | "event" | "key" | "node" | "query" | "service" | "session";

/** The resources with one rule each: `operator = "read"`. */
export type GlobalResource = "acl" | "keyring" | "mesh" | "operator" | "peering";

export const SEGMENT_RESOURCES: readonly SegmentResource[] = [
  "agent",
  "event",
  "key",
  "node",
  "query",
  "service",
  "session",
];

export const GLOBAL_RESOURCES: readonly GlobalResource[] = ["acl", "keyring", "mesh", "operator", "peering"];

export interface Rule {
  readonly resource: SegmentResource;
  /** `key_prefix` (true) or `key` (false). */
  readonly prefix: boolean;
  /** The exact name or the prefix; "" as a prefix matches everything. */
  readonly name: string;
  readonly policy: PolicyAccess;
  /** Services only: the access to intentions where the service is the destination; absent when not set. */
  readonly intentions?: PolicyAccess;
}

/** A policy's rules, in the order of the text. */
export interface ParsedRules {
  readonly rules: readonly Rule[];
  readonly global: Readonly<Partial<Record<GlobalResource, PolicyAccess>>>;
}

export const EMPTY_RULES: ParsedRules = { rules: [], global: {} };

/** The HCL block name of a rule: `key` or `key_prefix`. */
export function blockName(resource: SegmentResource, prefix: boolean): string {
  return prefix ? `${resource}_prefix` : resource;
}

/** A rule as decoded, before validation: the values are the text's, unchecked. */
interface RawRule {
  readonly resource: SegmentResource;
  readonly prefix: boolean;
  readonly name: string;
  readonly policy: string;
  readonly intentions: string;
}

export interface ParseOptions {
  /**
   * Accept an attribute set twice in one object, the last one winning. Consul refuses duplicates when a policy
   * is written, but tolerates them in policies it already holds, which older versions accepted (acl/policy_ce.go
   * `decodeRules(…, warnOnDuplicateKey)`): pass true for policies read back from the state or a snapshot.
   */
  readonly allowDuplicates?: boolean;
}

/** Parses and validates a policy's Rules (HCL or JSON); throws AclRulesError with Consul's text. */
export function parseRules(text: string, options: ParseOptions = {}): ParsedRules {
  // acl/policy.go NewPolicyFromSource: the hot path for empty source.
  if (text === "") return EMPTY_RULES;
  let items: HclItem[];
  try {
    items = parseHcl(text, options.allowDuplicates ?? false);
  } catch (e) {
    if (e instanceof HclSyntaxError) throw new AclRulesError(`Failed to parse ACL rules: ${e.message}`);
    throw e;
  }
  const raw: RawRule[] = [];
  const global: Partial<Record<GlobalResource, string>> = {};
  try {
    decodeTop(items, raw, global);
  } catch (e) {
    if (e instanceof DecodeError) throw new AclRulesError(`Failed to parse ACL rules: ${e.message}`);
    throw e;
  }
  return validate(raw, global);
}

class DecodeError extends Error {}

/** "a string", "an object": the kind of a value, for messages. */
function kindOf(v: HclValue): string {
  return v.kind === "object" ? "an object" : `a ${v.kind}`;
}

function where(v: HclValue): string {
  return v.pos.line > 0 ? `At ${v.pos.line}:${v.pos.column}: ` : "";
}

const BLOCKS = new Map<string, { resource: SegmentResource; prefix: boolean }>(
  SEGMENT_RESOURCES.flatMap((r) => [
    [r, { resource: r, prefix: false }],
    [`${r}_prefix`, { resource: r, prefix: true }],
  ]),
);

function decodeTop(
  items: readonly HclItem[],
  raw: RawRule[],
  global: Partial<Record<GlobalResource, string>>,
) {
  for (const item of items) {
    const name = item.keys[0]!.text.toLowerCase();
    const scalar = GLOBAL_RESOURCES.find((g) => g === name);
    if (scalar !== undefined) {
      if (item.keys.length > 1 || !item.assign) {
        throw new DecodeError(`${where(item.value)}${name}: expected a string, got a block`);
      }
      // HCL1 decodes each occurrence in turn into the one field: the last one wins.
      global[scalar] = decodeString(item.value, name);
      continue;
    }
    const block = BLOCKS.get(name);
    if (block === undefined) continue;
    if (item.keys.length > 2) {
      throw new DecodeError(
        `${where(item.value)}${name}: a rule takes one label, got ${item.keys.length - 1}`,
      );
    }
    const label = item.keys[1];
    if (label !== undefined) {
      decodeBodies(item.value, block.resource, block.prefix, label.text, raw);
    } else {
      // `key = { "a" = {…} }`, `key { "a" {…} }`, the JSON form, and JSON's lists of such objects.
      for (const obj of objectsOf(item.value, name)) {
        for (const inner of obj.items) {
          if (inner.keys.length > 1) {
            throw new DecodeError(
              `${where(inner.value)}${name}: a rule takes one label, got ${inner.keys.length}`,
            );
          }
          decodeBodies(inner.value, block.resource, block.prefix, inner.keys[0]!.text, raw);
        }
      }
    }
  }
}

/** The objects of a value: an object, or a list of objects (HCL's JSON form allows both). */
function objectsOf(v: HclValue, path: string): Extract<HclValue, { kind: "object" }>[] {
  if (v.kind === "object") return [v];
  if (v.kind === "list") return v.elems.flatMap((e) => objectsOf(e, path));
  throw new DecodeError(`${where(v)}${path}: expected an object, got ${kindOf(v)}`);
}

function decodeBodies(v: HclValue, resource: SegmentResource, prefix: boolean, name: string, raw: RawRule[]) {
  const path = `${blockName(resource, prefix)}.${name}`;
  for (const body of objectsOf(v, path)) {
    let policy = "";
    let intentions = "";
    for (const attr of body.items) {
      const key = attr.keys[0]!.text.toLowerCase();
      if (key === "policy") policy = decodeString(attr.value, `${path}.policy`);
      else if (key === "intentions" && resource === "service") {
        intentions = decodeString(attr.value, `${path}.intentions`);
      }
    }
    raw.push({ resource, prefix, name, policy, intentions });
  }
}

function decodeString(v: HclValue, path: string): string {
  if (v.kind === "string") return v.value;
  if (v.kind === "number") return v.text;
  throw new DecodeError(`${where(v)}${path}: expected a string, got ${kindOf(v)}`);
}

function accessOf(value: string, allowList: boolean): PolicyAccess | undefined {
  const v = value.toLowerCase();
  if (v === "read" || v === "write" || v === "deny") return v;
  if (v === "list" && allowList) return v;
  return undefined;
}

/**
 * Consul's `%#v` of the rule in its error texts (acl/policy.go Validate), e.g.
 * `&acl.KeyRule{Prefix:"foo", Policy:"nope", EnterpriseRule:acl.EnterpriseRule{}}`.
 */
function goRule(r: RawRule): string {
  const q = goQuote;
  switch (r.resource) {
    case "agent":
      return `&acl.AgentRule{Node:${q(r.name)}, Policy:${q(r.policy)}}`;
    case "key":
      return `&acl.KeyRule{Prefix:${q(r.name)}, Policy:${q(r.policy)}, EnterpriseRule:acl.EnterpriseRule{}}`;
    case "node":
      return `&acl.NodeRule{Name:${q(r.name)}, Policy:${q(r.policy)}, EnterpriseRule:acl.EnterpriseRule{}}`;
    case "service":
      return `&acl.ServiceRule{Name:${q(r.name)}, Policy:${q(r.policy)}, Intentions:${q(r.intentions)}, EnterpriseRule:acl.EnterpriseRule{}}`;
    case "session":
      return `&acl.SessionRule{Node:${q(r.name)}, Policy:${q(r.policy)}}`;
    case "event":
      return `&acl.EventRule{Event:${q(r.name)}, Policy:${q(r.policy)}}`;
    case "query":
      return `&acl.PreparedQueryRule{Prefix:${q(r.name)}, Policy:${q(r.policy)}}`;
  }
}

/** The order in which Consul's Validate checks the rules: its first complaint is the one reported. */
const VALIDATION_ORDER: readonly SegmentResource[] = [
  "agent",
  "key",
  "node",
  "service",
  "session",
  "event",
  "query",
];

function validate(raw: readonly RawRule[], global: Partial<Record<GlobalResource, string>>): ParsedRules {
  const invalidGlobal = (g: GlobalResource): AclRulesError | undefined => {
    const v = global[g];
    return v !== undefined && v !== "" && accessOf(v, false) === undefined
      ? new AclRulesError(`Invalid ${g} policy: ${goQuote(v)}`)
      : undefined;
  };
  const aclError = invalidGlobal("acl");
  if (aclError !== undefined) throw aclError;
  const rules: Rule[] = [];
  for (const resource of VALIDATION_ORDER) {
    for (const prefix of [false, true]) {
      for (const r of raw) {
        if (r.resource !== resource || r.prefix !== prefix) continue;
        const policy = accessOf(r.policy, resource === "key");
        if (policy === undefined)
          throw new AclRulesError(`Invalid ${blockName(resource, prefix)} policy: ${goRule(r)}`);
        if (r.intentions !== "" && accessOf(r.intentions, false) === undefined) {
          throw new AclRulesError(`Invalid ${blockName(resource, prefix)} intentions policy: ${goRule(r)}`);
        }
      }
    }
  }
  for (const g of ["keyring", "operator", "mesh", "peering"] as const) {
    const e = invalidGlobal(g);
    if (e !== undefined) throw e;
  }
  for (const r of raw) {
    const intentions = r.intentions === "" ? undefined : accessOf(r.intentions, false);
    const rule: Rule = {
      resource: r.resource,
      prefix: r.prefix,
      name: r.name,
      policy: accessOf(r.policy, r.resource === "key")!,
      ...(intentions === undefined ? {} : { intentions }),
    };
    rules.push(rule);
  }
  const out: Partial<Record<GlobalResource, PolicyAccess>> = {};
  for (const g of GLOBAL_RESOURCES) {
    const v = global[g];
    if (v !== undefined && v !== "") out[g] = accessOf(v, false)!;
  }
  return { rules, global: out };
}
