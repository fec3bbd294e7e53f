import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { SeededRng } from "../util/index.js";
import {
  type CheckResult,
  checkLinearizable,
  type KvInput,
  type KvOutput,
  type Operation,
} from "./linearizability.js";

// ---- builders ---------------------------------------------------------------------------------------------

const put = (key: string, value: string): KvInput => ({ kind: "put", key, value });
const get = (key: string): KvInput => ({ kind: "get", key });
const cas = (key: string, expected: string | null, value: string): KvInput => ({
  kind: "cas",
  key,
  expected,
  value,
});
const del = (key: string): KvInput => ({ kind: "delete", key });

const ok: KvOutput = { kind: "ok" };
const read = (value: string | null): KvOutput => ({ kind: "value", value });
const casResult = (succeeded: boolean): KvOutput => ({ kind: "cas", ok: succeeded });

function op(clientId: number, input: KvInput, call: number, ret: number, output: KvOutput): Operation {
  return { clientId, input, call, ret, output };
}

/** An op whose client timed out or crashed: it may take effect any time after `call`, or never. */
function indeterminate(clientId: number, input: KvInput, call: number): Operation {
  return { clientId, input, call, ret: Infinity, output: null };
}

function assertIllegal(result: CheckResult, key: string): Extract<CheckResult, { outcome: "illegal" }> {
  assert.equal(result.outcome, "illegal", `expected illegal, got ${JSON.stringify(result)}`);
  assert.ok(result.outcome === "illegal");
  assert.equal(result.key, key);
  return result;
}

// ---- a real atomic register with concurrent clients, driven by a script -----------------------------------

/**
 * One scheduler decision. The chosen client advances its current op one phase: idle → called → applied (the
 * register changes at this instant) → returned. `timeout` makes the client give up instead (the op becomes
 * indeterminate; if not yet applied it may still be applied later, by a `late` command, or never).
 */
interface Command {
  readonly client: number;
  readonly key: number;
  readonly kind: number;
  readonly value: number;
  readonly expected: number;
  /** false: this event shares the previous event's timestamp, exercising closed intervals. */
  readonly tick: boolean;
  readonly timeout: boolean;
  /** also apply the oldest op whose client gave up on it before it took effect. */
  readonly late: boolean;
}

interface Pending {
  readonly index: number;
  readonly input: KvInput;
  output: KvOutput | null;
}

const KEYS = ["a", "b", "c"];
const VALUES = ["v0", "v1", "v2", "v3"];

function inputOf(command: Command, keys: number): KvInput {
  const key = KEYS[command.key % keys]!;
  const value = VALUES[command.value % VALUES.length]!;
  const expected = command.expected === 0 ? null : VALUES[(command.expected - 1) % VALUES.length]!;
  return [put(key, value), get(key), cas(key, expected, value), del(key)][command.kind % 4]!;
}

function applyToRegister(register: Map<string, string>, input: KvInput): KvOutput {
  const current = register.get(input.key) ?? null;
  if (input.kind === "get") return read(current);
  if (input.kind === "put") register.set(input.key, input.value);
  if (input.kind === "delete") register.delete(input.key);
  if (input.kind === "acquire" || input.kind === "release") {
    const holder = current === null ? "" : current.slice(current.lastIndexOf("|") + 1);
    const free =
      input.kind === "acquire" ? holder === "" || holder === input.session : holder === input.session;
    if (free) register.set(input.key, input.value);
    return casResult(free);
  }
  if (input.kind !== "cas") return ok;
  if (current !== input.expected) return casResult(false);
  register.set(input.key, input.value);
  return casResult(true);
}

/** Runs the script against a linearizable register and records the history clients would observe. */
function simulate(commands: readonly Command[], options: { clients: number; keys: number }): Operation[] {
  const register = new Map<string, string>();
  const history: Operation[] = [];
  const inFlight: (Pending | null)[] = Array.from({ length: options.clients }, () => null);
  const abandoned: Pending[] = [];
  let now = 0;
  for (const command of commands) {
    if (command.tick) now++;
    const client = command.client % options.clients;
    const current = inFlight[client];
    if (command.late && abandoned.length > 0) applyToRegister(register, abandoned.shift()!.input);
    if (current === undefined) throw new Error("unreachable: client index in range");
    if (current === null) {
      const input = inputOf(command, options.keys);
      inFlight[client] = { index: history.length, input, output: null };
      history.push({ clientId: client, input, call: now, ret: Infinity, output: null });
    } else if (command.timeout) {
      if (current.output === null) abandoned.push(current);
      inFlight[client] = null;
    } else if (current.output === null) {
      current.output = applyToRegister(register, current.input);
    } else {
      const called = history[current.index]!;
      history[current.index] = { ...called, ret: now, output: current.output };
      inFlight[client] = null;
    }
  }
  return history;
}

