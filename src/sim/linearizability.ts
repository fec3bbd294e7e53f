/**
 * Linearizability checker for a key-value register history, in the style of porcupine: Wing–Gong
 * backtracking over a linked list of call/return events, with Lowe's memoization of (set of linearized ops,
 * model state).
 *
 * The history is partitioned per key (P-compositionality: a history is linearizable iff each key's
 * sub-history is), which keeps the exponential part of the search to one key's concurrency.
 *
 * Indeterminate ops (timed out, client crashed) are what make such checkers blow up: each may take effect
 * anywhere after its call, or never. Beyond porcupine, the search here therefore (each rule is justified
 * where it is implemented): tries completed ops before indeterminate ones and memoizes failures by
 * dominance (FailedNodes); tries an indeterminate op only where the next op needs its effect (UnknownMoves,
 * usefulStep); treats indeterminate ops with the same input as interchangeable, and all values nobody reads
 * as one value (KeyHistory). Memo entries hold the frontier and a few ops, not a bitset of the history.
 *
 * Parts: this file takes the history, partitions it per key and reports; linearizability-model.ts compiles
 * one key's ops (KeyHistory) and steps the register and lock model; linearizability-search.ts searches for a
 * linearization, over the structures in linearizability-structs.ts.
 *
 * Contract:
 * - Pure and deterministic: no clock, no randomness, keys checked in sorted order. The same history always
 *   gives the same result, so a failing simulator seed replays to the same report.
 * - Bounded: `stepsMax` caps the search steps per key (the problem is NP-complete); running out gives
 *   "unknown", which callers must treat as not-a-pass. A step is one move tried, one backtrack, or one
 *   pending indeterminate op examined; memory grows with the steps taken (one small memo entry per
 *   backtrack).
 * - Intervals are closed [call, ret]: an op that starts at the very tick another returns may precede it,
 *   because a monotonic clock can stamp both with the same value.
 * - Malformed input (non-finite call, ret < call, output of the wrong kind, a completed op without a return
 *   time) is a bug in the recorder and throws an AssertionError.
 */
import { assert } from "../util/index.js";
import {
  ABSENT,
  compileHistory,
  holderOf,
  ILLEGAL,
  type KeyHistory,
  stepModel,
} from "./linearizability-model.js";
import { search } from "./linearizability-search.js";

// The compiled history's type, where linearizability-structs.ts imports it from.
export type { KeyHistory } from "./linearizability-model.js";

export type KvInput =
  | { readonly kind: "put"; readonly key: string; readonly value: string }
  | { readonly kind: "get"; readonly key: string }
  | { readonly kind: "cas"; readonly key: string; readonly expected: string | null; readonly value: string }
  | { readonly kind: "delete"; readonly key: string }
  /**
   * A lock's conditional write: the key's value is `data|holder` (the holder after the last "|", "" = free;
   * an absent key is free). acquire succeeds iff the holder is "" or `session`, and then the value becomes
   * `value` (`data|session`); release succeeds iff the holder is `session`, and then the value becomes `value`
   * (`data|`). Output: { kind: "cas", ok }.
   */
  | { readonly kind: "acquire"; readonly key: string; readonly value: string; readonly session: string }
  | { readonly kind: "release"; readonly key: string; readonly value: string; readonly session: string };

export type KvOutput =
  | { readonly kind: "ok" } // put / delete succeeded
  | { readonly kind: "value"; readonly value: string | null } // get result (null = absent)
  | { readonly kind: "cas"; readonly ok: boolean };

export interface Operation {
  readonly clientId: number;
  readonly input: KvInput;
  /** call time (any monotonic number, e.g. simulator tick). Intervals are CLOSED [call, ret]. */
  readonly call: number;
  /** return time; Infinity for an indeterminate operation (timed out / client crashed). */
  readonly ret: number;
  /**
   * null for an indeterminate operation (and then ret is Infinity): it may take effect at any point after
   * its call, or never (a lost write). Because its return sorts after every completed op, "never" is the
   * same as "last", so the search needs no separate drop move. An indeterminate get constrains nothing and
   * is ignored.
   */
  readonly output: KvOutput | null;
}

export type CheckResult =
  | { readonly outcome: "ok" }
  | {
      readonly outcome: "illegal";
      readonly key: string;
      readonly ops: readonly Operation[];
      readonly longestPrefix: readonly Operation[];
      readonly message: string;
    }
  | { readonly outcome: "unknown"; readonly key: string; readonly message: string };

/** Per key. Enough for thousands of ops per key at 5 concurrent clients; adversarial histories stop here. */
const STEPS_MAX_DEFAULT = 2_000_000;

/**
 * Checks every key's sub-history in key-sorted order. The first illegal key wins, even over an earlier
 * "unknown" key, because a proven violation is the more useful report; otherwise the first unknown key is
 * reported. Use: `stepsMax` is a budget per key, so the total work is at most keys × stepsMax steps.
 */
