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
export const GLOBAL_MANAGEMENT_POLICY_DESCRIPTION = "Builtin Policy that grants unlimited access";
/** Byte for byte Consul CE's text (it starts with a newline and indents with tabs): its Hash depends on it. */
export const GLOBAL_MANAGEMENT_POLICY_RULES = `
acl = "write"
agent_prefix "" {
	policy = "write"
}
event_prefix "" {
	policy = "write"
}
key_prefix "" {
	policy = "write"
}
keyring = "write"
node_prefix "" {
	policy = "write"
}
operator = "write"
mesh = "write"
peering = "write"
query_prefix "" {
	policy = "write"
}
service_prefix "" {
	policy = "write"
	intentions = "write"
}
session_prefix "" {
	policy = "write"
}`;

export const GLOBAL_READ_ONLY_POLICY_ID = "00000000-0000-0000-0000-000000000002";
export const GLOBAL_READ_ONLY_POLICY_NAME = "builtin/global-read-only";
export const GLOBAL_READ_ONLY_POLICY_DESCRIPTION =
  "Builtin Policy that grants unlimited read-only access to all components";
export const GLOBAL_READ_ONLY_POLICY_RULES = `
acl = "read"
agent_prefix "" {
	policy = "read"
}
event_prefix "" {
	policy = "read"
}
key_prefix "" {
	policy = "read"
}
keyring = "read"
node_prefix "" {
	policy = "read"
}
operator = "read"
mesh = "read"
peering = "read"
query_prefix "" {
	policy = "read"
}
service_prefix "" {
	policy = "read"
	intentions = "read"
}
session_prefix "" {
	policy = "read"
}`;

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