/** Timeouts and late applies are rarer than ordinary steps, as in a real run, hence the 1-in-16 roll. */
const commandArb: fc.Arbitrary<Command> = fc
  .record({
    client: fc.nat(4),
    key: fc.nat(2),
    kind: fc.nat(3),
    value: fc.nat(3),
    expected: fc.nat(4),
    tick: fc.boolean(),
    roll: fc.nat(15),
  })
  .map(({ roll, ...c }) => ({ ...c, timeout: roll === 0, late: roll === 1 }));

const scriptArb = (maxLength: number): fc.Arbitrary<Command[]> =>
  fc.array(commandArb, { maxLength, size: "max" });

/** A long script for one key: five clients, `timeoutP` of steps giving up on an op. */
function randomScript(rng: SeededRng, length: number, timeoutP: number): Command[] {
  return Array.from({ length }, () => ({
    client: rng.int(0, 5),
    key: 0,
    kind: rng.int(0, 4),
    value: rng.int(0, 4),
    expected: rng.int(0, 5),
    tick: rng.chance(0.7),
    timeout: rng.chance(timeoutP),
    late: rng.chance(0.05),
  }));
}

// ---- a naive twin: brute force over every order and every choice of lost writes ---------------------------

/** Applies `o` to `state`; true if the register answers what `o` observed (anything, if indeterminate). */
function naiveStep(state: Map<string, string>, o: Operation): boolean {
  const output = applyToRegister(state, o.input);
  return o.output === null || JSON.stringify(output) === JSON.stringify(o.output);
}

/** Is there an order of all completed ops plus some subset of the others that respects real time? */
function naiveLinearizable(ops: readonly Operation[]): boolean {
  const place = (left: readonly Operation[], state: ReadonlyMap<string, string>): boolean => {
    if (left.every((o) => o.output === null)) return true;
    return left.some((o, i) => {
      const rest = left.filter((_, j) => j !== i);
      if (o.output === null && place(rest, state)) return true; // dropped: never took effect
      if (rest.some((p) => p.ret < o.call)) return false;
      const next = new Map(state);
      return naiveStep(next, o) && place(rest, next);
    });
  };
  return place(ops, new Map());
}

/**
 * A second twin for medium histories of one key: plain Wing–Gong (which op may go next: any whose call is not
 * after the earliest pending return) with Lowe's memo on (ops done, value), and none of the checker's
 * pruning, event lists or renumbering.
 */
function referenceLinearizable(ops: readonly Operation[]): boolean {
  const done = ops.map(() => false);
  const failed = new Set<string>();
  const place = (value: string | null): boolean => {
    const left = ops.filter((_, i) => !done[i]);
    if (left.every((o) => o.output === null)) return true;
    const node = `${done.map(Number).join("")} ${JSON.stringify(value)}`;
    if (failed.has(node)) return false;
    const firstRet = Math.min(...left.map((o) => o.ret));
    for (const [i, o] of ops.entries()) {
      if (done[i] || o.call > firstRet) continue;
      const register = new Map(value === null ? [] : [[o.input.key, value]]);
      if (!naiveStep(register, o)) continue;
      done[i] = true;
      const found = place(register.get(o.input.key) ?? null);
      done[i] = false;
      if (found) return true;
    }
    failed.add(node);
    return false;
  };
  return place(null);
}

/** Corrupts the output of the completed op at `pick`: another read value, or a flipped cas result. */
function corrupt(history: readonly Operation[], pick: number, value: string | null): Operation[] {
  const completed = history.flatMap((o, i) =>
    o.output?.kind === "value" || o.output?.kind === "cas" ? [i] : [],
  );
  if (completed.length === 0) return [...history];
  const target = completed[pick % completed.length]!;
  return history.map((o, i) => {
    if (i !== target || o.output === null) return o;
    return { ...o, output: o.output.kind === "cas" ? casResult(!o.output.ok) : read(value) };
  });
}

