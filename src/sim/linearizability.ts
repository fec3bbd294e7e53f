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
import { assert, unreachable } from "../util/index.js";
import { DancingLists, END, EventList, FailedNodes, LinearizedSet, NONE } from "./linearizability-structs.js";

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

/** The lock holder a register value names: what follows its last "|" ("" = free, as an absent key). */
function holderOf(value: string | null): string {
  if (value === null) return "";
  const bar = value.lastIndexOf("|");
  return bar < 0 ? "" : value.slice(bar + 1);
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

// ---- the model, on interned values ---------------------------------------------------------------------

/** Interned id of "absent" (null). */
const ABSENT = 0;
/**
 * Interned id shared by every value no get returns and no cas expects that names no lock holder; the read
 * values get ids >= 2 in order of first appearance, then unread values naming a holder get one id per holder.
 * Only acquire and release can tell unread values apart, and only by their holder, so merging by holder is
 * exact, and it makes lost writes of distinct values twins (see usefulStep) instead of a search branch each.
 */
const UNREAD = 1;
/** stepModel's answer for an op whose output the current state cannot explain. */
const ILLEGAL = -1;
/** `result` of an indeterminate op. */
const UNKNOWN = -1;
/** "No op" / "no node" in the typed-array structures below. */

const KIND_PUT = 0;
const KIND_GET = 1;
const KIND_CAS = 2;
const KIND_DELETE = 3;
const KIND_ACQUIRE = 4;
const KIND_RELEASE = 5;

/**
 * One key's history in the shape the search wants: values interned to small integers so a model state is a
 * number, and op fields in typed arrays indexed by op id.
 * Invariant: op ids are renumbered: completed ops [0, completedCount) in return order, then indeterminate ops
 * in call order. Use: in return order, the completed ops linearized at any search node are a prefix plus a
 * few ops concurrent with its end (see LinearizedSet), and call order is the order twins must be used in.
 */
export interface KeyHistory {
  /** By op id: the key's ops minus indeterminate gets, which constrain nothing. */
  readonly ops: readonly Operation[];
  readonly completedCount: number;
  readonly kind: Uint8Array;
  /** put / cas: the value written. */
  readonly written: Int32Array;
  /** cas: the value expected; acquire / release: the session's holder id. */
  readonly expected: Int32Array;
  /** By value id: the holder id the value names (0 = free; holder ids are interned from 1). */
  readonly holder: Int32Array;
  /** get: the value read; cas: 1 succeeded, 0 failed; put / delete: 0; indeterminate: UNKNOWN. */
  readonly result: Int32Array;
  /** Interned values are [0, valueCount). */
  readonly valueCount: number;
  /** Position of each op's call, and of each completed op's return, among all events in time order. */
  readonly callRank: Int32Array;
  readonly retRank: Int32Array;
  /**
   * Indeterminate op → the indeterminate op with the same input called just before it, or NONE. Such twins
   * are interchangeable, so the search uses them in call order only (see usefulStep).
   */
  readonly twinBefore: Int32Array;
}

function compileHistory(keyOps: readonly Operation[]): KeyHistory {
  const kept = keyOps.filter((op) => !(op.input.kind === "get" && op.output === null));
  const { ops, callRank, retRank } = numberOps(kept);
  const completedCount = ops.filter((op) => op.output !== null).length;
  const ids = readValueIds(ops);
  const holders = new Map<string, number>([["", 0]]);
  const holderId = (name: string): number => {
    const id = holders.get(name);
    if (id !== undefined) return id;
    holders.set(name, holders.size);
    return holders.size - 1;
  };
  const valueHolder: number[] = [0, 0];
  for (const value of ids.keys()) valueHolder.push(holderId(holderOf(value)));
  const unreadByHolder = new Map<number, number>([[0, UNREAD]]);
  const intern = (value: string | null): number => {
    if (value === null) return ABSENT;
    const read = ids.get(value);
    if (read !== undefined) return read;
    const holder = holderId(holderOf(value));
    let id = unreadByHolder.get(holder);
    if (id === undefined) {
      id = valueHolder.length;
      valueHolder.push(holder);
      unreadByHolder.set(holder, id);
    }
    return id;
  };
  const n = ops.length;
  const kind = new Uint8Array(n);
  const written = new Int32Array(n);
  const expected = new Int32Array(n);
  const result = new Int32Array(n);
  ops.forEach((op, i) => {
    const { input, output } = op;
    result[i] = output === null ? UNKNOWN : 0;
    if (input.kind === "put") {
      kind[i] = KIND_PUT;
      written[i] = intern(input.value);
    } else if (input.kind === "delete") {
      kind[i] = KIND_DELETE;
    } else if (input.kind === "get") {
      kind[i] = KIND_GET;
      if (output?.kind === "value") result[i] = intern(output.value);
    } else if (input.kind === "cas") {
      kind[i] = KIND_CAS;
      written[i] = intern(input.value);
      expected[i] = intern(input.expected);
      if (output?.kind === "cas") result[i] = output.ok ? 1 : 0;
    } else if (input.kind === "acquire" || input.kind === "release") {
      kind[i] = input.kind === "acquire" ? KIND_ACQUIRE : KIND_RELEASE;
      written[i] = intern(input.value);
      expected[i] = holderId(input.session);
      if (output?.kind === "cas") result[i] = output.ok ? 1 : 0;
    } else {
      unreachable(input, "unknown KvInput kind");
    }
  });
  const twinBefore = new Int32Array(n).fill(NONE);
  const lastWithInput = new Map<string, number>();
  for (let op = completedCount; op < n; op++) {
    const input = `${kind[op]} ${written[op]} ${expected[op]}`;
    twinBefore[op] = lastWithInput.get(input) ?? NONE;
    lastWithInput.set(input, op);
  }
  const valueCount = valueHolder.length;
  const holder = Int32Array.from(valueHolder);
  return {
    ops,
    completedCount,
    kind,
    written,
    expected,
    holder,
    result,
    valueCount,
    callRank,
    retRank,
    twinBefore,
  };
}

/** Ids for the values some op reads (a get's result, a cas's expected value), from 2 up. */
function readValueIds(ops: readonly Operation[]): Map<string, number> {
  const ids = new Map<string, number>();
  const read = (value: string | null): void => {
    if (value !== null && !ids.has(value)) ids.set(value, ids.size + 2);
  };
  for (const { input, output } of ops) {
    if (output?.kind === "value") read(output.value);
    if (input.kind === "cas") read(input.expected);
  }
  return ids;
}

/**
 * Sorts events by time, calls before returns at equal times (which makes intervals closed: an op called at
 * the tick another returns counts as concurrent with it), then by input position; and numbers the ops as
 * KeyHistory requires. Indeterminate returns would all sort last, so they are left out.
 */
function numberOps(kept: readonly Operation[]): {
  ops: Operation[];
  callRank: Int32Array;
  retRank: Int32Array;
} {
  const events: number[] = [];
  kept.forEach((op, i) => {
    events.push(i * 2);
    if (op.output !== null) events.push(i * 2 + 1);
  });
  const time = (event: number): number => (event & 1 ? kept[event >> 1]!.ret : kept[event >> 1]!.call);
  // Compare rather than subtract, to stay exact for any finite times.
  events.sort((a, b) => {
    const ta = time(a);
    const tb = time(b);
    if (ta !== tb) return ta < tb ? -1 : 1;
    if ((a & 1) !== (b & 1)) return (a & 1) - (b & 1);
    return a - b;
  });
  const completed = events.filter((e) => e & 1).map((e) => e >> 1);
  const unknown = events.filter((e) => !(e & 1) && kept[e >> 1]!.output === null).map((e) => e >> 1);
  const order = [...completed, ...unknown];
  const idOf = new Int32Array(kept.length);
  order.forEach((input, id) => {
    idOf[input] = id;
  });
  const callRank = new Int32Array(kept.length);
  const retRank = new Int32Array(kept.length).fill(NONE);
  events.forEach((e, rank) => {
    if (e & 1) retRank[idOf[e >> 1]!] = rank;
    else callRank[idOf[e >> 1]!] = rank;
  });
  return { ops: order.map((input) => kept[input]!), callRank, retRank };
}

/** The register's step: the state after `op` goes in `state`, or ILLEGAL if its output says otherwise. */
function stepModel(h: KeyHistory, op: number, state: number): number {
  const result = h.result[op]!;
  switch (h.kind[op]) {
    case KIND_PUT:
      return h.written[op]!;
    case KIND_DELETE:
      return ABSENT;
    case KIND_GET:
      return result === state ? state : ILLEGAL;
    case KIND_CAS:
      return conditional(h, op, state, state === h.expected[op]!);
    case KIND_ACQUIRE: {
      const holder = h.holder[state]!;
      return conditional(h, op, state, holder === 0 || holder === h.expected[op]!);
    }
    case KIND_RELEASE:
      return conditional(h, op, state, h.expected[op]! !== 0 && h.holder[state] === h.expected[op]!);
    default:
      throw new Error(`unreachable: op kind "${h.kind[op]}"`);
  }
}

/** A conditional write's step: it writes when its condition `holds`, and its output must say whether it did. */
function conditional(h: KeyHistory, op: number, state: number, holds: boolean): number {
  const result = h.result[op]!;
  if (result === UNKNOWN) return holds ? h.written[op]! : state;
  if (result === 1) return holds ? h.written[op]! : ILLEGAL;
  return holds ? ILLEGAL : state;
}

/**
 * stepModel, minus moves that cannot help, reported as ILLEGAL too. Each rule rests on an exchange argument:
 * any linearization can be rewritten into one that obeys the rule, so the search only needs to find those.
 * - An indeterminate op that leaves the state unchanged, or whose effect the next op (a blind put or delete)
 *   overwrites unseen, can be removed: real-time order only loses constraints, and no other op sees a
 *   different state.
 * - Indeterminate twins (same input) have the same effect, so the j-th one used can be swapped for the j-th
 *   one called, which was called no later; hence an op may go only once its twinBefore has.
 * Without these, k pending indeterminate ops multiply the search by up to 2^k subsets and orders.
 * Invariant: the allowed moves depend on `afterUnknown`, so it is part of a memoized node.
 */
function usefulStep(
  h: KeyHistory,
  op: number,
  state: number,
  afterUnknown: boolean,
  linearized: LinearizedSet,
): number {
  const kind = h.kind[op];
  if (afterUnknown && (kind === KIND_PUT || kind === KIND_DELETE)) return ILLEGAL;
  const twin = h.twinBefore[op]!;
  if (twin !== NONE && !linearized.has(twin)) return ILLEGAL;
  const next = stepModel(h, op, state);
  if (h.result[op] === UNKNOWN && next === state) return ILLEGAL;
  return next;
}

// ---- the search ----------------------------------------------------------------------------------------

type SearchOutcome =
  | { readonly kind: "ok" }
  | { readonly kind: "unknown" }
  | { readonly kind: "illegal"; readonly longest: readonly number[] };

/**
 * Wing–Gong with Lowe's memoization. Walk the call/return list of completed ops from the head: at a call, try
 * to linearize that op now; if the model accepts and the new search node is not known to fail, lift the op
 * out of the list and restart from the head. Reaching a return (the frontier: the earliest-returning op not
 * yet linearized) means no more completed ops can go next; then try the indeterminate ops worth trying there
 * (UnknownMoves), kept apart so the first walk never passes over them. When all fail, record the node as
 * failed, undo the latest linearization and try the op after it. An empty undo stack proves the history
 * illegal. Trying completed ops first matters: nodes that used fewer indeterminate ops fail first, and once
 * recorded they cover (prune) nodes that used more (see FailedNodes).
 * Invariant: every call precedes its return, so while a completed op remains the walk meets a return before
 * the end of the list. Once every completed op is placed, the indeterminate ones left can follow in any order
 * (or be dropped) and the search stops.
 */
function search(h: KeyHistory, stepsMax: number): SearchOutcome {
  return new Search(h).run(stepsMax);
}

class Search {
  private readonly h: KeyHistory;
  private readonly events: EventList;
  private readonly moves: UnknownMoves;
  private readonly linearized: LinearizedSet;
  private readonly failed: FailedNodes;
  /** Per level: the op linearized, the state before it, and where the level's walk resumes after it. */
  private readonly stackOp: Int32Array;
  private readonly stackState: Int32Array;
  private readonly stackMove: Int32Array;
  /** Per level: where the child's candidate list starts in the moves arena (where the level's own ends). */
  private readonly stackChildTop: Int32Array;
  private depth = 0;
  private state = ABSENT;
  /** Whether the latest linearized op is indeterminate; usefulStep allows fewer moves after one. */
  private afterUnknown = false;
  /** false: walking the completed ops' list at `node`; true: the candidates [move, movesEnd) of the arena. */
  private unknownPass = false;
  private node: number;
  private move = 0;
  private movesEnd = 0;
  /** Where the current node's candidate list would start in the moves arena. */
  private movesTop = 0;
  private readonly longest: LongestPrefix;

  constructor(h: KeyHistory) {
    this.h = h;
    this.events = new EventList(h);
    this.moves = new UnknownMoves(h, this.events);
    this.linearized = new LinearizedSet(h.completedCount, h.ops.length);
    this.failed = new FailedNodes(h.completedCount);
    this.stackOp = new Int32Array(h.ops.length);
    this.stackState = new Int32Array(h.ops.length);
    this.stackMove = new Int32Array(h.ops.length);
    this.stackChildTop = new Int32Array(h.ops.length);
    this.longest = new LongestPrefix(h.ops.length);
    this.node = this.events.first();
  }

  run(stepsMax: number): SearchOutcome {
    const { h, events, moves, linearized } = this;
    let iterations = 0;
    while (linearized.frontier < h.completedCount) {
      // Pending ops examined count too: unlike the rest, their number per iteration has no fixed bound.
      if (++iterations + moves.visited > stepsMax) return { kind: "unknown" };
      if (!this.unknownPass) {
        const node = this.node;
        assert(node !== END, "a completed op's return must stop the walk before the end of the list");
        const op = events.opOf[node]!;
        if (events.isCall[node] === 0) {
          assert(op === linearized.frontier, "the first return in the list must be the frontier's");
          this.unknownPass = true;
          this.move = this.movesTop;
          this.movesEnd = moves.collect(
            this.movesTop,
            this.state,
            this.afterUnknown,
            linearized,
            h.retRank[op]!,
          );
        } else if (!this.tryLinearize(op)) {
          this.node = events.next[node]!;
        }
      } else if (this.move < this.movesEnd) {
        if (!this.tryLinearize(moves.candidate(this.move))) this.move++;
      } else if (this.depth === 0) {
        return { kind: "illegal", longest: this.longest.ops() };
      } else {
        this.backtrack();
      }
    }
    return { kind: "ok" };
  }

  /** Linearizes `op` next if that is allowed and not known to fail; false if not. */
  private tryLinearize(op: number): boolean {
    const { h, linearized } = this;
    const next = usefulStep(h, op, this.state, this.afterUnknown, linearized);
    if (next === ILLEGAL) return false;
    const unknown = op >= h.completedCount;
    linearized.add(op);
    if (this.failed.covers(linearized, next, unknown)) {
      linearized.remove(op);
      return false;
    }
    const childTop = this.unknownPass ? this.movesEnd : this.movesTop;
    this.longest.pushed(this.depth, op);
    this.stackOp[this.depth] = op;
    this.stackState[this.depth] = this.state;
    this.stackMove[this.depth] = this.move;
    this.stackChildTop[this.depth] = childTop;
    this.depth++;
    this.state = next;
    this.afterUnknown = unknown;
    if (unknown) this.moves.lift(op);
    else this.events.lift(op);
    this.unknownPass = false;
    this.node = this.events.first();
    this.movesTop = childTop;
    return true;
  }

  /** Records the current node as failed and undoes the latest linearization, resuming after its op. */
  private backtrack(): void {
    const { h, stackOp } = this;
    this.longest.leaving(stackOp, this.depth);
    this.failed.add(this.linearized, this.state, this.afterUnknown);
    this.depth--;
    const op = stackOp[this.depth]!;
    this.state = this.stackState[this.depth]!;
    this.afterUnknown = this.depth > 0 && stackOp[this.depth - 1]! >= h.completedCount;
    this.linearized.remove(op);
    this.unknownPass = op >= h.completedCount;
    if (this.unknownPass) {
      this.moves.unlift(op);
      this.move = this.stackMove[this.depth]! + 1;
      this.movesEnd = this.stackChildTop[this.depth]!;
    } else {
      this.events.unlift(op);
      this.node = this.events.next[this.events.callNode[op]!]!;
      this.movesTop = this.stackChildTop[this.depth]!;
    }
  }
}

/**
 * The longest partial linearization the search has reached, for the report. Use: copying the stack at every
 * new maximum would cost O(depth) each time; tracking how much of the stack still agrees with the copy keeps
 * the total copying within the number of pushes.
 */
class LongestPrefix {
  private readonly buffer: Int32Array;
  private length = 0;
  /** Invariant: stack[0, agree) equals buffer[0, agree), and agree <= length. */
  private agree = 0;

  constructor(size: number) {
    this.buffer = new Int32Array(size);
  }

  /** The stack gets `op` at `depth`. */
  pushed(depth: number, op: number): void {
    if (this.agree > depth) this.agree = depth;
    if (this.agree === depth && depth < this.length && this.buffer[depth] === op) this.agree++;
  }

  /** The search leaves the node whose path is stack[0, depth). */
  leaving(stack: Int32Array, depth: number): void {
    if (this.agree > depth) this.agree = depth;
    if (depth <= this.length) return;
    this.buffer.set(stack.subarray(this.agree, depth), this.agree);
    this.length = depth;
    this.agree = depth;
  }

  ops(): number[] {
    return Array.from(this.buffer.subarray(0, this.length));
  }
}

/**
 * The indeterminate ops worth trying at a search node, and an arena holding those candidate lists as a stack
 * (a level keeps its list while its children are explored).
 * Worth trying means the op's result is a wanted state, one some op that could go next needs: a completed
 * get or successful cas in the window reading it, or an indeterminate cas in the window that turns it into a
 * wanted state (a chain). A completed failed cas expecting the current state wants every other state. The
 * exchange argument behind it: in a linearization, move each completed get or failed cas that is legal
 * earlier to before the run of indeterminate ops preceding it (it changes nothing), and remove runs of
 * indeterminate ops that end where they began; then every run leads to a state its next op needs, and each
 * run's states differ from its start. Without this, every backtrack would walk every pending indeterminate
 * op, and those that were simply lost pile up over a long history.
 */
class UnknownMoves {
  private readonly h: KeyHistory;
  private readonly events: EventList;
  /** List 0: the pending indeterminate ops in call order; the same ops by the value they write. */
  private readonly pending: DancingLists;
  private readonly byResult: DancingLists;
  /** wantedMark[v] === epoch: value v is in `wanted` for the node being collected. */
  private readonly wantedMark: Int32Array;
  private epoch = 0;
  private readonly wanted: number[] = [];
  private arena = new Int32Array(256);
  /** List items collect() has visited so far, to charge against stepsMax. */
  visited = 0;

  constructor(h: KeyHistory, events: EventList) {
    this.h = h;
    this.events = events;
    const base = h.completedCount;
    const unknownCount = h.ops.length - base;
    this.pending = new DancingLists(unknownCount, 1);
    this.byResult = new DancingLists(unknownCount, h.valueCount);
    for (let op = base; op < h.ops.length; op++) {
      this.pending.append(0, op - base);
      this.byResult.append(resultOf(h, op), op - base);
    }
    this.wantedMark = new Int32Array(h.valueCount);
  }

  candidate(i: number): number {
    return this.arena[i]!;
  }

  lift(op: number): void {
    this.pending.lift(op - this.h.completedCount);
    this.byResult.lift(op - this.h.completedCount);
  }

  /** Undoes the latest lift(op); lifts must be undone in reverse order. */
  unlift(op: number): void {
    this.byResult.unlift(op - this.h.completedCount);
    this.pending.unlift(op - this.h.completedCount);
  }

  /**
   * Writes the candidates at the current node (state, afterUnknown, linearized; ops called before the
   * frontier return `limit` are in its window) to the arena from `start`, in a fixed order; returns the end.
   */
  collect(
    start: number,
    state: number,
    afterUnknown: boolean,
    linearized: LinearizedSet,
    limit: number,
  ): number {
    const { h } = this;
    const base = h.completedCount;
    const needed = start + (h.ops.length - base);
    if (needed > this.arena.length) this.grow(needed);
    let end = start;
    const consider = (list: DancingLists, head: number): void => {
      for (let i = list.first(head); i !== NONE && h.callRank[i + base]! < limit; i = list.after(i)) {
        this.visited++;
        if (usefulStep(h, i + base, state, afterUnknown, linearized) !== ILLEGAL)
          this.arena[end++] = i + base;
      }
    };
    if (this.collectWanted(state, limit)) {
      consider(this.pending, 0);
    } else {
      this.wanted.sort((a, b) => a - b);
      for (const value of this.wanted) consider(this.byResult, value);
    }
    return end;
  }

  /** Fills `wanted` with the states worth reaching from `state`; true when every other state is. */
  private collectWanted(state: number, limit: number): boolean {
    const { h, events, wanted } = this;
    this.epoch++;
    wanted.length = 0;
    for (let node = events.first(); events.isCall[node] === 1; node = events.next[node]!) {
      const op = events.opOf[node]!;
      if (h.kind[op] === KIND_GET) this.want(h.result[op]!, state);
      else if (h.kind[op] === KIND_CAS && h.result[op] === 1) this.want(h.expected[op]!, state);
      else if (h.kind[op] === KIND_CAS && h.expected[op] === state) return true;
      // A lock op needs a set of states (by holder); one it cannot take here wants every state, as above.
      else if (isLockOp(h, op) && stepModel(h, op, state) === ILLEGAL) return true;
    }
    const base = h.completedCount;
    for (let w = 0; w < wanted.length; w++) {
      const list = this.byResult;
      for (let i = list.first(wanted[w]!); i !== NONE && h.callRank[i + base]! < limit; i = list.after(i)) {
        this.visited++;
        if (h.kind[i + base] === KIND_CAS) this.want(h.expected[i + base]!, state);
        // An indeterminate lock op reaching a wanted state may need any of many states before it.
        else if (isLockOp(h, i + base)) return true;
      }
    }
    return false;
  }

  private want(value: number, state: number): void {
    if (value === state || this.wantedMark[value] === this.epoch) return;
    this.wantedMark[value] = this.epoch;
    this.wanted.push(value);
  }

  private grow(atLeast: number): void {
    const arena = new Int32Array(Math.max(this.arena.length * 2, atLeast));
    arena.set(this.arena);
    this.arena = arena;
  }
}

function isLockOp(h: KeyHistory, op: number): boolean {
  return h.kind[op] === KIND_ACQUIRE || h.kind[op] === KIND_RELEASE;
}

/** The state an indeterminate op leads to when it takes effect (a cas, when its expectation holds). */
function resultOf(h: KeyHistory, op: number): number {
  return h.kind[op] === KIND_DELETE ? ABSENT : h.written[op]!;
}
