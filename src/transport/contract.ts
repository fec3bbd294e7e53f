/**
 * The Transport contract suite, run against every implementation (hono's common.case.test.ts idea): TcpTransport
 * and MemoryTransport must be indistinguishable through the interface. Not exported from index.ts, since it
 * imports node:test.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Message, NodeId } from "../raft/types.js";
import {
  RemoteError,
  RequestTimeoutError,
  SnapshotTransferError,
  TransportClosedError,
  UnreachableError,
} from "./errors.js";
import type { Transport } from "./transport.js";

/** `n` connected transports with raft ids 1..n (index i holds id i+1); no transport knows node 99. */
export interface TransportCluster {
  readonly transports: readonly Transport[];
  readonly close: () => Promise<void>;
}
export type TransportClusterFactory = (n: number) => Promise<TransportCluster>;

export const UNKNOWN_NODE: NodeId = 99;
const TEST_TIMEOUT_MS = 30_000;

/** An append from `from` to `to` whose entry data names its sequence number `seq`. */
export function appMessage(from: NodeId, to: NodeId, seq: number, dataBytes = 8): Message {
  const data = new Uint8Array(Math.max(dataBytes, 4));
  new DataView(data.buffer).setUint32(0, seq);
  return {
    type: "app",
    from,
    to,
    term: 1,
    index: seq,
    logTerm: 1,
    entries: [{ term: 1, index: seq + 1, kind: "normal", data }],
    commit: seq,
    reject: false,
    rejectHint: 0,
    hintTerm: 0,
    snapshot: null,
    context: 0,
    transfer: false,
  };
}

export function snapMessage(from: NodeId, to: NodeId): Message {
  return {
    ...appMessage(from, to, 0),
    type: "snap",
    entries: [],
    snapshot: { index: 100, term: 3, conf: { voters: [1, 2, 3], learners: [4] }, handle: "snap-100" },
  };
}

/** Pseudo-random bytes, cheap and reproducible: a 20 MiB snapshot must not cost seconds to make. */
export function patternBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** `data` in uneven chunks, so chunk boundaries never line up with the transport's. */
export async function* unevenChunks(data: Uint8Array): AsyncGenerator<Uint8Array> {
  const sizes = [1, 7000, 300_000, 1_500_000, 64 * 1024];
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield data.subarray(at, at + n);
    at += n;
  }
}

export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c);
  return Buffer.concat(parts);
}

export function seqOf(m: Message): number {
  const data = m.entries[0]?.data;
  assert.ok(data);
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
}

async function withCluster(
  make: TransportClusterFactory,
  n: number,
  body: (t: readonly Transport[]) => Promise<void>,
) {
  const c = await make(n);
  try {
    await body(c.transports);
  } finally {
    await c.close();
  }
}

/** Resolves once `count` messages have arrived at `t` (all senders), with them in arrival order. */
export function receive(t: Transport, count: number): Promise<Message[]> {
  const got: Message[] = [];
  return new Promise((resolve) => {
    t.onMessage((m) => {
      got.push(m);
      if (got.length === count) resolve(got);
    });
  });
}

export function runTransportContract(name: string, make: TransportClusterFactory): void {
  describe(`Transport contract: ${name}`, { timeout: TEST_TIMEOUT_MS }, () => {
    messageCases(make);
    requestCases(make);
    snapshotCases(make);
  });
}

function messageCases(make: TransportClusterFactory): void {
  it("delivers thousands of messages in order per sender, intact", () =>
    withCluster(make, 3, async ([a, b, c]) => {
      const perSender = 3000;
      const arrived = receive(c!, 2 * perSender);
      for (let i = 0; i < perSender; i++) {
        a!.send(3, appMessage(1, 3, i, 64));
        b!.send(3, appMessage(2, 3, i, 64));
      }
      const got = await arrived;
      for (const from of [1, 2]) {
        const seqs = got.filter((m) => m.from === from).map(seqOf);
        assert.deepEqual(
          seqs,
          Array.from({ length: perSender }, (_, i) => i),
          `order from ${from}`,
        );
      }
      assert.deepStrictEqual(
        got.find((m) => m.from === 1 && seqOf(m) === 7),
        appMessage(1, 3, 7, 64),
      );
    }));

  it("reports an unknown peer unreachable, never synchronously inside send", () =>
    withCluster(make, 2, async ([a]) => {
      const reported: NodeId[] = [];
      a!.onUnreachable((p) => reported.push(p));
      a!.send(UNKNOWN_NODE, appMessage(1, UNKNOWN_NODE, 0));
      assert.deepEqual(reported, []);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(reported, [UNKNOWN_NODE]);
      await assert.rejects(a!.request(UNKNOWN_NODE, "echo", new Uint8Array(1), 1000), UnreachableError);
    }));
}