const smallOpArb: fc.Arbitrary<Operation> = fc
  .record({
    clientId: fc.nat(3),
    key: fc.constantFrom("a", "b"),
    kind: fc.constantFrom("put", "get", "cas", "delete"),
    value: fc.constantFrom("x", "y"),
    expected: fc.constantFrom(null, "x", "y"),
    read: fc.constantFrom(null, "x", "y"),
    casOk: fc.boolean(),
    call: fc.nat(8),
    duration: fc.nat(4),
    indeterminate: fc.nat(4).map((n) => n === 0),
  })
  .map((r): Operation => {
    const inputs = {
      put: put(r.key, r.value),
      get: get(r.key),
      cas: cas(r.key, r.expected, r.value),
      delete: del(r.key),
    };
    const outputs = { put: ok, get: read(r.read), cas: casResult(r.casOk), delete: ok };
    if (r.indeterminate) return indeterminate(r.clientId, inputs[r.kind], r.call);
    return op(r.clientId, inputs[r.kind], r.call, r.call + r.duration, outputs[r.kind]);
  });

/** One lock key's ops: acquire / release by two sessions, reads of `data|holder`, blind puts and deletes. */
const lockOpArb: fc.Arbitrary<Operation> = fc
  .record({
    clientId: fc.nat(3),
    kind: fc.constantFrom("acquire", "release", "get", "put", "delete"),
    session: fc.constantFrom("s1", "s2"),
    data: fc.constantFrom("x", "y"),
    read: fc.constantFrom(null, "x|", "x|s1", "y|s2", "y|s1"),
    putHolder: fc.constantFrom("", "s1"),
    casOk: fc.boolean(),
    call: fc.nat(8),
    duration: fc.nat(4),
    indeterminate: fc.nat(4).map((n) => n === 0),
  })
  .map((r): Operation => {
    const lock = (kind: "acquire" | "release"): KvInput => ({
      kind,
      key: "L",
      value: `${r.data}|${kind === "acquire" ? r.session : ""}`,
      session: r.session,
    });
    const inputs = {
      acquire: lock("acquire"),
      release: lock("release"),
      get: get("L"),
      put: put("L", `${r.data}|${r.putHolder}`),
      delete: del("L"),
    };
    const outputs = {
      acquire: casResult(r.casOk),
      release: casResult(r.casOk),
      get: read(r.read),
      put: ok,
      delete: ok,
    };
    if (r.indeterminate) return indeterminate(r.clientId, inputs[r.kind], r.call);
    return op(r.clientId, inputs[r.kind], r.call, r.call + r.duration, outputs[r.kind]);
  });

/** The checker's verdict equals the brute-force twin's on 2000 small histories drawn from `opArb`. */
function agreesWithBruteForce(opArb: fc.Arbitrary<Operation>): void {
  const seen = { ok: 0, illegal: 0 };
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 7 }), (history) => {
      const expected = naiveLinearizable(history) ? "ok" : "illegal";
      const result = checkLinearizable(history);
      seen[expected]++;
      assert.equal(result.outcome, expected, JSON.stringify(history));
    }),
    { numRuns: 2000 },
  );
  // Guards the generator: a twin that only ever sees one verdict proves little.
  assert.ok(seen.ok > 200 && seen.illegal > 200, JSON.stringify(seen));
}

// ---- tests ------------------------------------------------------------------------------------------------

describe("checkLinearizable: sequential histories", () => {
  it("accepts an empty history", () => {
    assert.deepEqual(checkLinearizable([]), { outcome: "ok" });
  });

  it("accepts put, get, cas, delete in order", () => {
    const history = [
      op(1, get("k"), 0, 1, read(null)),
      op(1, put("k", "a"), 2, 3, ok),
      op(1, get("k"), 4, 5, read("a")),
      op(1, cas("k", "a", "b"), 6, 7, casResult(true)),
      op(1, cas("k", "a", "c"), 8, 9, casResult(false)),
      op(1, get("k"), 10, 11, read("b")),
      op(1, del("k"), 12, 13, ok),
      op(1, cas("k", null, "d"), 14, 15, casResult(true)),
      op(1, get("k"), 16, 17, read("d")),
    ];
    assert.deepEqual(checkLinearizable(history), { outcome: "ok" });
  });

  it("rejects a read of a value that was overwritten, and names the prefix that worked", () => {
    const history = [
      op(1, put("k", "a"), 0, 1, ok),
      op(1, put("k", "b"), 2, 3, ok),
      op(1, get("k"), 4, 5, read("a")),
    ];
    const result = assertIllegal(checkLinearizable(history), "k");
    assert.deepEqual(result.longestPrefix, history.slice(0, 2));
    assert.deepEqual(result.ops, history);
    assert.match(
      result.message,
      /key "k".*longest legal prefix has 2, leaving value "b".*get → "a" \[4, 5\]/,
    );
  });

  it("rejects a read after delete that still sees the value", () => {
    const history = [
      op(1, put("k", "a"), 0, 1, ok),
      op(1, del("k"), 2, 3, ok),
      op(1, get("k"), 4, 5, read("a")),
    ];
    assertIllegal(checkLinearizable(history), "k");
  });
});

