import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { connect, type Socket } from "node:net";
import { describe, it } from "node:test";
import type { NodeId } from "../raft/types.js";
import { SeededRng } from "../util/rng.js";
import { encodeMessage } from "./codec.js";
import { appMessage, collect, patternBytes, receive, seqOf, snapMessage, unevenChunks } from "./contract.js";
import { SnapshotTransferError, UnreachableError } from "./errors.js";
import { encodeFrame, type Frame, FrameDecoder, FrameType } from "./frame.js";
import { encodeHello, HANDSHAKE_PROTO } from "./handshake.js";
import { TcpTransport, type TcpTransportOptions } from "./tcp-transport.js";
import { identity, quietLog, waitFor } from "./test-util.js";

const T = { timeout: 30_000 };

interface Node {
  t: TcpTransport;
  port: number;
  logs: string[];
}

async function node(raftId: number, opts: Partial<TcpTransportOptions> = {}, port = 0): Promise<Node> {
  const logs: string[] = [];
  const t = new TcpTransport({
    identity: identity(raftId),
    rng: new SeededRng(raftId),
    log: quietLog(logs),
    ...opts,
  });
  const bound = await t.listen("127.0.0.1", port);
  return { t, port: bound.port, logs };
}

async function closeAll(...nodes: (Node | null)[]): Promise<void> {
  await Promise.all(nodes.map((n) => n?.t.close()));
}

/** A raw client speaking the wire protocol by hand, to send what a TcpTransport never would. */
class RawPeer {
  readonly frames: Frame[] = [];
  private readonly decoder = new FrameDecoder();
  closed = false;
  private constructor(readonly socket: Socket) {
    socket.on("data", (c: Buffer) => this.frames.push(...this.decoder.push(c)));
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closed = true;
    });
  }
  static async open(port: number, purpose: "raft" | "snapshot", from = 1, to = 2): Promise<RawPeer> {
    const socket = connect({ host: "127.0.0.1", port });
    await new Promise((r) => socket.once("connect", r));
    const raw = new RawPeer(socket);
    const hello = { proto: HANDSHAKE_PROTO, ...identity(from), purpose, expectRaftId: to } as const;
    socket.write(encodeFrame(FrameType.hello, encodeHello(hello)));
    await waitFor(() => raw.frames.length > 0, "helloOk");
    assert.equal(raw.frames.shift()?.type, FrameType.helloOk);
    return raw;
  }
  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }
}

describe("TcpTransport: listening and handshakes", () => {
  it("listens on port 0 and reports the bound address", T, async () => {
    const a = await node(1);
    try {
      assert.ok(a.port > 0);
      assert.equal(a.t.address, `127.0.0.1:${a.port}`);
    } finally {
      await closeAll(a);
    }
  });

  it("refuses a peer from another datacenter, with a clear error on both sides", T, async () => {
    const a = await node(1);
    const b = await node(2, { identity: identity(2, "dc2") });
    try {
      const unreachable: NodeId[] = [];
      a.t.onUnreachable((p) => unreachable.push(p));
      let delivered = 0;
      b.t.onMessage(() => delivered++);
      a.t.setPeer(2, `127.0.0.1:${b.port}`);
      a.t.send(2, appMessage(1, 2, 0));
      await waitFor(() => unreachable.length > 0, "unreachable report");
      const why = 'datacenter "dc1" of node "server-1" does not match local datacenter "dc2"';
      assert.ok(
        a.logs.some((l) => l.startsWith("error:") && l.includes(why)),
        a.logs.join("\n"),
      );
      assert.ok(
        b.logs.some((l) => l.includes(`refusing handshake: ${why}`)),
        b.logs.join("\n"),
      );
      assert.equal(delivered, 0);
      await assert.rejects(a.t.request(2, "x", new Uint8Array(0), 1000), UnreachableError);
    } finally {
      await closeAll(a, b);
    }
  });

  it("refuses a raft id mismatch: the address book names the wrong server", T, async () => {
    const a = await node(1);
    const c = await node(3);
    try {
      a.t.setPeer(2, `127.0.0.1:${c.port}`); // node 3 listens there, not node 2
      await assert.rejects(a.t.request(2, "x", new Uint8Array(0), 2000), /dialed raft id 2.*is raft id 3/);
      assert.ok(c.logs.some((l) => l.includes("dialed raft id 2")));
    } finally {
      await closeAll(a, c);
    }
  });
});

