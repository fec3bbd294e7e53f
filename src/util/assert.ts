/**
 * Always-on assertions (TigerBeetle style): they stay active in production, because a broken invariant in
 * consensus code must stop the process rather than corrupt replicated state.
 */
export class AssertionError extends Error {
  override name = "AssertionError";
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

/** Marks a branch the type system proves unreachable; throws if reached at run time anyway. */
export function unreachable(value: never, message = "unreachable"): never {
  throw new AssertionError(`${message}: ${JSON.stringify(value)}`);
}