describe("checkLinearizable: concurrency", () => {
  it("accepts overlapping ops when exactly one order explains the reads", () => {
    // The final read of b forces put b to be the last write; the concurrent read of a must then fall
    // between put a and put b.
    const history = [
      op(1, put("k", "a"), 0, 10, ok),
      op(2, put("k", "b"), 1, 10, ok),
      op(3, get("k"), 2, 10, read("a")),
      op(4, get("k"), 11, 12, read("b")),
    ];
    assert.deepEqual(checkLinearizable(history), { outcome: "ok" });
  });

  it("accepts a cas chain whose only legal order differs from call order", () => {
    const history = [
      op(1, cas("k", "b", "c"), 0, 10, casResult(true)),
      op(2, cas("k", "a", "b"), 1, 10, casResult(true)),
      op(3, cas("k", null, "a"), 2, 10, casResult(true)),
      op(4, get("k"), 11, 12, read("c")),
    ];
    assert.deepEqual(checkLinearizable(history), { outcome: "ok" });
  });

  it("rejects a stale read after a write completed", () => {
    const history = [
      op(1, put("k", "a"), 0, 1, ok),
      op(1, put("k", "b"), 2, 6, ok),
      op(2, get("k"), 3, 4, read("b")),
      op(3, get("k"), 3, 5, read("a")), // legal: may come before put b, concurrently
      op(2, get("k"), 7, 8, read("a")), // put b returned at 6, so a read called at 7 must see it
    ];
    assertIllegal(checkLinearizable(history), "k");
    assert.deepEqual(checkLinearizable(history.slice(0, 4)), { outcome: "ok" });
  });

  it("rejects two concurrent reads that saw a write in opposite orders", () => {
    const history = [
      op(1, put("k", "a"), 0, 10, ok),
      op(2, get("k"), 0, 3, read("a")),
      op(3, get("k"), 4, 6, read(null)), // starts after a read already saw "a"
    ];
    assertIllegal(checkLinearizable(history), "k");
  });

  it("rejects a cas that reports failure when it must have succeeded", () => {
    const history = [
      op(1, put("k", "a"), 0, 1, ok),
      op(2, cas("k", "a", "b"), 2, 3, casResult(false)),
      op(1, get("k"), 4, 5, read("a")),
    ];
    assertIllegal(checkLinearizable(history), "k");
  });

  it("accepts a failed cas when a concurrent write could have come first", () => {
    const history = [
      op(1, put("k", "a"), 0, 1, ok),
      op(2, cas("k", "a", "b"), 2, 5, casResult(false)),
      op(3, put("k", "z"), 3, 4, ok),
    ];
    assert.deepEqual(checkLinearizable(history), { outcome: "ok" });
  });
});

describe("checkLinearizable: closed intervals", () => {
  it("lets an op called at the tick another returns be ordered before it", () => {
    const history = [op(1, put("k", "a"), 0, 5, ok), op(2, get("k"), 5, 6, read(null))];
    assert.deepEqual(checkLinearizable(history), { outcome: "ok" });
  });

  it("orders an op called one tick after another returned strictly after it", () => {
    const history = [op(1, put("k", "a"), 0, 5, ok), op(2, get("k"), 6, 7, read(null))];
    assertIllegal(checkLinearizable(history), "k");
  });

  it("accepts instantaneous ops (call equals ret) at the same tick in either order", () => {
    const history = [op(1, get("k"), 3, 3, read("a")), op(2, put("k", "a"), 3, 3, ok)];
    assert.deepEqual(checkLinearizable(history), { outcome: "ok" });
  });
});