describe("TcpTransport: reconnects and bounds", () => {
  it("reconnects after the receiver closes and listens again on the same port", T, async () => {
    const a = await node(1, { backoffMsMin: 10, backoffMsMax: 100 });
    let b: Node | null = await node(2);
    try {
      const port = b.port;
      a.t.setPeer(2, `127.0.0.1:${port}`);
      const first = receive(b.t, 10);
      for (let i = 0; i < 10; i++) a.t.send(2, appMessage(1, 2, i));
      assert.equal((await first).length, 10);
      const unreachable: NodeId[] = [];
      a.t.onUnreachable((p) => unreachable.push(p));
      await b.t.close();
      b = null;
      await waitFor(() => unreachable.length > 0, "the loss to be reported");
      b = await node(2, {}, port);
      const nb = b;
      const seqs: number[] = [];
      nb.t.onMessage((m) => seqs.push(seqOf(m)));
      // Keep sending, as raft would with heartbeats, until messages flow again.
      for (let i = 100; seqs.length === 0; i++) {
        a.t.send(2, appMessage(1, 2, i));
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.deepEqual(
        seqs,
        [...seqs].sort((x, y) => x - y),
        "still in order",
      );
      assert.ok(a.logs.some((l) => l.includes("reconnected to node 2")));
    } finally {
      await closeAll(a, b);
    }
  });

  it("keeps the queue within its bounds while the peer is down, dropping and reporting", T, async () => {
    const dead = await node(2);
    const deadPort = dead.port;
    await dead.t.close(); // nothing listens there now
    const queueMsgsMax = 100;
    const queueBytesMax = 20_000;
    const a = await node(1, { queueMsgsMax, queueBytesMax, backoffMsMin: 5, backoffMsMax: 20 });
    try {
      let reports = 0;
      a.t.onUnreachable(() => reports++);
      a.t.setPeer(2, `127.0.0.1:${deadPort}`);
      for (let i = 0; i < 5000; i++) {
        a.t.send(2, appMessage(1, 2, i, 100 + (i % 400)));
        const s = a.t.queueStats(2)!;
        assert.ok(s.msgs <= queueMsgsMax && s.bytes <= queueBytesMax, JSON.stringify(s));
        if (i % 500 === 0) await new Promise((r) => setTimeout(r, 5)); // let dials fail meanwhile
      }
      const s = a.t.queueStats(2)!;
      assert.ok(s.dropped > 4000, `dropped ${s.dropped}`);
      await new Promise((r) => setImmediate(r));
      assert.ok(reports > 0);
    } finally {
      await closeAll(a);
    }
  });
});

describe("TcpTransport: hostile input and snapshot streams", () => {
  it("closes a connection that announces a frame over frameBytesMax, and logs why", T, async () => {
    const b = await node(2, { frameBytesMax: 1024 * 1024 });
    let raw: RawPeer | null = null;
    try {
      raw = await RawPeer.open(b.port, "raft");
      const r = raw;
      const header = Uint8Array.of(0x7f, 0xff, 0xff, 0xff, FrameType.message);
      r.write(header);
      await waitFor(() => r.closed, "the connection to close");
      assert.ok(
        b.logs.some((l) => l.includes("exceeds frameBytesMax 1048576")),
        b.logs.join("\n"),
      );
    } finally {
      raw?.socket.destroy();
      await closeAll(b);
    }
  });

  it(
    "partial-frame-budget: peers holding half-sent frames share one bound; the one past it is closed",
    T,
    async () => {
      const kib = 1024;
      const b = await node(2, {
        frameBytesMax: 64 * kib,
        snapshotChunkBytesMax: 16 * kib,
        inboundPartialBytesMax: 160 * kib,
      });
      const a = await node(1);
      const raws: RawPeer[] = [];
      try {
        // Each announces a 60 KiB message and sends 50 KiB of it: 3 hold 150 KiB, the 4th would hold 200.
        const halfFrame = () => [Uint8Array.of(0, 0, 60 * 4, 0, FrameType.message), new Uint8Array(50 * kib)];
        for (let i = 0; i < 4; i++) {
          const r = await RawPeer.open(b.port, "raft", 10 + i);
          raws.push(r);
          for (const chunk of halfFrame()) r.write(chunk);
        }
        const fourth = raws[3];
        assert.ok(fourth !== undefined);
        await waitFor(() => fourth.closed, "the peer past the budget to be closed");
        assert.ok(
          b.logs.some((l) => l.includes("partial frames of all connections past 163840 bytes")),
          b.logs.join("\n"),
        );
        assert.deepEqual(
          raws.slice(0, 3).map((r) => r.closed),
          [false, false, false],
          "the peers within the budget keep their connections",
        );
        // A closed connection gives its bytes back: a new peer fits again, and real traffic still flows.
        raws[0]?.socket.destroy();
        await waitFor(() => raws[0]?.closed === true, "the first peer to close");
        const again = await RawPeer.open(b.port, "raft", 20);
        raws.push(again);
        for (const chunk of halfFrame()) again.write(chunk);
        a.t.setPeer(2, `127.0.0.1:${b.port}`);
        const got = receive(b.t, 1);
        a.t.send(2, appMessage(1, 2, 1));
        assert.equal((await got)[0]?.from, 1, "a message from a real peer arrives");
        assert.equal(again.closed, false, "the new peer fits in the bytes the closed one gave back");
      } finally {
        for (const r of raws) r.socket.destroy();
        await closeAll(a, b);
      }
    },
  );

  it("streams a 20 MiB snapshot with its hash verified", T, async () => {
    const a = await node(1);
    const b = await node(2);
    try {
      a.t.setPeer(2, `127.0.0.1:${b.port}`);
      const data = patternBytes(20 * 1024 * 1024, 3);
      let got: Uint8Array | null = null;
      b.t.onSnapshot(async (_from, _m, chunks) => {
        got = await collect(chunks);
      });
      // Other traffic to the same peer flows while the stream runs.
      b.t.onRequest("ping", async () => Uint8Array.of(1));
      const stream = a.t.sendSnapshot(2, snapMessage(1, 2), unevenChunks(data));
      assert.deepEqual([...(await a.t.request(2, "ping", new Uint8Array(0), 5000))], [1]);
      await stream;
      assert.ok(got !== null && Buffer.from(got).equals(data));
    } finally {
      await closeAll(a, b);
    }
  });

  it("fails a corrupted snapshot stream at the receiver and tells the sender", T, async () => {
    const b = await node(2);
    let raw: RawPeer | null = null;
    try {
      let handlerError: unknown = null;
      let wrote = 0;
      b.t.onSnapshot(async (_from, _m, chunks) => {
        try {
          for await (const c of chunks) wrote += c.length;
        } catch (err) {
          handlerError = err;
          throw err;
        }
      });
      raw = await RawPeer.open(b.port, "snapshot");
      const data = patternBytes(100_000, 5);
      const digest = createHash("sha256").update(data).digest();
      data[500]! ^= 1; // flipped in flight
      raw.write(encodeFrame(FrameType.snapBegin, encodeMessage(snapMessage(1, 2))));
      raw.write(encodeFrame(FrameType.snapChunk, data));
      raw.write(encodeFrame(FrameType.snapEnd, Uint8Array.of(...varint(data.length), ...digest)));
      const r = raw;
      await waitFor(() => r.frames.length > 0, "the snapshot result");
      const result = r.frames[0]!;
      assert.equal(result.type, FrameType.snapResult);
      assert.equal(result.payload[0], 1, "failed");
      assert.match(new TextDecoder().decode(result.payload.subarray(1)), /fails its SHA-256 check/);
      assert.ok(handlerError instanceof SnapshotTransferError);
      assert.equal(wrote, data.length, "the handler saw the data, then the failure instead of the end");
    } finally {
      raw?.socket.destroy();
      await closeAll(b);
    }
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
