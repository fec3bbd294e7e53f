/**
 * The linearizability checker's model (linearizability.ts): one key's history compiled for the search
 * (KeyHistory: values interned to small integers, op fields in typed arrays, ops renumbered) and the step of
 * the register it checks, with its lock ops (acquire / release on a `data|holder` value). A model state is an
 * interned value; stepModel answers ILLEGAL where an op's output says the state was otherwise.
 */
import { unreachable } from "../util/index.js";
import type { Operation } from "./linearizability.js";
import { NONE } from "./linearizability-structs.js";

/** Interned id of "absent" (null). */
export const ABSENT = 0;
/**
 * Interned id shared by every value no get returns and no cas expects that names no lock holder; the read
 * values get ids >= 2 in order of first appearance, then unread values naming a holder get one id per holder.
 * Only acquire and release can tell unread values apart, and only by their holder, so merging by holder is
 * exact, and it makes lost writes of distinct values twins (see usefulStep in linearizability-search.ts)
 * instead of a search branch each.
 */
const UNREAD = 1;
/** stepModel's answer for an op whose output the current state cannot explain. */
export const ILLEGAL = -1;
/** `result` of an indeterminate op. */
export const UNKNOWN = -1;

export const KIND_PUT = 0;
export const KIND_GET = 1;
export const KIND_CAS = 2;
export const KIND_DELETE = 3;
export const KIND_ACQUIRE = 4;
export const KIND_RELEASE = 5;

/** The lock holder a register value names: what follows its last "|" ("" = free, as an absent key). */
export function holderOf(value: string | null): string {
  if (value === null) return "";
  const bar = value.lastIndexOf("|");
  return bar < 0 ? "" : value.slice(bar + 1);
}

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
   * are interchangeable, so the search uses them in call order only (see usefulStep in
   * linearizability-search.ts).
   */
  readonly twinBefore: Int32Array;
}

export function compileHistory(keyOps: readonly Operation[]): KeyHistory {
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
export function stepModel(h: KeyHistory, op: number, state: number): number {
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
