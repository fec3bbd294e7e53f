/**
 * ACL enforcement at the HTTP API: a request's token (taken where Consul takes it), resolved by the ServerApi
 * into an Authorizer, and the checks and filters the endpoints apply with it. Denials are Consul's
 * (acl/errors.go): 403 with `Permission denied: token with AccessorID '…' lacks permission 'key:write' on "k"`;
 * reads of collections are filtered silently, as Consul's aclFilter does.
 *
 * With ACLs disabled the ServerApi answers an allow-all identity, so every check passes and nothing is filtered.
 */
import {
  type Access,
  type Authorizer,
  type PermissionDeniedError,
  permissionDenied,
  type Resource,
} from "../acl/index.js";
import type { AclIdentity } from "../api/acl-types.js";
import type { ServerApi } from "../api/types.js";
import type { HttpRequest } from "./model.js";
import { requestToken } from "./request-token.js";

/** What an endpoint may ask of the request's identity. */
export class Guard {
  readonly identity: AclIdentity;
  constructor(identity: AclIdentity) {
    this.identity = identity;
  }

  get authorizer(): Authorizer {
    return this.identity.authorizer;
  }

  allows(resource: Resource, access: Access, name: string): boolean {
    return this.identity.authorizer.check(resource, access, name) === "allow";
  }

  /** Throws Consul's 403 unless allowed. Global resources (acl, operator, keyring) take "". */
  require(resource: Resource, access: Access, name: string): void {
    if (!this.allows(resource, access, name)) throw this.denied(`${resource}:${access}`, name);
  }

  /** A recursive delete: KeyWritePrefix. */
  requireKeyWritePrefix(prefix: string): void {
    if (this.identity.authorizer.keyWritePrefix(prefix) !== "allow") throw this.denied("key:write", prefix);
  }

  /** The items whose name the token may read (`read` on `resource`), in their order. */
  readable<T>(items: readonly T[], resource: Resource, name: (item: T) => string): T[] {
    return items.filter((item) => this.allows(resource, "read", name(item)));
  }

  private denied(permission: string, resource: string): PermissionDeniedError {
    const who = this.identity.anonymous ? "anonymous" : { accessorId: this.identity.accessorId };
    return permissionDenied(who, permission, resource);
  }
}

/**
 * The request's guard: its token resolved against the replicated ACL state (an unknown secret rejects with
 * AclNotFoundError: 403 `ACL not found`).
 */
export async function guard(req: HttpRequest, api: ServerApi): Promise<Guard> {
  return new Guard(api.acl.resolve(requestToken(req)));
}
