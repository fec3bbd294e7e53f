/**
 * Linearizability checker for a key-value register history, in the style of porcupine: Wing–Gong backtracking
 * over a linked list of call/return events, with Lowe's memoization of (set of linearized ops, model state).
 *
 * The history is partitioned per key (P-compositionality: a history is linearizable iff each key's
 * sub-history is), which keeps the exponential part of the search to one key's concurrency.
 *
 * Contract:
 * - Pure and deterministic: no clock, no randomness, keys checked in sorted order. The same history always gives
 *   the same result, so a failing simulator seed replays to the same report.
 * - Bounded: `stepsMax` caps the search steps per key (the problem is NP-complete); running out gives
 *   "unknown", which callers must treat as not-a-pass.
 * - Intervals are closed [call, ret]: an op that starts at the very tick another returns may precede it,
 *   because a monotonic clock can stamp both with the same value.
 * - Malformed input (non-finite call, ret < call, output of the wrong kind, a completed op without a return
 *   time) is a bug in the recorder and throws an AssertionError.
 */
import { assert, unreachable } from "../util/index.js";

export type KvInput =
  | { readonly kind: "put"; readonly key: string; readonly value: string }
  | { readonly kind: "get"; readonly key: string }
  | { readonly kind: "cas"; readonly key: string; readonly expected: string | null; readonly value: string }
  | { readonly kind: "delete"; readonly key: string };

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
   * null for an indeterminate operation (and then ret is Infinity): it may take effect at any point after its
   * call, or never (a lost write). Because its return sorts after every completed op, "never" is the same as
   * "last", so the search needs no separate drop move. An indeterminate get constrains nothing and is ignored.
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
  const expected = { put: "ok", delete: "ok", get: "value", cas: "cas" }[op.input.kind];
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
  // The op that ends a prefix is the earliest-returning completed op outside it: it had to come next.
  const inPrefix = new Set(longest);
  let blocker: Operation | null = null;
  for (const [index, op] of history.ops.entries()) {
    if (inPrefix.has(index) || op.output === null) continue;
    if (blocker === null || op.ret < blocker.ret) blocker = op;
  }
  const blocked = blocker === null ? "" : `; stuck before ${describeOperation(blocker)}`;
  return (
    `Cannot linearize the ${history.ops.length} operations on key ${JSON.stringify(key)}: ` +
    `the longest legal prefix has ${longest.length}, leaving value ` +
    `${JSON.stringify(history.values[state])}${blocked}`
  );
}

function describeOperation(op: Operation): string {
  const input = op.input;
  let what: string;
  if (input.kind === "put") what = `put ${JSON.stringify(input.value)}`;
  else if (input.kind === "cas")
    what = `cas ${JSON.stringify(input.expected)}→${JSON.stringify(input.value)}`;
  else what = input.kind;
  let out: string;
  if (op.output === null) out = "?";
  else if (op.output.kind === "value") out = JSON.stringify(op.output.value);
  else if (op.output.kind === "cas") out = op.output.ok ? "ok" : "failed";
  else out = "ok";
  const interval = op.ret === Infinity ? `[${op.call}, ∞)` : `[${op.call}, ${op.ret}]`;
  return `client ${op.clientId} ${what} → ${out} ${interval}`;
}

// ---- the model, on interned values -------------------------------------------------------------------------

/** Interned id of "absent" (null); every other value gets an id >= 1 in order of first appearance. */
const ABSENT = 0;
/** stepModel's answer for an op whose output the current state cannot explain. */
const ILLEGAL = -1;
/** `result` of an indeterminate op. */
const UNKNOWN = -1;

const KIND_PUT = 0;
const KIND_GET = 1;
const KIND_CAS = 2;
const KIND_DELETE = 3;

/**
 * One key's history in the shape the search wants: values interned to small integers so a model state is a
 * number, and op fields in typed arrays indexed by op id (the index in `ops`).
 */
interface KeyHistory {
  /** The ops searched: the key's ops minus indeterminate gets, which constrain nothing. */
  readonly ops: readonly Operation[];
  readonly kind: Uint8Array;
  /** put / cas: the value written. */
  readonly written: Int32Array;
  /** cas: the value expected. */
  readonly expected: Int32Array;
  /** get: the value read; cas: 1 succeeded, 0 failed; put / delete: 0; indeterminate: UNKNOWN. */
  readonly result: Int32Array;
  /** id → value, for messages. */
  readonly values: readonly (string | null)[];
  readonly determinateCount: number;
  readonly events: EventList;
}

