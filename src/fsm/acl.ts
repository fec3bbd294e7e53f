/**
 * ACL tokens and policies in the state store: the tables (tokens by AccessorID with an index by SecretID,
 * policies by ID with an index by Name: Consul's "acl-tokens" and "acl-policies" tables), the reads with
 * Consul's index rules, and the state-store half of Consul's checks (agent/consul/state/acl.go), which run on
 * every replica identically. The endpoint half (UUIDs, reserved ids, names, expiry) is api/'s, before Raft.
 *
 * Pure: the proposer chooses every id and secret and computes each Hash; the leader's clock arrives in the
 * command (`time`, ms) and becomes CreateTime. Rows restored from an archive keep their record's bytes (`raw`)
 * until a write replaces them, so an unchanged store writes a Consul archive back byte for byte.
 */
import { ANONYMOUS_TOKEN_ACCESSOR_ID, GLOBAL_MANAGEMENT_POLICY_ID } from "../acl/index.js";
import {
  type AclLink,
  type AclPolicyRecord,
  type AclTokenRecord,
  goTimeFromMs,
  type RawRecord,
} from "../snapshot/index.js";
import { OrderedMap } from "./btree.js";
import { AclError } from "./errors.js";

export const TABLE_ACL_TOKENS = "acl-tokens";
export const TABLE_ACL_POLICIES = "acl-policies";
/** The index row whose presence means "bootstrapped"; its value is the reset index (Consul's name). */
export const ACL_BOOTSTRAP_ROW = "acl-token-bootstrap";

export { GLOBAL_MANAGEMENT_POLICY_ID } from "../acl/index.js";
/** The anonymous token's AccessorID. */
export const ANONYMOUS_TOKEN_ID = ANONYMOUS_TOKEN_ACCESSOR_ID;

export interface AclTokenRow {
  readonly rec: AclTokenRecord;
  /** The restored record's bytes, written back while the row is unchanged. */
  readonly raw?: RawRecord;
}

export interface AclPolicyRow {
  readonly rec: AclPolicyRecord;
  readonly raw?: RawRecord;
}

/** The ACL tables; OrderedMaps, so a snapshot clones them in O(1). */
export interface AclTables {
  tokens: OrderedMap<AclTokenRow>;
  /** SecretID → AccessorID; also the order Consul writes token records in (its memdb "id" index). */
  secrets: OrderedMap<string>;
  policies: OrderedMap<AclPolicyRow>;
  /** Name → ID. */
  names: OrderedMap<string>;
}

export function emptyAclTables(): AclTables {
  return {
    tokens: new OrderedMap(),
    secrets: new OrderedMap(),
    policies: new OrderedMap(),
    names: new OrderedMap(),
  };
}

export function cloneAclTables(t: AclTables): AclTables {
  return {
    tokens: t.tokens.clone(),
    secrets: t.secrets.clone(),
    policies: t.policies.clone(),
    names: t.names.clone(),
  };
}

/** A token as the proposer filled it in (ids chosen, policy links resolved to IDs, hash computed). */
export interface AclTokenSpec {
  readonly AccessorID: string;
  readonly SecretID: string;
  readonly Description: string;
  readonly Policies: readonly AclLink[];
  readonly Local: boolean;
  /** ms since the epoch, or null for no expiry. */
  readonly ExpirationTime: number | null;
  /** Hex of the token's hash. */
  readonly Hash: string;
}

export interface AclPolicySpec {
  readonly ID: string;
  readonly Name: string;
  readonly Description: string;
  readonly Rules: string;
  readonly Datacenters: readonly string[] | null;
  readonly Hash: string;
}

/** What the ACL writes need of the store: its index rows. */
export interface AclIndex {
  value(table: string): number;
  has(table: string): boolean;
  bump(table: string, idx: number): void;
}

const hexBytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, "hex"));

/**
 * Whether a bootstrap may go ahead: always before the first (`bootstrapped` null), afterwards only with the reset
 * index of the last one. The endpoint asks first (before Raft, as Consul's), the state store again on apply.
 */
export function bootstrapRefusal(bootstrapped: number | null, resetIndex: number): AclError | null {
  if (bootstrapped === null) return null;
  if (resetIndex === 0)
    return new AclError(
      "acl_bootstrap_denied",
      `ACL bootstrap no longer allowed (reset index: ${bootstrapped})`,
    );
  if (resetIndex !== bootstrapped)
    return new AclError(
      "acl_bootstrap_reset",
      `Invalid bootstrap reset index (specified ${resetIndex}, reset index: ${bootstrapped})`,
    );
  return null;
}

/**
 * The builtin global-management policy: its rules and datacenters cannot change (`currentRules` the stored ones),
 * and it cannot be deleted (`currentRules` null). Asked by the endpoint before Raft and by the state store.
 */
