/**
 * A hostile peer on the server RPC port (issue 17, item 5), against a real 3-server datacenter: garbage, huge
 * declared lengths, wrong and partial handshakes, a slowloris trickle, garbage after a good handshake, hostile
 * requests and many idle connections. Each connection is closed within a bound (the handshake timeout, 5 s, plus
 * slack), and the datacenter keeps its leader and its followers and goes on taking writes.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { encodeFrame, FRAME_HEADER_BYTES, FrameDecoder, FrameType } from "../src/transport/frame.js";
import { encodeHello } from "../src/transport/handshake.js";
import { decodeResponse, requestFrame } from "../src/transport/rpc.js";
import { type Agent, Cluster, getJson, put, sleep } from "./cluster.js";

/** The server's handshake timeout (transport's default) and slack for a loaded machine. */
const CLOSED_WITHIN_MS = 5000 + 10_000;

interface Conn {
  readonly socket: Socket;
  /** Resolves once the server has closed the connection (or it errored). */
  readonly closed: Promise<void>;
  /** Frames received so far. */
  readonly frames: { type: number; payload: Uint8Array }[];
}

function open(port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    const frames: Conn["frames"] = [];
    const decoder = new FrameDecoder(1024 * 1024);
    socket.on("data", (chunk: Buffer) => {
      try {
        frames.push(...decoder.push(chunk));
      } catch {
        socket.destroy();
      }
    });
    const closed = new Promise<void>((res) => {
      socket.on("close", () => res());
      socket.on("error", () => {});
    });
    socket.once("connect", () => resolve({ socket, closed, frames }));
    socket.once("error", reject);
  });
}

/** Fails unless the server closes the connection within the bound. */
async function closedByServer(c: Conn, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((res) => {
    timer = setTimeout(() => res("late"), CLOSED_WITHIN_MS);
  });
  const r = await Promise.race([c.closed.then(() => "closed" as const), late]);
  clearTimeout(timer);
  c.socket.destroy();
  assert.equal(r, "closed", `the server kept a hostile connection open: ${what}`);
}

function hello(purpose: "raft" | "probe" | "snapshot", expectRaftId: number, datacenter = "dc1"): Uint8Array {
  return encodeFrame(
    FrameType.hello,
    encodeHello({
      proto: 1,
      nodeId: randomUUID(),
      raftId: 9999,
      name: "intruder",
      datacenter,
      version: "0.1.0",
      purpose,
      expectRaftId,
    }),
  );
}

function header(length: number, type: number): Uint8Array {
  const b = new Uint8Array(FRAME_HEADER_BYTES);
  new DataView(b.buffer).setUint32(0, length);
  b[4] = type;
  return b;
}

/** The raft id behind an RPC port, as a probe learns it. */
async function raftIdOf(port: number): Promise<number> {
  const c = await open(port);
  c.socket.write(hello("probe", 0));
  await c.closed;
  const ok = c.frames.find((f) => f.type === FrameType.helloOk);
  assert.ok(ok !== undefined, "a probe is answered with helloOk");
  return (JSON.parse(Buffer.from(ok.payload).toString()) as { raftId: number }).raftId;
}

async function leaderAddress(a: Agent): Promise<string> {
  return (await getJson(a, "/v1/status/leader")) as string;
}