export function checkLinearizable(
  ops: readonly Operation[],
  options?: { readonly stepsMax?: number },
): CheckResult {
  const stepsMax = options?.stepsMax ?? STEPS_MAX_DEFAULT;
  assert(Number.isSafeInteger(stepsMax) && stepsMax >= 0, `Cannot check with stepsMax "${stepsMax}"`);
  ops.forEach(validateOperation);
  let firstUnknown: CheckResult | null = null;
  for (const [key, keyOps] of partitionByKey(ops)) {
    const result = checkKey(key, keyOps, stepsMax);
    if (result.outcome === "illegal") return result;
    if (result.outcome === "unknown" && firstUnknown === null) firstUnknown = result;
  }
  return firstUnknown ?? { outcome: "ok" };
}

function validateOperation(op: Operation, index: number): void {
  const problem = operationProblem(op);
  assert(problem === null, `Cannot check operation ${index} (${describeOperation(op)}): ${problem}`);
}

/** What makes `op` malformed, or null; a leaf so the message is only built for a bad op. */
function operationProblem(op: Operation): string | null {
  if (!Number.isFinite(op.call)) return `call time "${op.call}" is not finite`;
  if (!(op.ret >= op.call)) return `return time "${op.ret}" is before its call`;
  // A finite ret would wrongly forbid an indeterminate op from taking effect after the client gave up on it.
  if (op.output === null) return op.ret === Infinity ? null : `indeterminate op has finite ret "${op.ret}"`;
  if (op.ret === Infinity) return "completed op has ret Infinity";
  const expected = { put: "ok", delete: "ok", get: "value", cas: "cas", acquire: "cas", release: "cas" }[
    op.input.kind
  ];
  return op.output.kind === expected ? null : `output kind "${op.output.kind}" should be "${expected}"`;
}

function partitionByKey(ops: readonly Operation[]): [string, Operation[]][] {
  const byKey = new Map<string, Operation[]>();
  for (const op of ops) {
    const list = byKey.get(op.input.key);
    if (list === undefined) byKey.set(op.input.key, [op]);
    else list.push(op);
  }
  // Code-unit order, not localeCompare: the order must not depend on the host's locale.
  return [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function checkKey(key: string, keyOps: readonly Operation[], stepsMax: number): CheckResult {
  const history = compileHistory(keyOps);
  const found = search(history, stepsMax);
  if (found.kind === "ok") return { outcome: "ok" };
  if (found.kind === "unknown") {
    const message =
      `Cannot decide linearizability of key ${JSON.stringify(key)} within stepsMax ${stepsMax} ` +
      `(${history.ops.length} operations searched); raise stepsMax or shorten the history`;
    return { outcome: "unknown", key, message };
  }
  const longestPrefix = found.longest.map((op) => history.ops[op]!);
  return {
    outcome: "illegal",
    key,
    ops: keyOps,
    longestPrefix,
    message: describeViolation(key, history, found.longest),
  };
}

function describeViolation(key: string, history: KeyHistory, longest: readonly number[]): string {
  let state = ABSENT;
  for (const op of longest) state = stepModel(history, op, state);
  assert(state !== ILLEGAL, "the longest prefix must replay legally");
  const value = replayValue(longest.map((op) => history.ops[op]!));
  // Completed ops are numbered in return order, so the first one outside the prefix is the op that had to
  // come next and could not.
  const inPrefix = new Set(longest);
  let blocker: Operation | null = null;
  for (let op = 0; op < history.completedCount && blocker === null; op++) {
    if (!inPrefix.has(op)) blocker = history.ops[op]!;
  }
  const blocked = blocker === null ? "" : `; stuck before ${describeOperation(blocker)}`;
  return (
    `Cannot linearize the ${history.ops.length} operations on key ${JSON.stringify(key)}: ` +
    `the longest legal prefix has ${longest.length}, leaving value ` +
    `${JSON.stringify(value)}${blocked}`
  );
}

/** The register's value after a legal sequence, on the real values (the search merges unread ones). */
function replayValue(sequence: readonly Operation[]): string | null {
  let value: string | null = null;
  for (const { input } of sequence) {
    if (input.kind === "put") value = input.value;
    else if (input.kind === "delete") value = null;
    else if (input.kind === "cas" && value === input.expected) value = input.value;
    else if (input.kind === "acquire" && [input.session, ""].includes(holderOf(value))) value = input.value;
    else if (input.kind === "release" && value !== null && holderOf(value) === input.session)
      value = input.value;
  }
  return value;
}

function describeOperation(op: Operation): string {
  const input = op.input;
  let what: string;
  if (input.kind === "put") what = `put ${JSON.stringify(input.value)}`;
  else if (input.kind === "cas")
    what = `cas ${JSON.stringify(input.expected)}→${JSON.stringify(input.value)}`;
  else if (input.kind === "acquire" || input.kind === "release")
    what = `${input.kind} by ${JSON.stringify(input.session)} → ${JSON.stringify(input.value)}`;
  else what = input.kind;
  let out: string;
  if (op.output === null) out = "?";
  else if (op.output.kind === "value") out = JSON.stringify(op.output.value);
  else if (op.output.kind === "cas") out = op.output.ok ? "ok" : "failed";
  else out = "ok";
  const interval = op.ret === Infinity ? `[${op.call}, ∞)` : `[${op.call}, ${op.ret}]`;
  return `client ${op.clientId} ${what} → ${out} ${interval}`;
}