export function builtinPolicyRefusal(
  change: { readonly ID: string; readonly Rules?: string; readonly Datacenters?: readonly string[] | null },
  currentRules: string | null,
): AclError | null {
  if (change.ID !== GLOBAL_MANAGEMENT_POLICY_ID) return null;
  const refuse = (what: string): AclError => new AclError("acl_invalid", what);
  if (currentRules === null)
    return refuse("Delete operation not permitted on the builtin global-management policy");
  if ((change.Datacenters ?? []).length > 0)
    return refuse("Changing the Datacenters of the builtin global-management policy is not permitted");
  if ((change.Rules ?? "") !== currentRules)
    return refuse("Changing the Rules for the builtin global-management policy is not permitted");
  return null;
}

/** The state-store writes, with Consul's checks; each returns true or the AclError to answer with. */
export class AclWrites {
  constructor(
    private readonly t: AclTables,
    private readonly index: AclIndex,
  ) {}

  /** Consul's ACLBootstrap: allowed once, or again with the current reset index. */
  bootstrap(idx: number, time: number, spec: AclTokenSpec, resetIndex: number): true | AclError {
    const bootstrapped = this.index.has(ACL_BOOTSTRAP_ROW) ? this.index.value(ACL_BOOTSTRAP_ROW) : null;
    const refused = bootstrapRefusal(bootstrapped, resetIndex);
    if (refused !== null) return refused;
    const r = this.setToken(idx, time, spec);
    if (r !== true) return r;
    this.index.bump(ACL_BOOTSTRAP_ROW, idx);
    return true;
  }

  /** Consul's aclTokenSetTxn: create, or replace keeping CreateIndex and CreateTime. */
  setToken(idx: number, time: number, spec: AclTokenSpec): true | AclError {
    if (spec.AccessorID === "") return new AclError("acl_invalid", "Missing token AccessorID");
    if (spec.SecretID === "") return new AclError("acl_invalid", "Missing token SecretID");
    const bySecret = this.t.secrets.get(spec.SecretID);
    if (bySecret !== undefined && bySecret !== spec.AccessorID)
      return new AclError("acl_invalid", "The ACL Token AccessorID field is immutable");
    const links: AclLink[] = [];
    for (const link of spec.Policies) {
      const policy = this.t.policies.get(link.ID);
      if (policy === undefined) return new AclError("acl_invalid", `No such policy with ID: ${link.ID}`);
      // As Consul: the name as it is now; reads refresh it, since a policy may be renamed.
      links.push({ ID: link.ID, Name: policy.rec.Name });
    }
    const existing = this.t.tokens.get(spec.AccessorID)?.rec;
    if (existing !== undefined && existing.SecretID !== spec.SecretID)
      return new AclError("acl_invalid", "Changing a tokens SecretID is not permitted");
    const rec: AclTokenRecord = {
      AccessorID: spec.AccessorID,
      SecretID: spec.SecretID,
      Description: spec.Description,
      Policies: links.length === 0 ? null : links,
      Local: spec.Local,
      AuthMethod: existing?.AuthMethod ?? "",
      CreateTime: existing?.CreateTime ?? goTimeFromMs(time),
      ExpirationTime: spec.ExpirationTime === null ? null : goTimeFromMs(spec.ExpirationTime),
      ExpirationTTL: 0,
      Hash: hexBytes(spec.Hash),
      CreateIndex: existing?.CreateIndex ?? idx,
      ModifyIndex: idx,
      // Identities, roles and Enterprise fields cairn does not edit stay as the token had them.
      ...(existing?.extra !== undefined ? { extra: existing.extra } : {}),
    };
    this.t.tokens.set(rec.AccessorID, { rec });
    this.t.secrets.set(rec.SecretID, rec.AccessorID);
    this.index.bump(TABLE_ACL_TOKENS, idx);
    return true;
  }

  /** Consul's aclTokenDeleteTxn: an unknown accessor changes nothing. */
  deleteToken(idx: number, accessor: string): true {
    const row = this.t.tokens.get(accessor);
    if (row === undefined) return true;
    this.t.tokens.delete(accessor);
    this.t.secrets.delete(row.rec.SecretID);
    this.index.bump(TABLE_ACL_TOKENS, idx);
    return true;
  }

