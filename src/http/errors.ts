/**
 * The one place that turns errors into HTTP responses (docs/ARCHITECTURE.md). Every error gets Consul's status
 * and text ("Status codes by endpoint" in consul-compat.md): 500 for what Consul's state store returns as a plain
 * error, even where the client made the mistake, because applications branch on it; 400 only where Consul's
 * HTTP layer answers 400. Bodies are text/plain,
 * which the npm client needs to show the text (papi uses bodies < 80 bytes of text/plain as the message).
 *
 * AssertionError is a bug, not an operating error: it is rethrown so that it crashes the process.
 */

import { AclDisabledError, AclNotFoundError, AclRulesError, PermissionDeniedError } from "../acl/index.js";
import {
  AclError,
  type AclErrorCode,
  CatalogError,
  CommandDecodeError,
  CommandLimitError,
  InvalidBehaviorError,
  InvalidKeyError,
  InvalidSessionError,
  RestoreError,
  SessionIdError,
  SessionTtlError,
  TxnFailedError,
  TxnTooLargeError,
  WatchLimitError,
} from "../fsm/index.js";
import { SnapshotError } from "../snapshot/index.js";
import {
  AssertionError,
  CompactedError,
  NotLeaderError,
  ProposalDroppedError,
  UnavailableError,
} from "../util/index.js";
import { goJson } from "./json.js";
import { APPLICATION_JSON, BodyTooLargeError, type HttpResponse, textResponse } from "./model.js";

/** A response decided by a handler (Consul's HTTPError{StatusCode, Reason}): that status, that text. */
export class HttpError extends Error {
  override name = "HttpError";
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  constructor(status: number, message: string, headers: Readonly<Record<string, string>> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

/** Consul's structs.ErrNoLeader text, which clients and scripts match on. */
export const NO_CLUSTER_LEADER = "No cluster leader";

/** The state store's and the server endpoints' refusals that Consul returns as plain errors: 500, their text. */
const STATE_STORE_ERRORS = [
  InvalidSessionError,
  SessionTtlError,
  InvalidBehaviorError,
  SessionIdError,
  CatalogError,
  RestoreError,
  SnapshotError,
] as const;

/**
 * ACL refusals (agent/acl_endpoint.go, acl/errors.go): plain endpoint errors are 500 with the text; an unknown
 * token is acl.ErrNotFound (403); a token or policy read by id that finds nothing 404; ACLs off is `aclDisabled`
 * (401); a refused bootstrap is 403 with `Permission denied: ` before Consul's text (a wrong reset index: 500).
 */
const ACL_STATUS: Readonly<Record<AclErrorCode, readonly [number, string]>> = {
  acl_invalid: [500, ""],
  acl_resource_not_found: [404, ""],
  acl_bad_request: [400, ""],
  acl_bootstrap_denied: [403, "Permission denied: "],
  acl_bootstrap_reset: [500, ""],
};

/** [status, body] for an error, or null for an AssertionError (a bug: rethrown). */
function classify(err: unknown): readonly [number, string] | null {
  if (err instanceof AssertionError) return null;
  if (err instanceof HttpError) return [err.status, err.message];
  if (err instanceof BodyTooLargeError) return [413, err.message];
  if (err instanceof AclError) {
    const [status, prefix] = ACL_STATUS[err.code];
    return [status, prefix + err.message];
  }
  // The enforcer's refusals (acl/errors.go): a denial and an unknown secret are 403, ACLs off 401.
  if (err instanceof PermissionDeniedError || err instanceof AclNotFoundError) return [403, err.message];
  if (err instanceof AclDisabledError) return [401, err.message];
  // Rules that do not parse: Consul's policy write returns the parser's error as a plain error, a 500 with its
  // text (hashicorp/consul#5836 shows the UI receiving it so).
  if (err instanceof AclRulesError) return [500, err.message];
  // The server forwards to the leader; this surfaces only when there is none (or it cannot be reached).
  if (err instanceof NotLeaderError || err instanceof UnavailableError) return [500, NO_CLUSTER_LEADER];
  // What Consul's state store and endpoints return as plain errors, Consul answers 500 with the text (agent/http.go
  // wrap: neither an HTTPError nor a BadRequestError), and applications branch on that 500: an acquire with
  // a gone session (state/kvs.go kvsLockTxn `invalid session %#v`; `missing session` without one), a session TTL or Behavior out of range
  // (consul/session_endpoint.go Apply), a catalog refusal (state/catalog.go "Missing node registration"),
  // an archive that fails verification (snapshot_endpoint.go: the restore RPC's error). So 500 here too.
  // A proposed session whose ID is missing or live (a replayed or buggy proposal) is the server's condition.
  if (err instanceof Error && STATE_STORE_ERRORS.some((c) => err instanceof c)) return [500, err.message];
  // A key or value past the store's limit: too large, as Consul's 413 for values (kvs_endpoint.go KVSPut).
  if (err instanceof CommandLimitError || err instanceof TxnTooLargeError) return [413, err.message];
  // A key with a lone UTF-16 surrogate has no UTF-8 form; Consul's validateKVKey refuses odd keys with 400.
  if (err instanceof InvalidKeyError) return [400, err.message];
  // Too many blocking queries at once: a server under load, as Consul's rate limiter answers.
  if (err instanceof WatchLimitError) return [429, err.message];
  // A dropped proposal (leadership changed mid-commit) is a server condition: Consul answers such raft
  // errors with 500 and the text, and clients treat every non-200 alike, so 500 rather than 503.
  if (err instanceof ProposalDroppedError) return [500, messageOf(err, "proposal dropped")];
  if (err instanceof CompactedError || err instanceof CommandDecodeError)
    return [500, messageOf(err, err.name)];
  if (err instanceof Error) return [500, messageOf(err, err.name)];
  return [500, String(err)];
}

function messageOf(err: Error, fallback: string): string {
  return err.message === "" ? fallback : err.message;
}

/** The response for an error thrown by a handler or by the ServerApi. Rethrows AssertionError. */
export function errorResponse(err: unknown): HttpResponse {
  // A rolled-back txn is Consul's 409 with a JSON body listing each failed op.
  if (err instanceof TxnFailedError) {
    const Errors = err.errors.map((e) => ({ OpIndex: e.OpIndex, What: e.What }));
    const body = goJson({ Results: null, Errors });
    return { status: 409, headers: { "Content-Type": APPLICATION_JSON }, body };
  }
  const c = classify(err);
  if (c === null) throw err;
  const headers = err instanceof HttpError ? err.headers : {};
  return textResponse(c[0], c[1], { ...headers });
}
