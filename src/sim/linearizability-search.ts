/**
 * The linearizability checker's search (linearizability.ts) over one key's compiled history
 * (linearizability-model.ts): Wing–Gong backtracking with Lowe's memoization, the pruning rules that keep
 * indeterminate ops from multiplying it (usefulStep, UnknownMoves), and the longest legal prefix for the
 * report. Its data structures are in linearizability-structs.ts.
 */
import { assert } from "../util/index.js";
import {
  ABSENT,
  ILLEGAL,
  type KeyHistory,
  KIND_ACQUIRE,
  KIND_CAS,
  KIND_DELETE,
  KIND_GET,
  KIND_PUT,
  KIND_RELEASE,
  stepModel,
  UNKNOWN,
} from "./linearizability-model.js";
import { DancingLists, END, EventList, FailedNodes, LinearizedSet, NONE } from "./linearizability-structs.js";

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

export type SearchOutcome =
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
export function search(h: KeyHistory, stepsMax: number): SearchOutcome {
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
