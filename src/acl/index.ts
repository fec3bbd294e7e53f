export { ALLOW_ALL, compileAuthorizer, DENY_ALL, MANAGE_ALL, mergeRules } from "./authorizer.js";
export {
  ANONYMOUS_TOKEN_ACCESSOR_ID,
  ANONYMOUS_TOKEN_DESCRIPTION,
  ANONYMOUS_TOKEN_SECRET_ID,
  BOOTSTRAP_TOKEN_DESCRIPTION,
  bootstrapNoLongerAllowed,
  GLOBAL_MANAGEMENT_POLICY_DESCRIPTION,
  GLOBAL_MANAGEMENT_POLICY_ID,
  GLOBAL_MANAGEMENT_POLICY_NAME,
  GLOBAL_MANAGEMENT_POLICY_RULES,
  GLOBAL_READ_ONLY_POLICY_DESCRIPTION,
  GLOBAL_READ_ONLY_POLICY_ID,
  GLOBAL_READ_ONLY_POLICY_NAME,
  GLOBAL_READ_ONLY_POLICY_RULES,
  isReservedId,
  permissionDenied,
  RESERVED_ID_PREFIX,
} from "./builtin.js";
export { AclDisabledError, AclNotFoundError, AclRulesError, PermissionDeniedError } from "./errors.js";
export { formatRules } from "./format.js";
export {
  blockName,
  EMPTY_RULES,
  GLOBAL_RESOURCES,
  type GlobalResource,
  type ParsedRules,
  type ParseOptions,
  type PolicyAccess,
  parseRules,
  type Rule,
  SEGMENT_RESOURCES,
  type SegmentResource,
} from "./rules.js";
export type { Access, Authorizer, Decision, Resource } from "./types.js";
