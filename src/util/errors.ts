/**
 * Operating errors: expected conditions a caller handles (not bugs, which are AssertionErrors). Each has a
 * stable `code`; src/http alone maps codes to HTTP statuses and Consul's response shapes.
 */
export abstract class CairnError extends Error {
  abstract readonly code: string;
}

/**
 * Bad flags, config files or values of a command. `showUsage` is true for command-line syntax errors, after which
 * Go's flag package prints the usage.
 */
export abstract class ConfigError extends CairnError {
  readonly showUsage: boolean;
  constructor(message: string, showUsage = false) {
    super(message);
    this.showUsage = showUsage;
  }
}

export class NotLeaderError extends CairnError {
  readonly code = "not_leader";
  override name = "NotLeaderError";
  /** The leader this node believes in, or 0 when it knows none. */
  readonly leaderId: number;
  constructor(leaderId: number) {
    super(leaderId === 0 ? "No cluster leader" : `not the leader; leader is node ${leaderId}`);
    this.leaderId = leaderId;
  }
}

export class ProposalDroppedError extends CairnError {
  readonly code = "proposal_dropped";
  override name = "ProposalDroppedError";
}

export class CompactedError extends CairnError {
  readonly code = "compacted";
  override name = "CompactedError";
}

export class UnavailableError extends CairnError {
  readonly code = "unavailable";
  override name = "UnavailableError";
}

/** The message of anything thrown, for logs and user-facing lines: an Error's message, else its string form. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