describe("checkLinearizable: indeterminate operations", () => {
  it("accepts an indeterminate write that took effect, even long after its client gave up", () => {
    const history = [
      indeterminate(1, put("k", "a"), 0),
      op(2, get("k"), 5, 6, read(null)),
      op(2, get("k"), 7, 8, read("a")),
    ];
    assert.deepEqual(checkLinearizable(history), { outcome: "ok" });
  });

  it("accepts an indeterminate write that was lost", () => {
    const history = [indeterminate(1, put("k", "a"), 0), op(2, get("k"), 5, 6, read(null))];
    assert.deepEqual(checkLinearizable(history), { outcome: "ok" });
  });

  it("accepts a lost cas whose expectation held, and a delete that did or did not happen", () => {
    const history = [
      op(1, put("k", "a"), 0, 1, ok),
      indeterminate(2, cas("k", "a", "b"), 2),
      indeterminate(3, del("k"), 2),
      op(1, get("k"), 3, 4, read("a")),
      op(1, get("k"), 5, 6, read(null)),
    ];
    assert.deepEqual(checkLinearizable(history), { outcome: "ok" });
  });

  it("still rejects a read an indeterminate write cannot explain: it cannot act before its call", () => {
    const history = [op(2, get("k"), 0, 1, read("a")), indeterminate(1, put("k", "a"), 2)];
    assertIllegal(checkLinearizable(history), "k");
  });

  it("accepts a chain of indeterminate cas ops when only the chain explains a read", () => {
    const history = [
      op(1, put("k", "x"), 0, 1, ok),
      indeterminate(2, cas("k", "y", "z"), 2),
      indeterminate(3, cas("k", "x", "y"), 3),
      op(1, get("k"), 4, 5, read("z")),
    ];
    assert.deepEqual(checkLinearizable(history), { outcome: "ok" });
    const unexplained = [...history.slice(0, 3), op(1, get("k"), 4, 5, read("w"))];
    assertIllegal(checkLinearizable(unexplained), "k");
  });

  it("accepts a failed cas explained only by an indeterminate write of a value nobody reads", () => {
    const history = [
      op(1, put("k", "a"), 0, 1, ok),
      indeterminate(2, put("k", "unread"), 2),
      op(1, cas("k", "a", "b"), 3, 4, casResult(false)),
      op(1, put("k", "c"), 5, 6, ok),
      op(1, get("k"), 7, 8, read("c")),
    ];
    assert.deepEqual(checkLinearizable(history), { outcome: "ok" });
    assertIllegal(checkLinearizable([history[0]!, ...history.slice(2)]), "k");
  });

  it("keeps hundreds of lost writes cheap to check", () => {
    // Each lost write could go anywhere after its call; a naive search would try them all at every step.
    const history: Operation[] = [];
    for (let i = 0; i < 300; i++) {
      history.push(indeterminate(9, put("k", `lost-${i}`), i * 10));
      history.push(op(1, put("k", `v${i}`), i * 10, i * 10 + 5, ok));
      history.push(op(2, get("k"), i * 10 + 6, i * 10 + 9, read(`v${i}`)));
    }
    assert.deepEqual(checkLinearizable(history, { stepsMax: 5_000 }), { outcome: "ok" });
    history.push(op(2, get("k"), 3000, 3001, read("v5")));
    assertIllegal(checkLinearizable(history, { stepsMax: 20_000 }), "k");
  });

  it("ignores an indeterminate get", () => {
    const history = [op(1, put("k", "a"), 0, 1, ok), indeterminate(2, get("k"), 0)];
    assert.deepEqual(checkLinearizable(history), { outcome: "ok" });
  });

  it("refuses malformed operations as recorder bugs", () => {
    const badKind = op(1, put("k", "a"), 0, 1, read("a"));
    assert.throws(() => checkLinearizable([badKind]), /operation 0 .*output kind "value" should be "ok"/);
    const early = op(1, get("k"), 5, 4, read(null));
    assert.throws(() => checkLinearizable([early]), /return time "4" is before its call/);
    const finiteUnknown: Operation = { clientId: 1, input: get("k"), call: 0, ret: 3, output: null };
    assert.throws(() => checkLinearizable([finiteUnknown]), /indeterminate op has finite ret "3"/);
    assert.throws(() => checkLinearizable([], { stepsMax: -1 }), /stepsMax "-1"/);
  });
});

