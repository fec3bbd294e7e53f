/**
 * Consul's built-in ACL objects and its denial texts, verbatim:
 * - the policies: agent/structs/acl.go `ACLPolicyGlobalManagement*` and `ACLPolicyGlobalReadOnly*`
 *   (`ACLBuiltinPolicies`; recent Consul versions have the read-only one too);
 * - the anonymous token: acl/acl.go `AnonymousTokenID`, `AnonymousTokenSecret`; its description is the one
 *   agent/consul/leader.go gives it when the leader creates it;
 * - the bootstrap token's description: agent/consul/acl_endpoint.go BootstrapTokens;
 * - the denials: acl/errors.go `PermissionDeniedError.Error()`, and agent/acl_endpoint.go ACLBootstrap, which
 *   wraps `ACL bootstrap no longer allowed (reset index: N)` (agent/consul/acl_endpoint.go) as its Cause.
 */
import { PermissionDeniedError } from "./errors.js";

/** Policy and token ids starting so are reserved for built-ins (agent/structs/acl.go ACLReservedIDPrefix). */
export const RESERVED_ID_PREFIX = "00000000-0000-0000-0000-0000000000";

export function isReservedId(id: string): boolean {
  return id.startsWith(RESERVED_ID_PREFIX);
}

export const GLOBAL_MANAGEMENT_POLICY_ID = "00000000-0000-0000-0000-000000000001";
export const GLOBAL_MANAGEMENT_POLICY_NAME = "global-management";
/** Consul 1.17+'s text (older versions said "Builtin Policy that grants unlimited access"). */
export const GLOBAL_MANAGEMENT_POLICY_DESCRIPTION =
  "A built-in policy that grants read and write access to all Consul features";
/**
 * The rules of the two built-in policies, which differ only in the level: byte for byte Consul CE's texts (a
 * leading newline, tab indents), since a policy's Hash covers them. The management text is Consul 1.18's as its
 * archives hold it (test/fixtures' all.snap), without the Enterprise `partition_prefix` block that follows there.
 */
function everything(level: "read" | "write"): string {
  const block = (name: string, extra = "") => `${name} "" {\n\tpolicy = "${level}"\n${extra}}`;
  return [
    "",
    `acl = "${level}"`,
    block("agent_prefix"),
    block("event_prefix"),
    block("identity_prefix", `\tintentions = "${level}"\n`),
    block("key_prefix"),
    `keyring = "${level}"`,
    block("node_prefix"),
    `operator = "${level}"`,
    `mesh = "${level}"`,
    `peering = "${level}"`,
    block("query_prefix"),
    block("service_prefix", `\tintentions = "${level}"\n`),
    block("session_prefix"),
    "",
  ].join("\n");
}

export const GLOBAL_MANAGEMENT_POLICY_RULES = everything("write");

export const GLOBAL_READ_ONLY_POLICY_ID = "00000000-0000-0000-0000-000000000002";
export const GLOBAL_READ_ONLY_POLICY_NAME = "builtin/global-read-only";
export const GLOBAL_READ_ONLY_POLICY_DESCRIPTION =
  "Builtin Policy that grants unlimited read-only access to all components";
export const GLOBAL_READ_ONLY_POLICY_RULES = everything("read");

export const ANONYMOUS_TOKEN_ACCESSOR_ID = "00000000-0000-0000-0000-000000000002";
export const ANONYMOUS_TOKEN_SECRET_ID = "anonymous";
export const ANONYMOUS_TOKEN_DESCRIPTION = "Anonymous Token";

export const BOOTSTRAP_TOKEN_DESCRIPTION = "Bootstrap Token (Global Management)";

/**
 * A request denied by the token's rules. `permission` is `<resource>:<access>` (`key:write`); `resource` the
 * name it was asked on, or "" for the global resources (acl, operator, keyring), whose texts name none
 * (PermissionDeniedByACLUnnamed). The anonymous token, by name or by its AccessorID, gets the sentence that
 * explains where it came from. Consul quotes the name with plain double quotes, without escaping.
 */
export function permissionDenied(
  accessor: { readonly accessorId: string } | "anonymous",
  permission: string,
  resource: string,
): PermissionDeniedError {
  const anonymous = accessor === "anonymous" || accessor.accessorId === ANONYMOUS_TOKEN_ACCESSOR_ID;
  let text = "Permission denied: ";
  text += anonymous
    ? "anonymous token"
    : `token with AccessorID '${(accessor as { accessorId: string }).accessorId}'`;
  text += ` lacks permission '${permission}'`;
  if (resource !== "") text += ` on "${resource}"`;
  if (anonymous) text += ". The anonymous token is used implicitly when a request does not specify a token.";
  return new PermissionDeniedError(text);
}

/** `PUT /v1/acl/bootstrap` once bootstrapped; `resetIndex` is what the operator writes to acl-bootstrap-reset. */
export function bootstrapNoLongerAllowed(resetIndex: number | bigint): PermissionDeniedError {
  return new PermissionDeniedError(
    `Permission denied: ACL bootstrap no longer allowed (reset index: ${resetIndex})`,
  );
}
