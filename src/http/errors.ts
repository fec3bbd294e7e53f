/**
 * The one place that turns errors into HTTP responses (docs/ARCHITECTURE.md). Operating errors keep Consul's
 * status and text where the condition is the server's (500 `No cluster leader`), and get 400 with Consul's
 * text where the client made the mistake ("Decisions for cairn" in consul-compat.md). Bodies are text/plain,
 * which the npm client needs to show the text (papi uses bodies < 80 bytes of text/plain as the message).
 *
 * AssertionError is a bug, not an operating error: it is rethrown so that it crashes the process.
 */
import {
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

/** [status, body] for an error, or null for an AssertionError (a bug: rethrown). */
function classify(err: unknown): readonly [number, string] | null {
  if (err instanceof AssertionError) return null;
  if (err instanceof HttpError) return [err.status, err.message];
  if (err instanceof BodyTooLargeError) return [413, err.message];
  // The server forwards to the leader; this surfaces only when there is none (or it cannot be reached).
  if (err instanceof NotLeaderError || err instanceof UnavailableError) return [500, NO_CLUSTER_LEADER];
  // Client mistakes: an unknown session on acquire, a key or value past a limit, an unencodable key.
  if (err instanceof InvalidSessionError || err instanceof CommandLimitError) return [400, err.message];
  if (err instanceof InvalidKeyError || err instanceof RestoreError) return [400, err.message];
  // A session the store refuses to create (bad TTL or Behavior, a clashing ID): Consul's text, as a 400.
  if (err instanceof SessionTtlError || err instanceof InvalidBehaviorError || err instanceof SessionIdError)
    return [400, err.message];
  if (err instanceof TxnTooLargeError) return [413, err.message];
  // A catalog write or session the catalog refuses ("Must provide node", "Missing node registration"):
  // Consul's text; the client's mistake, so 400 where Consul answers 500.
  if (err instanceof CatalogError) return [400, err.message];
  // An archive that fails verification on restore: the client sent it (Consul answers 500, same text).
  if (err instanceof SnapshotError) return [400, err.message];
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