function compileHistory(keyOps: readonly Operation[]): KeyHistory {
  const ops = keyOps.filter((op) => !(op.input.kind === "get" && op.output === null));
  const ids = new Map<string, number>();
  const values: (string | null)[] = [null];
  const intern = (value: string | null): number => {
    if (value === null) return ABSENT;
    let id = ids.get(value);
    if (id === undefined) {
      id = values.length;
      ids.set(value, id);
      values.push(value);
    }
    return id;
  };
  const n = ops.length;
  const kind = new Uint8Array(n);
  const written = new Int32Array(n);
  const expected = new Int32Array(n);
  const result = new Int32Array(n);
  let determinateCount = 0;
  ops.forEach((op, i) => {
    const input = op.input;
    const output = op.output;
    if (output !== null) determinateCount++;
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
    } else {
      unreachable(input, "unknown KvInput kind");
    }
  });
  return { ops, kind, written, expected, result, values, determinateCount, events: new EventList(ops) };
}

/** The register's step: the state after `op` linearizes in `state`, or ILLEGAL if its output contradicts it. */
function stepModel(h: KeyHistory, op: number, state: number): number {
  const result = h.result[op]!;
  switch (h.kind[op]) {
    case KIND_PUT:
      return h.written[op]!;
    case KIND_DELETE:
      return ABSENT;
    case KIND_GET:
      return result === state ? state : ILLEGAL;
    case KIND_CAS: {
      const matches = state === h.expected[op]!;
      if (result === UNKNOWN) return matches ? h.written[op]! : state;
      if (result === 1) return matches ? h.written[op]! : ILLEGAL;
      return matches ? ILLEGAL : state;
    }
    default:
      throw new Error(`unreachable: op kind "${h.kind[op]}"`);
  }
}

// ---- the search ---------------------------------------------------------------------------------------------

type SearchOutcome =
  | { readonly kind: "ok" }
  | { readonly kind: "unknown" }
  | { readonly kind: "illegal"; readonly longest: readonly number[] };

/**
 * Wing–Gong with Lowe's memoization. Walk the event list from the head: at a call, try to linearize that op
 * now; if the model accepts and (linearized set, state) is new, lift the op out of the list and restart from
 * the head. Reaching a return means its op can no longer be placed after everything tried so far: undo the most
 * recent linearization and try the call after it. An empty undo stack at a return proves the history illegal.
 * Invariant: every call node precedes its return node, so while a completed op remains the walk meets a
 * return before the end of the list. Indeterminate returns sort last, so once every completed op is placed the
 * rest can follow in any order (or be dropped) and the search stops.
 */
function search(h: KeyHistory, stepsMax: number): SearchOutcome {
  const { events } = h;
  const linearized = new HashedBitset(h.ops.length);
  const seen = new SeenSet(linearized.words.length);
  const stackNode = new Int32Array(h.ops.length);
  const stackState = new Int32Array(h.ops.length);
  let depth = 0;
  let state = ABSENT;
  let remaining = h.determinateCount;
  let longest: readonly number[] = [];
  let steps = 0;
  let node = events.next[HEAD]!;
  while (remaining > 0) {
    if (++steps > stepsMax) return { kind: "unknown" };
    assert(node !== END, "a completed op's return must stop the walk before the end of the list");
    const op = events.opOf[node]!;
    if (events.isCall[node] === 1) {
      const next = stepModel(h, op, state);
      if (next !== ILLEGAL) {
        linearized.flip(op);
        if (seen.insert(linearized, next)) {
          stackNode[depth] = node;
          stackState[depth] = state;
          depth++;
          state = next;
          if (h.result[op] !== UNKNOWN) remaining--;
          events.lift(node);
          if (depth > longest.length)
            longest = Array.from(stackNode.subarray(0, depth), (n) => events.opOf[n]!);
          node = events.next[HEAD]!;
          continue;
        }
        linearized.flip(op);
      }
      node = events.next[node]!;
      continue;
    }
    if (depth === 0) return { kind: "illegal", longest };
    depth--;
    node = stackNode[depth]!;
    state = stackState[depth]!;
    const undone = events.opOf[node]!;
    linearized.flip(undone);
    if (h.result[undone] !== UNKNOWN) remaining++;
    events.unlift(node);
    node = events.next[node]!;
  }
  return { kind: "ok" };
}

const HEAD = 0;
const END = -1;

/**
 * Doubly linked list of call and return events in time order, as typed arrays. Node 0 is a head sentinel;
 * op i's call and return are two other nodes. Equal times put calls first, which makes intervals closed: an op
 * called at the tick another returns counts as concurrent with it.
 */
class EventList {
  readonly next: Int32Array;
  readonly prev: Int32Array;
  readonly opOf: Int32Array;
  readonly isCall: Uint8Array;
  /** call node → its return node. */
  private readonly returnOf: Int32Array;

  constructor(ops: readonly Operation[]) {
    const order = sortedEvents(ops);
    const nodes = order.length + 1;
    this.next = new Int32Array(nodes);
    this.prev = new Int32Array(nodes);
    this.opOf = new Int32Array(nodes);
    this.isCall = new Uint8Array(nodes);
    this.returnOf = new Int32Array(nodes).fill(END);
    const callNode = new Int32Array(ops.length);
    order.forEach((event, i) => {
      const node = i + 1;
      const op = event >> 1;
      this.opOf[node] = op;
      if ((event & 1) === 0) {
        this.isCall[node] = 1;
        callNode[op] = node;
      } else {
        this.returnOf[callNode[op]!] = node;
      }
    });
    for (let node = 0; node < nodes; node++) {
      this.prev[node] = node - 1;
      this.next[node] = node + 1 < nodes ? node + 1 : END;
    }
  }

