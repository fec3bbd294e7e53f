import type { NodeId } from "../raft/types.js";
import type { Rng } from "../util/rng.js";
import { encodeCommand, type KvCommand, type KvResult } from "./kv.js";
import type { KvInput, KvOutput, Operation } from "./linearizability.js";

/** What a client needs from the world: a server to talk to and a way to reach it. */
export interface ClientHost {
  now(): number;
  /** Delivers the request to `node` after a network delay; false when the node is down. */
  submit(node: NodeId, op: PendingOp): boolean;
  liveNodes(): NodeId[];
  scheduleClient(clientId: number, delayUs: number): void;
  trace(line: string): void;
}

export interface PendingOp {
  readonly opId: number;
  readonly clientId: number;
  readonly input: KvInput;
  /** The encoded command for writes; null for reads. */
  readonly command: Uint8Array | null;
  readonly call: number;
}

/**
 * A client issuing one operation at a time (put / get / cas / delete on a few keys) and recording each in the
 * history: call and return times, and the output, or null with return at +∞ when the outcome is unknown.
 */
export class Client {
  readonly id: number;
  private readonly rng: Rng;
  private readonly keys: number;
  private readonly timeoutUs: number;
  private seq = 0;
  current: PendingOp | null = null;
  private deadline = 0;
  private lastValues: string[] = [];

  constructor(id: number, rng: Rng, keys: number, timeoutUs: number) {
    this.id = id;
    this.rng = rng;
    this.keys = keys;
    this.timeoutUs = timeoutUs;
  }

  private nextInput(): KvInput {
    const key = `k${this.rng.int(0, this.keys)}`;
    const value = `c${this.id}-${this.seq}`;
    const r = this.rng.float();
    if (r < 0.35) return { kind: "get", key };
    if (r < 0.65) return { kind: "put", key, value };
    if (r < 0.75) return { kind: "delete", key };
    const expected =
      this.lastValues.length > 0 && this.rng.chance(0.7)
        ? this.lastValues[this.rng.int(0, this.lastValues.length)]!
        : null;
    return { kind: "cas", key, expected, value };
  }

  private toCommand(opId: number, input: KvInput): Uint8Array | null {
    let cmd: KvCommand;
    switch (input.kind) {
      case "get":
        return null;
      case "put":
        cmd = { op: "put", id: opId, key: input.key, value: input.value };
        break;
      case "delete":
        cmd = { op: "delete", id: opId, key: input.key };
        break;
      case "cas":
        cmd = { op: "cas", id: opId, key: input.key, expected: input.expected, value: input.value };
        break;
    }
    return encodeCommand(cmd);
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
    const op: PendingOp = { opId, clientId: this.id, input, command: this.toCommand(opId, input), call: now };
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
    if (op.input.kind !== "get") {
      history.push({
        clientId: this.id,
        input: op.input,
        call: op.call,
        ret: Number.POSITIVE_INFINITY,
        output: null,
      });
    }
    host.trace(`c${this.id} op ${op.opId} ${op.input.kind} ${op.input.key} timed out`);
    host.scheduleClient(this.id, this.rng.int(1_000, 10_000));
  }

  /** The answer arrived. `lost`: the write's entry was overwritten, so it never took effect. */
  complete(host: ClientHost, history: Operation[], opId: number, output: KvOutput | "lost"): void {
    const op = this.current;
    if (op === null || op.opId !== opId) return;
    this.current = null;
    this.retry = false;
    if (output !== "lost") {
      history.push({ clientId: this.id, input: op.input, call: op.call, ret: host.now(), output });
      if (output.kind === "value" && output.value !== null) this.remember(output.value);
      if (op.input.kind === "put" || op.input.kind === "cas") this.remember(op.input.value);
    }
    host.scheduleClient(this.id, this.rng.int(0, 5_000));
  }

  private remember(v: string): void {
    this.lastValues.push(v);
    if (this.lastValues.length > 8) this.lastValues.shift();
  }
}

export function toOutput(result: KvResult): KvOutput {
  return result.kind === "cas" ? { kind: "cas", ok: result.ok } : { kind: "ok" };
}
