/**
 * Operating errors of the ACL system. The texts are Consul's (acl/errors.go, acl/policy.go); src/http maps
 * `code` to the status Consul answers with: rules errors 400, permission denied and "ACL not found" 403,
 * "ACL support disabled" 401 (agent/acl_endpoint.go `aclDisabled` is an UnauthorizedError).
 */
import { CairnError } from "../util/index.js";

/**
 * A policy's Rules text does not parse or names an invalid access level. The message is Consul's: `Failed to
 * parse ACL rules: …` for syntax, `Invalid key policy: &acl.KeyRule{…}` and the like for values.
 */
export class AclRulesError extends CairnError {
  readonly code = "acl_rules_invalid";
  override name = "AclRulesError";
}

/**
 * A request the token may not make, or a bootstrap no longer allowed. Build it with `permissionDenied` or
 * `bootstrapNoLongerAllowed` (builtin.ts), which compose Consul's texts; every text starts with
 * `Permission denied`, which is what Consul's clients test for (acl.IsErrPermissionDenied).
 */
export class PermissionDeniedError extends CairnError {
  readonly code = "permission_denied";
  override name = "PermissionDeniedError";
}

/** A secret that names no token (acl/errors.go errNotFound). */
export class AclNotFoundError extends CairnError {
  readonly code = "acl_not_found";
  override name = "AclNotFoundError";
  constructor() {
    super("ACL not found");
  }
}

/** An ACL endpoint called while ACLs are off (acl/errors.go errDisabled; Consul answers 401). */
export class AclDisabledError extends CairnError {
  readonly code = "acl_disabled";
  override name = "AclDisabledError";
  constructor() {
    super("ACL support disabled");
  }
}