  /** Consul's aclPolicySetTxn. */
  setPolicy(idx: number, spec: AclPolicySpec): true | AclError {
    if (spec.ID === "") return new AclError("acl_invalid", "Missing ACL Policy ID");
    if (spec.Name === "") return new AclError("acl_invalid", "Missing ACL Policy Name");
    const existing = this.t.policies.get(spec.ID)?.rec;
    const builtin = existing === undefined ? null : builtinPolicyRefusal(spec, existing.Rules);
    if (builtin !== null) return builtin;
    const named = this.t.names.get(spec.Name);
    if (named !== undefined && named !== spec.ID)
      return new AclError("acl_invalid", `A policy with name ${JSON.stringify(spec.Name)} already exists`);
    const rec: AclPolicyRecord = {
      ID: spec.ID,
      Name: spec.Name,
      Description: spec.Description,
      Rules: spec.Rules,
      Datacenters: spec.Datacenters === null ? null : [...spec.Datacenters],
      Hash: hexBytes(spec.Hash),
      CreateIndex: existing?.CreateIndex ?? idx,
      ModifyIndex: idx,
      ...(existing?.extra !== undefined ? { extra: existing.extra } : {}),
    };
    if (existing !== undefined && existing.Name !== spec.Name) this.t.names.delete(existing.Name);
    this.t.policies.set(rec.ID, { rec });
    this.t.names.set(rec.Name, rec.ID);
    this.index.bump(TABLE_ACL_POLICIES, idx);
    return true;
  }

  /** Consul's aclPolicyDeleteTxn: an unknown id changes nothing; the builtin policy cannot go. */
  deletePolicy(idx: number, id: string): true | AclError {
    const builtin = builtinPolicyRefusal({ ID: id }, null);
    if (builtin !== null) return builtin;
    const row = this.t.policies.get(id);
    if (row === undefined) return true;
    this.t.policies.delete(id);
    this.t.names.delete(row.rec.Name);
    this.index.bump(TABLE_ACL_POLICIES, idx);
    return true;
  }
}

// ---- reads ----

/** What the ACL reads need: the tables and their index rows. */
export interface AclView {
  readonly acl: AclTables;
  aclIndex(table: string): number;
}

export interface AclTokenResult {
  readonly index: number;
  readonly token: AclTokenRecord | null;
}

export interface AclPolicyResult {
  readonly index: number;
  readonly policy: AclPolicyRecord | null;
}

const atLeastOne = (n: number): number => (n === 0 ? 1 : n);

/**
 * A token as reads show it: policy links carry each policy's current name, and links to deleted policies are
 * dropped (Consul's fixupTokenPolicyLinks).
 */
export function withCurrentLinks(v: AclView, tok: AclTokenRecord): AclTokenRecord {
  if (tok.Policies === null) return tok;
  const links: AclLink[] = [];
  for (const l of tok.Policies) {
    const p = v.acl.policies.get(l.ID);
    if (p !== undefined) links.push({ ID: l.ID, Name: p.rec.Name });
  }
  return { ...tok, Policies: links };
}

export function aclTokenByAccessor(v: AclView, accessor: string): AclTokenResult {
  const row = v.acl.tokens.get(accessor);
  return {
    index: atLeastOne(v.aclIndex(TABLE_ACL_TOKENS)),
    token: row === undefined ? null : withCurrentLinks(v, row.rec),
  };
}

export function aclTokenBySecret(v: AclView, secret: string): AclTokenResult {
  const accessor = v.acl.secrets.get(secret);
  return accessor === undefined
    ? { index: atLeastOne(v.aclIndex(TABLE_ACL_TOKENS)), token: null }
    : aclTokenByAccessor(v, accessor);
}

/** Every token in AccessorID order, or those linking `policy` when it is not "". */
export function aclTokenList(v: AclView, policy: string): { index: number; tokens: AclTokenRecord[] } {
  const tokens: AclTokenRecord[] = [];
  for (const [, row] of v.acl.tokens.entries()) {
    if (policy !== "" && !(row.rec.Policies ?? []).some((l) => l.ID === policy)) continue;
    tokens.push(withCurrentLinks(v, row.rec));
  }
  return { index: atLeastOne(v.aclIndex(TABLE_ACL_TOKENS)), tokens };
}

export function aclPolicyById(v: AclView, id: string): AclPolicyResult {
  return {
    index: atLeastOne(v.aclIndex(TABLE_ACL_POLICIES)),
    policy: v.acl.policies.get(id)?.rec ?? null,
  };
}

export function aclPolicyByName(v: AclView, name: string): AclPolicyResult {
  const id = v.acl.names.get(name);
  return id === undefined
    ? { index: atLeastOne(v.aclIndex(TABLE_ACL_POLICIES)), policy: null }
    : aclPolicyById(v, id);
}

/** Every policy in ID order. */
export function aclPolicyList(v: AclView): { index: number; policies: AclPolicyRecord[] } {
  const policies = [...v.acl.policies.entries()].map(([, row]) => row.rec);
  return { index: atLeastOne(v.aclIndex(TABLE_ACL_POLICIES)), policies };
}
