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

/** A command exceeds a limit (value or key size); src/http answers 413 as Consul does for values. */
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