  /** Removes a call and its return. Invariant: the call precedes its return, so its next is never END. */
  lift(call: number): void {
    const ret = this.returnOf[call]!;
    this.next[this.prev[call]!] = this.next[call]!;
    this.prev[this.next[call]!] = this.prev[call]!;
    const afterRet = this.next[ret]!;
    this.next[this.prev[ret]!] = afterRet;
    if (afterRet !== END) this.prev[afterRet] = this.prev[ret]!;
  }

  /** Undoes the latest lift(call); lifts must be undone in reverse order for the saved links to be valid. */
  unlift(call: number): void {
    const ret = this.returnOf[call]!;
    const afterRet = this.next[ret]!;
    this.next[this.prev[ret]!] = ret;
    if (afterRet !== END) this.prev[afterRet] = ret;
    this.next[this.prev[call]!] = call;
    this.prev[this.next[call]!] = call;
  }
}

/** Events encoded as op * 2 (call) or op * 2 + 1 (return), sorted by time, calls first, then by op. */
function sortedEvents(ops: readonly Operation[]): number[] {
  const events = Array.from({ length: ops.length * 2 }, (_, i) => i);
  const time = (event: number): number => {
    const op = ops[event >> 1]!;
    return (event & 1) === 0 ? op.call : op.ret;
  };
  // Compare rather than subtract: Infinity - Infinity is NaN.
  return events.sort((a, b) => {
    const ta = time(a);
    const tb = time(b);
    if (ta !== tb) return ta < tb ? -1 : 1;
    if ((a & 1) !== (b & 1)) return (a & 1) - (b & 1);
    return a - b;
  });
}

// ---- memoization ---------------------------------------------------------------------------------------------

/**
 * A bitset of op ids with an incrementally maintained Zobrist hash, so hashing a search node costs O(1)
 * instead of O(ops / 32).
 */
class HashedBitset {
  readonly words: Uint32Array;
  hash = 0;

  constructor(size: number) {
    this.words = new Uint32Array(Math.max(1, Math.ceil(size / 32)));
  }

  /** Toggling (rather than set / clear) keeps bits and hash consistent by construction. */
  flip(i: number): void {
    this.words[i >>> 5] = this.words[i >>> 5]! ^ (1 << (i & 31));
    this.hash = (this.hash ^ mix32(i + 0x9e3779b9)) >>> 0;
  }
}

/**
 * The set of (linearized ops, state) pairs already explored. Entries live in flat typed arrays (one
 * bitset of `wordsPer` words per entry) chained per hash bucket, to avoid an object and a string per entry.
 * Use: at most one insert per search step, so its size is bounded by stepsMax.
 */
class SeenSet {
  private readonly wordsPer: number;
  private bits: Uint32Array;
  private states: Int32Array;
  /** entry → next entry in the same bucket, or END. */
  private chain: Int32Array;
  private readonly buckets = new Map<number, number>();
  private size = 0;

  constructor(wordsPer: number) {
    this.wordsPer = wordsPer;
    const capacity = 1024;
    this.bits = new Uint32Array(capacity * wordsPer);
    this.states = new Int32Array(capacity);
    this.chain = new Int32Array(capacity);
  }

  /** Adds the pair; false when it was already present (that search node was explored). */
  insert(set: HashedBitset, state: number): boolean {
    // 30 bits keep the Map key a small integer (a V8 Smi); exact comparison resolves collisions.
    const bucket = mix32(set.hash ^ mix32(state + 0x7f4a7c15)) & 0x3fffffff;
    const first = this.buckets.get(bucket) ?? END;
    for (let entry = first; entry !== END; entry = this.chain[entry]!) {
      if (this.states[entry] === state && this.bitsEqual(entry, set.words)) return false;
    }
    if (this.size === this.states.length) this.grow();
    const entry = this.size++;
    this.bits.set(set.words, entry * this.wordsPer);
    this.states[entry] = state;
    this.chain[entry] = first;
    this.buckets.set(bucket, entry);
    return true;
  }

  private bitsEqual(entry: number, words: Uint32Array): boolean {
    const base = entry * this.wordsPer;
    for (let w = 0; w < this.wordsPer; w++) if (this.bits[base + w] !== words[w]) return false;
    return true;
  }

  private grow(): void {
    const capacity = this.states.length * 2;
    const bits = new Uint32Array(capacity * this.wordsPer);
    bits.set(this.bits);
    this.bits = bits;
    const states = new Int32Array(capacity);
    states.set(this.states);
    this.states = states;
    const chain = new Int32Array(capacity);
    chain.set(this.chain);
    this.chain = chain;
  }
}

/** murmur3's fmix32 finalizer: a cheap, well-spread 32-bit mix. */
function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
