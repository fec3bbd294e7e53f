/**
 * The torture's verdicts over a finished history: linearizability per key (the simulator's checker), acknowledged
 * writes lost, and reads that are not linearizable by contract (stale) returning only written values.
 */
import { type CheckResult, checkLinearizable, type Operation } from "../sim/linearizability.js";
import type { LooseRead } from "./workload.js";

export interface Verdicts {
  readonly linearizability: CheckResult;
  /** Acknowledged writes the final reads prove lost (see lostWrites). */
  readonly lost: readonly string[];
  /** Stale reads that returned a value no write had sent by then. */
  readonly phantomReads: readonly LooseRead[];
}

export function judge(
  history: readonly Operation[],
  finalReads: readonly Operation[],
  /** Other reads that join the linearizability check (the archives saved: archives.ts asReads). */
  moreReads: readonly Operation[],
  looseReads: readonly LooseRead[],
  written: ReadonlyMap<string, number>,
): Verdicts {
  return {
    linearizability: checkLinearizable([...history, ...finalReads, ...moreReads]),
    lost: lostWrites(history, finalReads),
    phantomReads: looseReads.filter(
      (r) => r.value !== null && !((written.get(r.value) ?? Infinity) <= r.ret),
    ),
  };
}

/**
 * An acknowledged write w is lost when the key's final value was written by an operation that returned before w
 * was invoked (so every linearization orders it before w), or the key is absent at the end. Values are unique,
 * so the final value names its write. This is a count the linearizability check implies, kept apart because it
 * is the figure that matters most to a user.
 */
export function lostWrites(history: readonly Operation[], finalReads: readonly Operation[]): string[] {
  const finalOf = new Map<string, string | null>();
  for (const r of finalReads) {
    if (r.output?.kind === "value") finalOf.set(r.input.key, r.output.value);
  }
  const writerOf = new Map<string, Operation>();
  for (const op of history) {
    if (op.input.kind === "put" || op.input.kind === "cas") writerOf.set(op.input.value, op);
  }
  const lost: string[] = [];
  for (const op of history) {
    const acked = op.output?.kind === "ok" || (op.output?.kind === "cas" && op.output.ok);
    if (!acked || (op.input.kind !== "put" && op.input.kind !== "cas")) continue;
    const key = op.input.key;
    if (!finalOf.has(key)) continue;
    const final = finalOf.get(key) ?? null;
    const finalWriter = final === null ? undefined : writerOf.get(final);
    if (final === null || (finalWriter !== undefined && finalWriter.ret < op.call)) {
      lost.push(
        `${key}: ${op.input.value} (acknowledged at ${op.ret.toFixed(0)} ms), final ${JSON.stringify(final)}`,
      );
    }
  }
  return lost;
}