describe("a hostile peer on the server RPC port", { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let leader: Agent;
  let follower: Agent;
  let leaderBefore: string;
  let writes = 0;

  /** Every server still names the same leader, and a write through a follower and the leader succeeds. */
  async function stillServing(what: string): Promise<void> {
    for (const a of cluster.agents)
      assert.equal(await leaderAddress(a), leaderBefore, `${a.name} after ${what}`);
    for (const a of [leader, follower]) {
      const r = await put(a, `hostile/${++writes}`, what);
      assert.equal(r.status, 200, `a write through ${a.name} after ${what}: ${await r.text()}`);
    }
  }

  before(async () => {
    cluster = await Cluster.start(3);
    leader = await cluster.leader();
    const f = cluster.agents.find((a) => a !== leader);
    assert.ok(f !== undefined);
    follower = f;
    leaderBefore = await leaderAddress(leader);
    const r = await put(leader, "hostile/0", "before");
    assert.equal(r.status, 200);
  });

  after(async () => {
    await cluster?.stop();
  });

  const strangers: [string, (raftId: number) => Uint8Array[]][] = [
    ["random garbage", () => [randomBytes(4096)]],
    ["a declared length of 4 GiB", () => [header(0xffffffff, FrameType.hello)]],
    ["a hello longer than the handshake bound", () => [header(4097, FrameType.hello), randomBytes(100)]],
    ["an unknown frame type", () => [header(3, 200), randomBytes(3)]],
    ["a hello that is not JSON", () => [encodeFrame(FrameType.hello, randomBytes(64))]],
    [
      "a hello of invalid UTF-8",
      () => [encodeFrame(FrameType.hello, Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]))],
    ],
    ["a hello from another datacenter", (id) => [hello("raft", id, "dc2")]],
    ["a hello for another raft id", (id) => [hello("raft", id + 1000)]],
    ["a message before the hello", () => [encodeFrame(FrameType.message, randomBytes(32))]],
    ["a partial header", () => [Uint8Array.from([0, 0, 0])]],
    ["a partial hello", (id) => [hello("raft", id).subarray(0, 20)]],
    ["nothing at all", () => []],
  ];

  for (const [name, bytes] of strangers) {
    it(`closes a connection that sends ${name}`, async () => {
      await Promise.all(
        [leader, follower].map(async (a) => {
          const c = await open(a.rpcPort);
          for (const b of bytes(await raftIdOf(a.rpcPort))) c.socket.write(b);
          await closedByServer(c, name);
        }),
      );
      await stillServing(name);
    });
  }

  it("closes a slowloris hello, one byte at a time, at the handshake timeout", async () => {
    const id = await raftIdOf(leader.rpcPort);
    const c = await open(leader.rpcPort);
    const bytes = hello("raft", id);
    let i = 0;
    // The trickle would take far longer than the bound: the server must cut it, not wait for it.
    const trickle = setInterval(() => {
      if (i < bytes.length && !c.socket.destroyed) c.socket.write(bytes.subarray(i, ++i));
    }, 250);
    try {
      await closedByServer(c, "slowloris");
      assert.ok(i < bytes.length, "the hello was cut before it was complete");
    } finally {
      clearInterval(trickle);
    }
    await stillServing("slowloris");
  });

  const afterHandshake: [string, Uint8Array][] = [
    ["garbage", randomBytes(512)],
    ["a message that does not decode", encodeFrame(FrameType.message, randomBytes(64))],
    ["a declared length of 4 GiB", header(0xffffffff, FrameType.message)],
    ["a second hello", hello("raft", 1)],
    ["a response nobody asked for", encodeFrame(FrameType.response, Uint8Array.from([1, 0]))],
    ["a request whose method does not decode", encodeFrame(FrameType.request, Uint8Array.from([1, 200, 1]))],
  ];

  for (const [name, bytes] of afterHandshake) {
    it(`closes a connection that sends ${name} after a good handshake`, async () => {
      for (const a of [leader, follower]) {
        const c = await open(a.rpcPort);
        c.socket.write(hello("raft", await raftIdOf(a.rpcPort)));
        // After the helloOk: a hello and garbage in one read would be cut before the answer is flushed.
        const deadline = Date.now() + CLOSED_WITHIN_MS;
        while (c.frames.length === 0) {
          assert.ok(Date.now() < deadline && !c.socket.destroyed, "the handshake is answered");
          await sleep(10);
        }
        assert.equal(c.frames[0]?.type, FrameType.helloOk, "the handshake itself was accepted");
        c.socket.write(bytes);
        await closedByServer(c, `${name} after the handshake`);
      }
      await stillServing(`${name} after the handshake`);
    });
  }

  it("answers hostile requests with errors and keeps serving", async () => {
    const requests: [string, Uint8Array][] = [
      ["kv.write", randomBytes(64)],
      ["kv.write", new Uint8Array(0)],
      ["blob.read", Buffer.from('{"handle":"../../../../etc/passwd","offset":0}')],
      ["blob.read", Buffer.from('{"handle":"x","offset":-1}')],
      ["cluster.join", Buffer.from("[1,2")],
      ["cluster.introduce", Buffer.from('[{"raftId":"x"}]')],
      ["snapshot.restore", Buffer.from('{"handle":"..","archiveIndex":1e400,"from":0}')],
      ["no.such.method", new Uint8Array(3)],
    ];
    for (const a of [leader, follower]) {
      const c = await open(a.rpcPort);
      c.socket.write(hello("raft", await raftIdOf(a.rpcPort)));
      requests.forEach(([method, body], i) => {
        c.socket.write(requestFrame(i + 1, method, body));
      });
      const deadline = Date.now() + CLOSED_WITHIN_MS;
      while (c.frames.filter((f) => f.type === FrameType.response).length < requests.length) {
        assert.ok(Date.now() < deadline, `answers to hostile requests from ${a.name}`);
        assert.ok(!c.socket.destroyed, `${a.name} closed the connection instead of answering`);
        await sleep(20);
      }
      for (const f of c.frames.filter((x) => x.type === FrameType.response)) {
        const r = decodeResponse(f.payload);
        // kv.write answers a refusal inside its body (server/write-answer.ts), as {"error": …}.
        const why =
          "error" in r ? r.error : (JSON.parse(Buffer.from(r.ok).toString()) as { error?: string }).error;
        assert.ok(
          typeof why === "string" && why.length > 0,
          `request ${r.id} from ${a.name} is refused with a reason`,
        );
      }
      c.socket.destroy();
    }
    await stillServing("hostile requests");
  });

  it("closes many idle connections at the handshake timeout and serves writes meanwhile", async () => {
    const conns = await Promise.all(Array.from({ length: 200 }, () => open(leader.rpcPort)));
    await stillServing("200 idle connections, while they are open");
    await Promise.all(conns.map((c, i) => closedByServer(c, `idle connection ${i}`)));
    await stillServing("200 idle connections");
  });
});
