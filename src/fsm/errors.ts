/**
 * Operating errors of the state store. Apply never throws them: a command that fails the way Consul's FSM
 * fails (an unknown session on acquire) returns the error as its result, identically on every replica, and
 * src/http maps `code` to a status. Codec and restore errors are thrown to the caller that handed in bytes.
 */
import { CairnError } from "../util/index.js";

/** acquire/release named no session, or one the SessionView does not know (Consul: `invalid session "<id>"`). */
export class InvalidSessionError extends CairnError {
  readonly code = "invalid_session";
  override name = "InvalidSessionError";
  readonly session: string;
  constructor(session: string) {
    super(session === "" ? "missing session" : `invalid session ${JSON.stringify(session)}`);
    this.session = session;
  }
}

/** A command's bytes are not a well-formed command of this version. */
export class CommandDecodeError extends CairnError {
  readonly code = "command_decode";
  override name = "CommandDecodeError";
}

/** A command exceeds a limit (value or key size); src/http answers 413, as Consul does for values. */
export class CommandLimitError extends CairnError {
  readonly code = "command_limit";
  override name = "CommandLimitError";
}

/** A key or prefix is not a well-formed UTF-16 string (a lone surrogate has no UTF-8 form to sort by). */
export class InvalidKeyError extends CairnError {
  readonly code = "invalid_key";
  override name = "InvalidKeyError";
}

/** Too many blocking-query watches are registered at once. */
export class WatchLimitError extends CairnError {
  readonly code = "watch_limit";
  override name = "WatchLimitError";
}

/** A snapshot's records cannot become a store (a record of a served type that does not decode). */
export class RestoreError extends CairnError {
  readonly code = "restore";
  override name = "RestoreError";
}

/** A session-create whose TTL Consul refuses; `message` is Consul's text (session_endpoint.go Apply). */
export class SessionTtlError extends CairnError {
  readonly code = "session_ttl";
  override name = "SessionTtlError";
}

/** A session-create whose Behavior is neither "release" nor "delete" (Consul: `Invalid Behavior setting '<b>'`). */
export class InvalidBehaviorError extends CairnError {
  readonly code = "invalid_behavior";
  override name = "InvalidBehaviorError";
}

/**
 * A session-create with no ID, or with the ID of a live session. The proposer picks the uuid (Consul's
 * endpoint retries until it is unused), so a clash means a replayed or buggy proposal: refused, not overwritten.
 */
export class SessionIdError extends CairnError {
  readonly code = "session_id";
  override name = "SessionIdError";
}

/** A txn with more operations than Consul allows (`Transaction contains too many operations (n > 128)`). */
export class TxnTooLargeError extends CairnError {
  readonly code = "txn_too_large";
  override name = "TxnTooLargeError";
}

/** One failed operation of a txn, as Consul reports it. */
export interface TxnOpError {
  readonly OpIndex: number;
  readonly What: string;
}

/** A txn that was rolled back: nothing of it applied. `errors` is Consul's Errors list (HTTP 409). */
export class TxnFailedError extends CairnError {
  readonly code = "txn_failed";
  override name = "TxnFailedError";
  readonly errors: readonly TxnOpError[];
  constructor(errors: readonly TxnOpError[]) {
    super(`txn rolled back: ${errors.map((e) => `op ${e.OpIndex}: ${e.What}`).join("; ")}`);
    this.errors = errors;
  }
}

/**
 * A catalog write or a session create the catalog refuses, with Consul's text ("Must provide node",
 * "failed inserting check: Missing service registration", "Missing node registration", "Check 'x' is in
 * critical state"). Consul answers these with 500, and so does cairn.
 */
export class CatalogError extends CairnError {
  readonly code = "catalog";
  override name = "CatalogError";
}

/**
 * What Consul's ACL endpoints and state store refuse, by kind (http/errors.ts maps `code` to the status):
 * - acl_invalid: a plain error (Consul answers 500 with the text), e.g. `A policy with name "x" already exists`;
 * - acl_resource_not_found: `Requested token does not exist: ACL not found` (404; `policy` alike), a read by id;
 * - acl_bad_request: what Consul's HTTP layer refuses with 400 (`Token Accessor ID in URL and payload do not match`);
 * - acl_bootstrap_denied: `ACL bootstrap no longer allowed (reset index: N)` (403, as `Permission denied: …`);
 * - acl_bootstrap_reset: `Invalid bootstrap reset index (…)` (a plain error: 500).
 */
export type AclErrorCode =
  | "acl_invalid"
  | "acl_resource_not_found"
  | "acl_bad_request"
  | "acl_bootstrap_denied"
  | "acl_bootstrap_reset";

export class AclError extends CairnError {
  readonly code: AclErrorCode;
  override name = "AclError";
  constructor(code: AclErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
