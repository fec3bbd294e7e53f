import {
  type CommandResult,
  InvalidSessionError,
  type KvCommand,
  type KvEntry,
  type SessionSpec,
} from "../fsm/index.js";
import type { NodeId } from "../raft/types.js";
import type { Rng } from "../util/rng.js";
import type { KvInput, Operation } from "./linearizability.js";
import { valueText } from "./machine.js";

/** What a client needs from the world: a server to talk to and a way to reach it. */
export interface ClientHost {
  now(): number;
  /** Delivers the request to `node` after a network delay; false when the node is down. */
  submit(node: NodeId, op: PendingOp): boolean;
  liveNodes(): NodeId[];
  scheduleClient(clientId: number, delayUs: number): void;
  trace(line: string): void;
}

/** A client's request: KV reads and writes, lock acquire/release, and session create/renew/destroy. */
export type ClientInput =
  | Exclude<KvInput, { kind: "acquire" | "release" }>
  /** `value` is the data written; the history's value adds the holder (lockInput). */
  | { readonly kind: "acquire"; readonly key: string; readonly value: string; readonly session: string }
  | { readonly kind: "release"; readonly key: string; readonly value: string; readonly session: string }
  | { readonly kind: "session-create"; readonly session: SessionSpec }
  | { readonly kind: "session-renew"; readonly id: string }
  | { readonly kind: "session-destroy"; readonly id: string };

/** What comes back to a client: a read, a write's result, the leader's lock-delay refusal, or no effect. */
export type Answer =
  | { readonly kind: "read"; readonly entry: KvEntry | null }
  | { readonly kind: "result"; readonly result: CommandResult }
  | { readonly kind: "delayed" }
  | "lost"
  | "rejected";

export interface PendingOp {
  readonly opId: number;
  readonly clientId: number;
  readonly input: ClientInput;
  /** The fsm command for writes; null for reads. */
  readonly command: KvCommand | null;
  readonly call: number;
}

export const LOCK_PREFIX = "lock/";

export function isLockKey(key: string): boolean {
  return key.startsWith(LOCK_PREFIX);
}

/**
 * A lock key's register value in the history: the value and the holding session, so reads check both.
 * An acquire that succeeded wrote exactly `value|session`, a release `value|`.
 */
export function lockValue(value: string, session: string): string {
  return `${value}|${session}`;
}

const TTLS = ["", "10s", "10s", "20s"];
const LOCK_DELAYS_NS = [0, 1e9, 5e9, 15e9];
const BEHAVIORS = ["release", "release", "delete"];

/**
 * A client issuing one operation at a time and recording each in the history: call and return times, and the
 * output, or null with return at +∞ when the outcome is unknown. KV ops (put / get / cas / delete) go to a few
 * keys; with lock keys on, the client also keeps a session (created with a TTL, lock-delay and Behavior drawn
 * per session, renewed now and then, sometimes destroyed) and acquires and releases lock keys with it.
 * Acquires and releases enter the history as the per-key model's conditional writes on `value|holder`
 * (lockValue), true or false; an invalid session and the leader's lock-delay refusal never reach the key's
 * state and are left out.
 */
export class Client {
  readonly id: number;
  private readonly rng: Rng;
  private readonly keys: number;
  private readonly lockKeys: number;
  private readonly timeoutUs: number;
  private seq = 0;
  current: PendingOp | null = null;
  private deadline = 0;
  /** Values this client read, with the ModifyIndex they were read at (cas by index needs both). */
  private lastValues: { key: string; value: string; index: number }[] = [];
  /** The client's session, once created; cleared when the client learns it is gone. */
  private session: string | null = null;
  private readonly holding = new Set<string>();

  constructor(id: number, rng: Rng, keys: number, lockKeys: number, timeoutUs: number) {
    this.id = id;
    this.rng = rng;
    this.keys = keys;
    this.lockKeys = lockKeys;
    this.timeoutUs = timeoutUs;
  }

  private nextInput(): ClientInput {
    const key = `k${this.rng.int(0, this.keys)}`;
    const value = `c${this.id}-${this.seq}`;
    // With lock keys, 40% of ops are session and lock ops; the KV mix is the same either way.
    if (this.lockKeys > 0 && this.rng.chance(0.4)) return this.lockInput(value);
    const r = this.rng.float();
    if (r < 0.35)
      return { kind: "get", key: this.lockKeys > 0 && this.rng.chance(0.3) ? this.lockKey() : key };
    if (r < 0.65) return { kind: "put", key, value };
    if (r < 0.75)
      return { kind: "delete", key: this.lockKeys > 0 && this.rng.chance(0.05) ? this.lockKey() : key };
    // A cas by ModifyIndex is a cas by value only for an index read with that value on that same key.
    const seen = this.lastValues.filter((v) => v.key === key);
    const pick = seen.length > 0 && this.rng.chance(0.7) ? seen[this.rng.int(0, seen.length)]! : null;
    return { kind: "cas", key, expected: pick?.value ?? null, value };
  }