describe("checkLinearizable: partitioning per key", () => {
  it("reports the first illegal key in sorted order among many legal ones", () => {
    const history: Operation[] = [];
    for (let k = 19; k >= 0; k--) {
      const key = `k${String(k).padStart(2, "0")}`;
      history.push(op(k, put(key, "a"), k, k + 1, ok));
      const stale = k === 7 || k === 13;
      history.push(op(k, get(key), k + 2, k + 3, read(stale ? null : "a")));
    }
    const result = assertIllegal(checkLinearizable(history), "k07");
    assert.equal(result.ops.length, 2);
    assert.ok(result.ops.every((o) => o.input.key === "k07"));
  });

  it("prefers a proven violation on a later key over an undecided earlier key", () => {
    const history = [
      ...adversarialHistory("a", 14),
      op(1, put("b", "x"), 0, 1, ok),
      op(1, get("b"), 2, 3, read(null)),
    ];
    assertIllegal(checkLinearizable(history, { stepsMax: 1000 }), "b");
  });
});

/**
 * n fully concurrent puts of distinct values, then a read of a value never written: to prove it illegal the
 * search must visit every (subset of puts, last put) pair, about n · 2^(n-1) states.
 */
function adversarialHistory(key: string, n: number): Operation[] {
  const puts = Array.from({ length: n }, (_, i) => op(i, put(key, `v${i}`), 0, 10, ok));
  return [...puts, op(n, get(key), 11, 12, read("never-written"))];
}

describe("checkLinearizable: the stepsMax budget", () => {
  it("gives unknown on an adversarial history when the budget runs out", () => {
    const result = checkLinearizable(adversarialHistory("k", 20), { stepsMax: 50_000 });
    assert.equal(result.outcome, "unknown");
    assert.ok(result.outcome === "unknown");
    assert.equal(result.key, "k");
    assert.match(result.message, /within stepsMax 50000/);
  });

  it("proves the same shape illegal when the budget suffices", () => {
    assertIllegal(checkLinearizable(adversarialHistory("k", 8)), "k");
  });

  it("treats stepsMax 0 as no search at all", () => {
    const result = checkLinearizable([op(1, put("k", "a"), 0, 1, ok)], { stepsMax: 0 });
    assert.equal(result.outcome, "unknown");
  });
});

