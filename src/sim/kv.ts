import { assert } from "../util/assert.js";
import { fnv1a } from "../util/hash.js";

/**
 * The simulator's small key-value state machine (the real src/fsm replaces it once it exists). Deterministic:
 * apply depends only on the command and the current state; snapshots serialize keys in sorted order, so two
 * replicas at the same index produce byte-identical snapshots.
 */
export type KvCommand =
  | { readonly op: "put"; readonly id: number; readonly key: string; readonly value: string }
  | { readonly op: "delete"; readonly id: number; readonly key: string }
  | {
      readonly op: "cas";
      readonly id: number;
      readonly key: string;
      readonly expected: string | null;
      readonly value: string;
    };

export type KvResult = { readonly kind: "ok" } | { readonly kind: "cas"; readonly ok: boolean };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(cmd: KvCommand): Uint8Array {
  return encoder.encode(JSON.stringify(cmd));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  return JSON.parse(decoder.decode(data)) as KvCommand;
}

export class KvMachine {
  private readonly data = new Map<string, string>();
  /** The index of the last entry applied. */
  applied = 0;

  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  apply(index: number, cmd: KvCommand): KvResult {
    assert(index > this.applied, `apply index ${index} must pass applied ${this.applied}`);
    this.applied = index;
    switch (cmd.op) {
      case "put":
        this.data.set(cmd.key, cmd.value);
        return { kind: "ok" };
      case "delete":
        this.data.delete(cmd.key);
        return { kind: "ok" };
      case "cas": {
        const ok = (this.data.get(cmd.key) ?? null) === cmd.expected;
        if (ok) this.data.set(cmd.key, cmd.value);
        return { kind: "cas", ok };
      }
    }
  }

  /** Marks a no-op or conf entry applied. */
  skip(index: number): void {
    assert(index > this.applied, `skip index ${index} must pass applied ${this.applied}`);
    this.applied = index;
  }

  snapshot(): string {
    const keys = [...this.data.keys()].sort();
    return JSON.stringify(keys.map((k) => [k, this.data.get(k)]));
  }

  /** Replaces the whole state (snapshot install or user restore). */
  restore(snapshot: string, applied: number): void {
    const pairs = JSON.parse(snapshot) as [string, string][];
    this.data.clear();
    for (const [k, v] of pairs) this.data.set(k, v);
    this.applied = applied;
  }

  hash(): number {
    return fnv1a(this.snapshot());
  }

  entries(): [string, string][] {
    return [...this.data.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
}