  private lockKey(): string {
    return `${LOCK_PREFIX}${this.rng.int(0, this.lockKeys)}`;
  }

  private lockInput(value: string): ClientInput {
    const r = this.rng.float();
    const session = this.session;
    if (session === null) return { kind: "session-create", session: this.sessionSpec() };
    if (r < 0.2) return { kind: "session-renew", id: session };
    if (r < 0.24) return { kind: "session-destroy", id: session };
    if (r < 0.45 && this.holding.size > 0) {
      const held = [...this.holding];
      return { kind: "release", key: held[this.rng.int(0, held.length)]!, value, session };
    }
    return { kind: "acquire", key: this.lockKey(), value, session };
  }

  private sessionSpec(): SessionSpec {
    const pick = <T>(xs: readonly T[]): T => xs[this.rng.int(0, xs.length)]!;
    return {
      ID: `00000000-0000-4000-8000-${String(this.id).padStart(4, "0")}${String(this.seq).padStart(8, "0")}`,
      Name: `c${this.id}`,
      Node: `client-${this.id}`,
      LockDelay: pick(LOCK_DELAYS_NS),
      Behavior: pick(BEHAVIORS),
      TTL: pick(TTLS),
      NodeChecks: [],
      ServiceChecks: null,
    };
  }

  private toCommand(input: ClientInput): KvCommand | null {
    const enc = (v: string): Uint8Array => new TextEncoder().encode(v);
    switch (input.kind) {
      case "get":
        return null;
      case "put":
        return { op: "set", key: input.key, value: enc(input.value), flags: 0n };
      case "delete":
        return { op: "delete", key: input.key };
      case "cas": {
        const seen = this.lastValues.find((v) => v.key === input.key && v.value === input.expected);
        const index = input.expected === null ? 0n : BigInt(seen!.index);
        return { op: "cas", key: input.key, value: enc(input.value), flags: 0n, index };
      }
      case "acquire":
      case "release":
        return { op: input.kind, key: input.key, value: enc(input.value), flags: 0n, session: input.session };
      case "session-create":
        return { op: "session-create", session: input.session, time: 0 };
      case "session-renew":
        return { op: "session-renew", id: input.id, time: 0 };
      case "session-destroy":
        return { op: "session-destroy", id: input.id, time: 0 };
    }
  }

  /** Starts the next operation, or retries submitting the current one on another server. */
  step(host: ClientHost, history: Operation[]): void {
    const now = host.now();
    if (this.current !== null) {
      if (now >= this.deadline) this.timeout(host, history);
      return;
    }
    const opId = this.id * 1_000_000 + ++this.seq;
    const input = this.nextInput();
    const op: PendingOp = { opId, clientId: this.id, input, command: this.toCommand(input), call: now };
    this.current = op;
    this.deadline = now + this.timeoutUs;
    this.submit(host, op);
  }

  /**
   * Clients stick to the server that last answered them, as real clients keep a connection: one talking to a
   * deposed leader keeps asking it, which is what exposes stale reads.
   */
  private submit(host: ClientHost, op: PendingOp): void {
    const live = host.liveNodes();
    let node: NodeId | undefined = this.sticky;
    if (node === undefined || !live.includes(node) || this.rng.chance(0.05)) {
      node = live[this.rng.int(0, Math.max(1, live.length))];
      this.sticky = node;
    }
    if (node === undefined || !host.submit(node, op)) {
      this.sticky = undefined;
      host.scheduleClient(this.id, this.rng.int(5_000, 30_000));
      return;
    }
    host.scheduleClient(this.id, this.timeoutUs);
  }

  private sticky: NodeId | undefined;

  /** The server refused before doing anything (not the leader): the op had no effect; try another server. */
  rejected(host: ClientHost, opId: number): void {
    if (this.current?.opId !== opId) return;
    this.sticky = undefined;
    host.scheduleClient(this.id, this.rng.int(1_000, 20_000));
    this.retry = true;
  }

  retry = false;

