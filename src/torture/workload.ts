/**
 * The torture's clients: concurrent workers doing KV puts, cas, and reads in Consul's three consistency modes
 * against any server, recording each operation as the linearizability checker takes it (sim/linearizability.ts).
 *
 * Outcomes, as a real client must read them:
 * - a write answered `true` is acknowledged; `false` (a cas that lost) is a definite failure;
 * - a write refused before it was sent (connection refused: the server is down) never happened and is not recorded;
 * - any other failure (timeout, reset, 5xx) is indeterminate: it may have applied, or may still apply, or never.
 * Every written value is unique, so a cas on a ModifyIndex read together with a value is a cas on that value.
 * Keys rotate every `keyEpochMs` so each key's history stays short enough to check exhaustively.
 */
import type { KvInput, KvOutput, Operation } from "../sim/linearizability.js";
import type { Rng } from "../util/rng.js";
import { LOCK_PREFIX, lockWorker } from "./locks.js";
import { TtlLockLog, ttlLockWorker } from "./ttl-locks.js";

export type ReadMode = "default" | "consistent" | "stale";

/** A read that is not checked for linearizability (stale reads): checked for having been written. */
export interface LooseRead {
  readonly mode: ReadMode;
  readonly key: string;
  readonly value: string | null;
  readonly ret: number;
}

export interface WorkloadStats {
  readonly counts: Record<string, number>;
}

export interface WorkloadOptions {
  readonly workers: number;
  /** Clients taking locks (locks.ts), besides the KV workers. */
  readonly lockWorkers: number;
  /** Clients taking locks with TTL sessions (ttl-locks.ts). */
  readonly ttlLockWorkers: number;
  readonly keysPerEpoch: number;
  readonly keyEpochMs: number;
  readonly requestTimeoutMs: number;
  /** The servers' HTTP base URLs; a worker picks one at random per operation. */
  readonly endpoints: readonly string[];
  readonly rng: Rng;
  readonly now: () => number;
  /**
   * The deliberate mistake `--bug stale-reads-as-consistent`: ?stale reads join the linearizability history, as
   * if they were consistent. Under partitions they are not, and the checker must say so: it shows the check
   * bites on real processes' histories.
   */
  readonly staleAsConsistent: boolean;
  /** How a KV worker picks its next operation, as weights; DEFAULT_MIX unless a deliberate bug needs others. */
  readonly mix?: OperationMix;
}

export interface OperationMix {
  readonly put: number;
  readonly cas: number;
  readonly consistent: number;
  readonly stale: number;
  readonly default: number;
}

export const DEFAULT_MIX: OperationMix = { put: 0.35, cas: 0.2, consistent: 0.3, stale: 0.08, default: 0.07 };

export class Workload {
  readonly history: Operation[] = [];
  readonly looseReads: LooseRead[] = [];
  /** Every value ever sent in a write, with the time its write was invoked. */
  readonly written = new Map<string, number>();
  readonly counts: Record<string, number> = {};
  readonly ttlLocks = new TtlLockLog();
  /** How each KV operation was made (its mode and the server it was sent to), for a failure's report. */
  readonly how = new WeakMap<Operation, string>();
  private stopping = false;
  private seq = 0;
  private readonly start: number;

  constructor(private readonly o: WorkloadOptions) {
    this.start = o.now();
  }

  /** Runs the workers until `stop()`; resolves when every worker's last operation has ended. */
  async run(): Promise<void> {
    // One lock key per epoch: every lock client contends for it.
    const lockOptions = { ...this.o, keysPerEpoch: 1, stopping: () => this.stopping };
    await Promise.all([
      ...Array.from({ length: this.o.workers }, (_, w) => this.worker(w, this.o.rng.fork())),
      ...Array.from({ length: this.o.lockWorkers }, (_, i) =>
        lockWorker(this, this.o.workers + i, this.o.endpoints, this.o.rng.fork(), lockOptions),
      ),
      ...Array.from({ length: this.o.ttlLockWorkers }, (_, i) =>
        ttlLockWorker(this.ttlLocks, i, this.o.endpoints, this.o.rng.fork(), lockOptions),
      ),
    ]);
  }

  stop(): void {
    this.stopping = true;
  }

  /** Every key any operation touched, but the lock keys (never read: see locks.ts). */
  keys(): string[] {
    return [...new Set(this.history.map((op) => op.input.key))]
      .filter((k) => !k.startsWith(LOCK_PREFIX))
      .sort();
  }

  count(what: string): void {
    this.counts[what] = (this.counts[what] ?? 0) + 1;
  }

  private async worker(id: number, rng: Rng): Promise<void> {
    while (!this.stopping) {
      const epoch = Math.floor((this.o.now() - this.start) / this.o.keyEpochMs);
      const key = `torture/e${epoch}/k${rng.int(0, this.o.keysPerEpoch)}`;
      const endpoint = this.o.endpoints[rng.int(0, this.o.endpoints.length)]!;
      const kind = pickOperation(this.o.mix ?? DEFAULT_MIX, rng.float());
      if (kind === "put") await this.put(id, endpoint, key);
      else if (kind === "cas") await this.cas(id, endpoint, key);
      else await this.read(id, endpoint, key, kind);
    }
  }