function requestCases(make: TransportClusterFactory): void {
  it("answers requests, and passes a remote failure back with its message", () =>
    withCluster(make, 2, async ([a, b]) => {
      b!.onRequest("echo", async (from, body) => Uint8Array.of(from, ...body));
      b!.onRequest("fail", async () => {
        throw new Error("no such key");
      });
      const replies = await Promise.all(
        Array.from({ length: 100 }, (_, i) => a!.request(2, "echo", Uint8Array.of(i), 5000)),
      );
      for (const [i, r] of replies.entries()) assert.deepEqual([...r], [1, i]);
      const failed = await a!.request(2, "fail", new Uint8Array(0), 5000).catch((e: unknown) => e);
      assert.ok(failed instanceof RemoteError);
      assert.equal(failed.remoteMessage, "no such key");
      await assert.rejects(a!.request(2, "nope", new Uint8Array(0), 5000), /no handler for method "nope"/);
    }));

  it("gives a lent answer back once, after the caller has its bytes, and the caller's copy stays intact", () =>
    withCluster(make, 2, async ([a, b]) => {
      const lent = new Map<number, Uint8Array>();
      const released: Uint8Array[] = [];
      b!.onRequest(
        "lend",
        async (_from, body) => {
          // Large answers too: they leave as a header and the body itself, not one joined copy.
          const answer = patternBytes(body[0] === 0 ? 16 : 1024 * 1024, body[0] ?? 0);
          lent.set(body[0] ?? 0, answer);
          return answer;
        },
        (answer) => released.push(answer),
      );
      const got = await Promise.all([0, 1, 2].map((i) => a!.request(2, "lend", Uint8Array.of(i), 5000)));
      for (let i = 0; i < 200 && released.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(released.length, 3, "each answer is released");
      for (const [i, answer] of lent) {
        assert.equal(released.filter((r) => r === answer).length, 1, `answer ${i} released once, itself`);
        const expected = answer.slice();
        answer.fill(0xee); // the lender reuses its buffer: what the caller received must not change
        assert.ok(Buffer.from(got[i]!).equals(expected), `answer ${i} intact at the caller`);
      }
    }));

  it("times out a request that gets no answer, and rejects pending requests on close", () =>
    withCluster(make, 2, async ([a, b]) => {
      b!.onRequest("hang", () => new Promise<Uint8Array>(() => {}));
      const started = Date.now();
      await assert.rejects(a!.request(2, "hang", new Uint8Array(0), 100), RequestTimeoutError);
      assert.ok(Date.now() - started < 2000);
      const pending = assert.rejects(a!.request(2, "hang", new Uint8Array(0), 10_000), TransportClosedError);
      await new Promise((r) => setTimeout(r, 50));
      await a!.close();
      await pending;
    }));
}

function snapshotCases(make: TransportClusterFactory): void {
  it("streams a snapshot beside its snap message, and the sender learns success", () =>
    withCluster(make, 2, async ([a, b]) => {
      const data = patternBytes(3 * 1024 * 1024 + 17, 7);
      let received: { from: NodeId; m: Message; data: Uint8Array } | null = null;
      b!.onSnapshot(async (from, m, chunks) => {
        received = { from, m, data: await collect(chunks) };
      });
      await a!.sendSnapshot(2, snapMessage(1, 2), unevenChunks(data));
      assert.ok(received);
      const r = received as { from: NodeId; m: Message; data: Uint8Array };
      assert.equal(r.from, 1);
      assert.deepStrictEqual(r.m, snapMessage(1, 2));
      assert.ok(Buffer.from(r.data).equals(data));
    }));

  it("tells the sender when the receiver's handler fails", () =>
    withCluster(make, 2, async ([a, b]) => {
      b!.onSnapshot(async (_from, _m, chunks) => {
        for await (const _ of chunks) throw new Error("disk full");
      });
      await assert.rejects(
        a!.sendSnapshot(2, snapMessage(1, 2), unevenChunks(patternBytes(100_000, 1))),
        (err: unknown) => err instanceof SnapshotTransferError && /disk full/.test(err.message),
      );
      // The transport still works afterwards.
      b!.onRequest("ping", async () => new Uint8Array(0));
      await a!.request(2, "ping", new Uint8Array(0), 5000);
    }));
}