  /** Called by the world when this client is scheduled. */
  wake(host: ClientHost, history: Operation[]): void {
    if (this.current !== null && this.retry && host.now() < this.deadline) {
      this.retry = false;
      this.submit(host, this.current);
      return;
    }
    this.retry = false;
    this.step(host, history);
  }

  private timeout(host: ClientHost, history: Operation[]): void {
    const op = this.current!;
    this.sticky = undefined;
    this.current = null;
    // A write that timed out may yet take effect: record it as unknown. A read that timed out observed nothing.
    const unknown = unknownOperation(op);
    if (unknown !== null) history.push(unknown);
    // The client no longer knows whether its session exists or which locks it holds: it starts over.
    if (op.input.kind.startsWith("session-") || op.input.kind === "acquire" || op.input.kind === "release") {
      this.forgetSession();
    }
    host.trace(`c${this.id} op ${op.opId} ${op.input.kind} timed out`);
    host.scheduleClient(this.id, this.rng.int(1_000, 10_000));
  }

  private forgetSession(): void {
    this.session = null;
    this.holding.clear();
  }

  /** The answer arrived. `lost`: the write's entry was overwritten, so it never took effect. */
  complete(host: ClientHost, history: Operation[], opId: number, answer: Answer): void {
    const op = this.current;
    if (op === null || op.opId !== opId || answer === "rejected") return;
    this.current = null;
    this.retry = false;
    if (answer !== "lost") {
      const done = this.observe(op.input, answer);
      if (done !== null) {
        history.push({
          clientId: this.id,
          input: done.input,
          call: op.call,
          ret: host.now(),
          output: done.output,
        });
      }
    }
    host.scheduleClient(this.id, this.rng.int(0, 5_000));
  }

  /** Updates what the client knows from an answer; returns the history entry it makes, if any. */
  private observe(
    input: ClientInput,
    answer: Exclude<Answer, "lost" | "rejected">,
  ): Pick<Operation, "input" | "output"> | null {
    if (answer.kind === "read") {
      if (input.kind !== "get") return null;
      const e = answer.entry;
      if (isLockKey(input.key)) {
        const value = e === null ? null : lockValue(valueText(e)!, e.Session);
        return { input, output: { kind: "value", value } };
      }
      const value = valueText(e);
      if (e !== null && value !== null) this.remember(input.key, value, e.ModifyIndex);
      return { input, output: { kind: "value", value } };
    }
    if (answer.kind === "delayed") return null;
    const r = answer.result;
    switch (input.kind) {
      case "put":
      case "delete":
        return { input, output: { kind: "ok" } };
      case "cas":
        return { input, output: { kind: "cas", ok: r === true } };
      case "acquire":
      case "release":
        return this.observeLock(input, r);
      case "session-create":
        if (r === true) this.session = input.session.ID;
        return null;
      case "session-renew":
        if (r === null) this.forgetSession();
        return null;
      case "session-destroy":
        this.forgetSession();
        return null;
      case "get":
        return null;
    }
  }

  /**
   * An acquire or release the store answered true or false: a conditional write on the key, checked by the
   * per-key model. An invalid session changes nothing on the key (the model does not see sessions): left out.
   */
  private observeLock(
    input: Extract<ClientInput, { kind: "acquire" | "release" }>,
    r: CommandResult,
  ): Pick<Operation, "input" | "output"> | null {
    if (r instanceof InvalidSessionError) this.forgetSession();
    if (typeof r !== "boolean") return null;
    if (input.kind === "acquire" && r) this.holding.add(input.key);
    if (input.kind === "release") this.holding.delete(input.key);
    return { input: lockInput(input), output: { kind: "cas", ok: r } };
  }

  private remember(key: string, value: string, index: number): void {
    this.lastValues.push({ key, value, index });
    if (this.lastValues.length > 8) this.lastValues.shift();
  }
}

/** The history entry of an op whose outcome is unknown (a write that may yet apply), or null if it has none. */
export function unknownOperation(op: PendingOp): Operation | null {
  const input = op.input;
  const at = { clientId: op.clientId, call: op.call, ret: Number.POSITIVE_INFINITY, output: null };
  switch (input.kind) {
    case "put":
    case "delete":
    case "cas":
      return { ...at, input };
    case "acquire":
    case "release":
      return { ...at, input: lockInput(input) };
    default:
      return null;
  }
}

/** The history input of a lock op: the value it writes is `data|holder` after it (see lockValue). */
function lockInput(input: Extract<ClientInput, { kind: "acquire" | "release" }>): KvInput {
  const holder = input.kind === "acquire" ? input.session : "";
  return { ...input, value: lockValue(input.value, holder) };
}