  /** Records `op` in the history, noting how it was made. */
  private record(op: Operation, how: string, endpoint: string): void {
    this.history.push(op);
    const server = this.o.endpoints.indexOf(endpoint);
    this.how.set(op, `${how} via s${server}`);
  }

  private value(id: number): string {
    return `w${id}-${this.seq++}`;
  }

  private async put(id: number, endpoint: string, key: string): Promise<void> {
    const value = this.value(id);
    await this.write(id, endpoint, { kind: "put", key, value }, `/v1/kv/${key}`, value);
  }

  /** A consistent read of the key's value and ModifyIndex, then a cas on that index to a new value. */
  private async cas(id: number, endpoint: string, key: string): Promise<void> {
    const seen = await this.read(id, endpoint, key, "consistent");
    if (seen === undefined) return;
    const value = this.value(id);
    const input: KvInput = { kind: "cas", key, expected: seen.value, value };
    await this.write(id, endpoint, input, `/v1/kv/${key}?cas=${seen.index}`, value);
  }

  private async write(
    id: number,
    endpoint: string,
    input: KvInput,
    path: string,
    value: string,
  ): Promise<void> {
    const call = this.o.now();
    this.written.set(value, call);
    const r = await request(endpoint + path, { method: "PUT", body: value }, this.o.requestTimeoutMs);
    if (r.kind === "refused") {
      this.count(`${input.kind} refused`);
      return;
    }
    if (r.kind === "ok" && r.status === 200 && (r.body === "true" || r.body === "false")) {
      const ok = r.body === "true";
      const output: KvOutput = input.kind === "cas" ? { kind: "cas", ok } : { kind: "ok" };
      if (input.kind !== "cas" && !ok) throw new Error(`a put answered false: ${path}`);
      this.record({ clientId: id, input, call, ret: this.o.now(), output }, input.kind, endpoint);
      this.count(`${input.kind} ${ok ? "ok" : "failed"}`);
      return;
    }
    this.record({ clientId: id, input, call, ret: Infinity, output: null }, input.kind, endpoint);
    this.count(`${input.kind} indeterminate`);
  }

  /**
   * One read; consistent and default reads join the history (a default read may use the leader's lease, which
   * cairn keeps safe with check-quorum and ticks that follow the monotonic clock: docs/raft-notes.md 1.7), stale
   * reads are checked loosely. Undefined when it failed.
   */
  async read(
    id: number,
    endpoint: string,
    key: string,
    mode: ReadMode,
  ): Promise<{ value: string | null; index: number } | undefined> {
    const call = this.o.now();
    const q = mode === "default" ? "" : `?${mode}`;
    const r = await request(`${endpoint}/v1/kv/${key}${q}`, { method: "GET" }, this.o.requestTimeoutMs);
    const ret = this.o.now();
    let seen: { value: string | null; index: number };
    if (r.kind === "ok" && r.status === 404) seen = { value: null, index: 0 };
    else if (r.kind === "ok" && r.status === 200) seen = decodeKvEntry(r.body);
    else {
      this.count(`get ${mode} failed`);
      return undefined;
    }
    this.count(`get ${mode} ok`);
    if (mode !== "stale" || this.o.staleAsConsistent) {
      const op: Operation = {
        clientId: id,
        input: { kind: "get", key },
        call,
        ret,
        output: { kind: "value", value: seen.value },
      };
      this.record(op, `${mode} get`, endpoint);
    } else this.looseReads.push({ mode, key, value: seen.value, ret });
    return seen;
  }
}

/** The operation the mix's weights give the uniform draw `u` in [0, 1). */
function pickOperation(m: OperationMix, u: number): keyof OperationMix {
  const kinds = ["put", "cas", "consistent", "stale", "default"] as const;
  let roll = u * kinds.reduce((sum, k) => sum + m[k], 0);
  for (const k of kinds) {
    roll -= m[k];
    if (roll < 0) return k;
  }
  return "default";
}

function decodeKvEntry(body: string): { value: string | null; index: number } {
  const entries = JSON.parse(body) as { Value: string | null; ModifyIndex: number }[];
  const e = entries[0];
  if (e === undefined) throw new Error(`a KV read answered 200 with no entry: ${body}`);
  return {
    value: e.Value === null ? "" : Buffer.from(e.Value, "base64").toString("utf8"),
    index: e.ModifyIndex,
  };
}

type Answer =
  | { readonly kind: "ok"; readonly status: number; readonly body: string }
  | { readonly kind: "refused" }
  | { readonly kind: "lost"; readonly why: string };

/** One HTTP request, bounded in time; a refused connection is told apart from every other failure. */
export async function request(url: string, init: RequestInit, timeoutMs: number): Promise<Answer> {
  try {
    const r = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    return { kind: "ok", status: r.status, body: await r.text() };
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause;
    if (cause?.code === "ECONNREFUSED") return { kind: "refused" };
    return { kind: "lost", why: String(cause?.code ?? e) };
  }
}