describe("checkLinearizable: properties", () => {
  it("accepts every history of a real atomic register with concurrent clients", () => {
    fc.assert(
      fc.property(
        scriptArb(400),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        (s, c, k) => {
          const history = simulate(s, { clients: c, keys: k });
          const result = checkLinearizable(history);
          assert.deepEqual(result, { outcome: "ok" }, JSON.stringify(result));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("rejects such a history once one read returns a value never written", () => {
    fc.assert(
      fc.property(scriptArb(400), fc.integer({ min: 1, max: 5 }), fc.nat(), (script, clients, pick) => {
        const history = simulate(script, { clients, keys: 2 });
        const reads = history.flatMap((o, i) => (o.input.kind === "get" && o.output !== null ? [i] : []));
        fc.pre(reads.length > 0);
        const target = reads[pick % reads.length]!;
        const mutated = history.map((o, i) => (i === target ? { ...o, output: read("never-written") } : o));
        assertIllegal(checkLinearizable(mutated), history[target]!.input.key);
      }),
      { numRuns: 300 },
    );
  });

  it("agrees with a brute-force twin on small random histories", () => {
    agreesWithBruteForce(smallOpArb);
  });

  it("agrees with a brute-force twin on small random histories with locks", () => {
    agreesWithBruteForce(lockOpArb);
  });

  it("agrees with a plain Wing–Gong twin on medium histories, corrupted or not", () => {
    const seen = { ok: 0, illegal: 0 };
    const corruption = fc.option(fc.tuple(fc.nat(), fc.constantFrom(null, ...VALUES)), { nil: undefined });
    fc.assert(
      fc.property(scriptArb(90), fc.integer({ min: 1, max: 5 }), corruption, (script, clients, damage) => {
        const recorded = simulate(script, { clients, keys: 1 });
        const history = damage === undefined ? recorded : corrupt(recorded, damage[0], damage[1]);
        const expected = referenceLinearizable(history) ? "ok" : "illegal";
        seen[expected]++;
        assert.equal(checkLinearizable(history).outcome, expected, JSON.stringify(history));
      }),
      { numRuns: 400 },
    );
    assert.ok(seen.ok > 40 && seen.illegal > 40, JSON.stringify(seen));
  });

  it("checks 2,000 ops on one key from 5 concurrent clients in a bounded number of steps", () => {
    const history = simulate(randomScript(new SeededRng(1), 7000, 0), { clients: 5, keys: 1 });
    assert.ok(history.length >= 2000, `only ${history.length} ops`);
    assert.deepEqual(checkLinearizable(history, { stepsMax: 50_000 }), { outcome: "ok" });
  });

  it("checks 2,000 ops with 2% timing out (some applied late) in a bounded number of steps", () => {
    const history = simulate(randomScript(new SeededRng(2), 7000, 0.01), { clients: 5, keys: 1 });
    const lost = history.filter((o) => o.output === null).length;
    assert.ok(history.length >= 2000 && lost >= 40, `${history.length} ops, ${lost} indeterminate`);
    assert.deepEqual(checkLinearizable(history, { stepsMax: 50_000 }), { outcome: "ok" });
  });
});

// ---- locks: acquire and release as conditional writes on `data|holder` ------------------------------------

describe("linearizability with locks", () => {
  const acquire = (session: string, data: string): KvInput => ({
    kind: "acquire",
    key: "L",
    value: `${data}|${session}`,
    session,
  });
  const release = (session: string, data: string): KvInput => ({
    kind: "release",
    key: "L",
    value: `${data}|`,
    session,
  });

  it("accepts one holder at a time, re-acquire by the holder, and reads of the holder", () => {
    const h = [
      op(1, acquire("s1", "a"), 0, 1, casResult(true)),
      op(2, acquire("s2", "b"), 2, 3, casResult(false)),
      op(1, acquire("s1", "c"), 4, 5, casResult(true)),
      op(3, get("L"), 6, 7, read("c|s1")),
      op(2, release("s2", "x"), 8, 9, casResult(false)),
      op(1, release("s1", "d"), 10, 11, casResult(true)),
      op(2, acquire("s2", "e"), 12, 13, casResult(true)),
    ];
    assert.deepEqual(checkLinearizable(h), { outcome: "ok" });
  });

  it("refuses two holders: an acquire granted while another session holds the lock", () => {
    const h = [
      op(1, acquire("s1", "a"), 0, 1, casResult(true)),
      op(2, acquire("s2", "b"), 2, 3, casResult(true)),
    ];
    assertIllegal(checkLinearizable(h), "L");
  });

  it("refuses an acquire refused on a free key, and a release by a session that does not hold it", () => {
    assertIllegal(checkLinearizable([op(1, acquire("s1", "a"), 0, 1, casResult(false))]), "L");
    const h = [
      op(1, acquire("s1", "a"), 0, 1, casResult(true)),
      op(2, release("s2", "b"), 2, 3, casResult(true)),
    ];
    assertIllegal(checkLinearizable(h), "L");
  });

  it("tells unread values apart by holder: a lost acquire cannot explain a later refusal by its holder", () => {
    // s1's acquire timed out; if it took effect, s1 holds the lock, so s1's next acquire must succeed.
    const lost = [indeterminate(1, acquire("s1", "a"), 0), op(1, acquire("s1", "b"), 5, 6, casResult(false))];
    assertIllegal(checkLinearizable(lost), "L");
    // Another session's refusal is explained by s1's unseen acquire having taken effect.
    const other = [
      indeterminate(1, acquire("s1", "a"), 0),
      op(2, acquire("s2", "b"), 5, 6, casResult(false)),
    ];
    assert.deepEqual(checkLinearizable(other), { outcome: "ok" });
  });

  it("lets concurrent acquires be ordered either way, and a delete free the lock", () => {
    const h = [
      op(1, acquire("s1", "a"), 0, 10, casResult(false)),
      op(2, acquire("s2", "b"), 1, 9, casResult(true)),
      op(3, del("L"), 11, 12, ok),
      op(1, acquire("s1", "c"), 13, 14, casResult(true)),
      op(3, get("L"), 15, 16, read("c|s1")),
    ];
    assert.deepEqual(checkLinearizable(h), { outcome: "ok" });
  });
});
