/**
 * The contract of cairn's ACL evaluation (Consul's acl.Authorizer, acl/authorizer.go), shared by the policy
 * engine in this folder, the replicated ACL state (fsm/) and the HTTP layer that enforces it. Pure: no I/O.
 *
 * Consul's rule semantics (acl/policy.go, acl/policy_authorizer.go, acl/chained_authorizer.go):
 * - A policy grants `read`, `list` (key only), `write` or `deny` on a resource: exact-name rules (`key "a"`) and
 *   prefix rules (`key_prefix "a"`). For a name, an exact rule beats every prefix rule; otherwise the longest
 *   matching prefix wins. Within one token, the policies are merged first (the most permissive of equal rules
 *   wins, but `deny` wins over everything on the same exact name or prefix).
 * - A decision is `default` when no rule of the token matches; the chain then falls back to the agent's
 *   `acl.default_policy` (allow → allow every read and write but ACL management, `acl`, which only rules
 *   grant: Consul's allowAll has allowManage false; deny → deny).
 * - Access ranks deny < read < list < write (Consul's acl.AccessLevel): a grant allows every access it ranks
 *   at or above, so `write` implies `list` and `read`, and `list` implies `read`.
 */

/** The resources of Consul's rules language that cairn enforces. */
export type Resource =
  | "acl"
  | "agent"
  | "event"
  | "key"
  | "keyring"
  | "node"
  | "operator"
  | "query"
  | "service"
  | "session";

/** What a request asks to do. `list` exists for keys only (KeyList: `?keys` and `?recurse` with enable_key_list_policy). */
export type Access = "read" | "list" | "write";

export type Decision = "allow" | "deny";

/**
 * The permissions of one token, already chained with the default policy: every method answers allow or deny.
 * Segmented resources take the name (key, node, service, session's node, agent's node, event, query); the
 * global ones (acl, operator, keyring) take "".
 */
export interface Authorizer {
  check(resource: Resource, access: Access, segment: string): Decision;
  /**
   * Consul's KeyWritePrefix (a recursive delete): allowed only when `key_prefix` grants write on `prefix` and no
   * rule for a longer prefix or key below it denies or grants less than write.
   */
  keyWritePrefix(prefix: string): Decision;
  /** Whether the token may read every node / every service (NodeReadAll, ServiceReadAll). */
  nodeReadAll(): Decision;
  serviceReadAll(): Decision;
  /** The global-management policy (or an equivalent acl = "write" grant): snapshots, ACL writes. */
  readonly isManagement: boolean;
}
