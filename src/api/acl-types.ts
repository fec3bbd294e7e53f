/**
 * The ACL part of the ServerApi's vocabulary: the settings a server takes (the agent's `acl { … }` block, wired by
 * the agent), and the requests of the token and policy endpoints as the HTTP layer parses them.
 */
import type { Authorizer } from "../acl/index.js";
import type { AclPolicyRecord, AclTokenRecord } from "../snapshot/index.js";
import type { Queried, QueryOptions } from "./types.js";

export type { AclPolicyRecord, AclTokenRecord };

/** Consul's `acl { enabled, default_policy, down_policy, enable_key_list_policy, tokens { … } }`. */
export interface AclSettings {
  readonly enabled: boolean;
  readonly defaultPolicy: "allow" | "deny";
  /** allow, deny, extend-cache or async-cache: for a token that cannot be resolved; servers resolve from their replica. */
  readonly downPolicy: string;
  /** Consul's enable_key_list_policy: `?keys` and `?recurse` need `list` on the prefix. */
  readonly enableKeyListPolicy?: boolean;
  readonly tokens: {
    /** A management token's SecretID, created by the leader at its first leadership (initial_management). */
    readonly initialManagement?: string;
    /** The token the agent's own requests use (anti-entropy). */
    readonly agent?: string;
    /** Accepted for the agent's own endpoints when the servers cannot be reached (formerly `agent_master`). */
    readonly agentRecovery?: string;
    /** The token of a request that names none, instead of the anonymous token. */
    readonly default?: string;
  };
  /**
   * Consul's `<data-dir>/acl-bootstrap-reset`: a file holding the reset index that allows one more bootstrap,
   * removed once read. Absent: no reset file is looked for.
   */
  readonly bootstrapResetFile?: string;
}

export const ACL_DISABLED: AclSettings = {
  enabled: false,
  defaultPolicy: "allow",
  downPolicy: "extend-cache",
  enableKeyListPolicy: false,
  tokens: {},
};

/** The ACL identity of a request (Consul's ACLResolver result). */
export interface AclIdentity {
  readonly authorizer: Authorizer;
  /** The token's AccessorID; the anonymous token's when the request named none. */
  readonly accessorId: string;
  /** True for the anonymous token: its denials say so, as Consul's do. */
  readonly anonymous: boolean;
}

/** A policy link as a request gives it: by ID or by Name. */
export interface AclLinkRequest {
  readonly ID?: string;
  readonly Name?: string;
}

/** PUT /v1/acl/token (create) and PUT /v1/acl/token/<accessor> (update). */
export interface AclTokenRequest {
  readonly AccessorID?: string;
  readonly SecretID?: string;
  readonly Description?: string;
  readonly Policies?: readonly AclLinkRequest[] | null;
  readonly Local?: boolean;
  /** Nanoseconds. */
  readonly ExpirationTTL?: number;
  /** ms since the epoch. */
  readonly ExpirationTime?: number | null;
}

/** PUT /v1/acl/policy (create) and PUT /v1/acl/policy/<id> (update). */
export interface AclPolicyRequest {
  readonly ID?: string;
  readonly Name?: string;
  readonly Description?: string;
  readonly Rules?: string;
  readonly Datacenters?: readonly string[] | null;
}

/** The ACL endpoints (Consul's /v1/acl/*); every method rejects with AclError when ACLs are disabled. */
export interface AclApi {
  /** Whether ACLs are enabled, and the default policy (X-Consul-Default-ACL-Policy). */
  aclSettings(): AclSettings;
  aclBootstrap(): Promise<AclTokenRecord>;
  aclTokenCreate(req: AclTokenRequest): Promise<AclTokenRecord>;
  aclTokenUpdate(accessor: string, req: AclTokenRequest): Promise<AclTokenRecord>;
  /** `requestSecret`: the caller's own token, which may not be deleted. */
  aclTokenDelete(accessor: string, requestSecret: string): Promise<void>;
  aclTokenClone(accessor: string, description: string): Promise<AclTokenRecord>;
  /** The token, or AclError acl_resource_not_found. */
  aclTokenRead(accessor: string, q: QueryOptions): Promise<Queried<AclTokenRecord>>;
  /** GET /v1/acl/token/self: the token whose SecretID is `secret`, or AclNotFoundError (acl/). */
  aclTokenSelf(secret: string, q: QueryOptions): Promise<Queried<AclTokenRecord>>;
  /** Every token (unexpired), or those linking `policy` when it is not "". */
  aclTokenList(policy: string, q: QueryOptions): Promise<Queried<AclTokenRecord[]>>;
  aclPolicyCreate(req: AclPolicyRequest): Promise<AclPolicyRecord>;
  aclPolicyUpdate(id: string, req: AclPolicyRequest): Promise<AclPolicyRecord>;
  aclPolicyDelete(id: string): Promise<void>;
  /** The policy, or AclError acl_resource_not_found. */
  aclPolicyRead(id: string, q: QueryOptions): Promise<Queried<AclPolicyRecord>>;
  aclPolicyReadByName(name: string, q: QueryOptions): Promise<Queried<AclPolicyRecord>>;
  aclPolicyList(q: QueryOptions): Promise<Queried<AclPolicyRecord[]>>;
  /** Local reads for the enforcer (no barrier): a token by SecretID (null: unknown or expired). */
  aclTokenBySecret(secret: string): AclTokenRecord | null;
  /** The policies with these IDs that exist, in the given order. */
  aclPolicies(ids: readonly string[]): AclPolicyRecord[];
  /** Moves on every ACL write and every restore: the enforcer's cache key. */
  aclEpoch(): number;
  /**
   * A request's token ("" or undefined: none given) as an identity (acl-resolve.ts): the agent's default token,
   * else the anonymous token, when none is given; every right when ACLs are disabled. Throws AclNotFoundError
   * for a secret no token has (403 `ACL not found`).
   */
  resolve(secret: string | undefined): AclIdentity;
}
