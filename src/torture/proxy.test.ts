import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { describe, it } from "node:test";
import { encodeFrame, FrameType } from "../transport/frame.js";
import { encodeHello } from "../transport/handshake.js";
import { ProxyNet } from "./proxy.js";

const NET = 100 + Math.floor(Math.random() * 150);
const ADVERTISE = `127.${NET}.1.9`;
const BIND = `127.${NET}.2.9`;

function hello(name: string): Uint8Array {
  return encodeFrame(
    FrameType.hello,
    encodeHello({
      proto: 1,
      nodeId: "00000000-0000-0000-0000-000000000001",
      raftId: 1,
      name,
      datacenter: "dc1",
      version: "test",
      purpose: "raft",
      expectRaftId: 2,
    }),
  );
}

async function until(what: string, f: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(f(), `timed out waiting for ${what}`);
}

/** A listener "b" behind the proxy, and a dialer "a" through it, past the handshake. */
async function world(): Promise<{
  net: ProxyNet;
  a: Socket;
  atA: () => Buffer;
  atB: () => Buffer;
  bClosed: () => boolean;
  b: () => Socket;
  stop: () => Promise<void>;
}> {
  let bSock: Socket | null = null;
  let atB = Buffer.alloc(0);
  let bClosed = false;
  const listener = createServer((s) => {
    bSock = s;
    s.on("data", (d: Buffer) => {
      if (atB.length === 0) s.write(encodeFrame(FrameType.helloOk, new Uint8Array([1])));
      atB = Buffer.concat([atB, d]);
    });
    s.on("close", () => {
      bClosed = true;
    });
    s.on("error", () => {});
  });
  await new Promise<void>((res) => listener.listen(0, BIND, () => res()));
  const port = (listener.address() as { port: number }).port;
  const net = new ProxyNet();
  await net.add("b", ADVERTISE, BIND, port);
  const a = connect({ host: ADVERTISE, port });
  a.on("error", () => {});
  let atA = Buffer.alloc(0);
  a.on("data", (d: Buffer) => {
    atA = Buffer.concat([atA, d]);
  });
  a.write(hello("a"));
  await until("the handshake answer", () => atA.length > 0);
  return {
    net,
    a,
    atA: () => atA,
    atB: () => atB,
    bClosed: () => bClosed,
    b: () => bSock!,
    stop: async () => {
      a.destroy();
      await net.stop();
      await new Promise<void>((res) => listener.close(() => res()));
    },
  };
}

describe("the torture's link proxy", () => {
  it("passes the handshake and bytes both ways, naming the dialer from its hello", async () => {
    const w = await world();
    try {
      w.a.write("ping");
      await until("ping at b", () => w.atB().toString().endsWith("ping"));
      w.b().write("pong");
      await until("pong at a", () => w.atA().toString().endsWith("pong"));
      assert.deepEqual(
        [...w.net.conns].map((c) => [c.up.from, c.up.to]),
        [["a", "b"]],
      );
    } finally {
      await w.stop();
    }
  });

  it("a one-way cut a→b silences what a sends while b's bytes still reach a; healing closes the connection", async () => {
    const w = await world();
    try {
      w.net.set("a", "b", { kind: "cut" });
      const before = w.atB().length;
      w.a.write("lost");
      const [conn] = [...w.net.conns];
      await until("the proxy to drop a's bytes", () => conn!.up.silenced);
      w.b().write("still-flows");
      await until("b's bytes at a", () => w.atA().toString().endsWith("still-flows"));
      w.net.set("a", "b", { kind: "ok" });
      await until("the silenced connection to close", () => w.bClosed());
      assert.equal(w.atB().length, before, "nothing a sent after the cut reached b");
    } finally {
      await w.stop();
    }
  });

  it("refuses a dialer whose first frame is not a hello", async () => {
    const w = await world();
    try {
      const x = connect({ host: ADVERTISE, port: w.a.remotePort as number });
      let closed = false;
      x.on("error", () => {});
      x.on("close", () => {
        closed = true;
      });
      x.write(encodeFrame(FrameType.message, new Uint8Array(8)));
      await until("the stranger's connection to close", () => closed);
      assert.equal(w.net.conns.size, 1);
    } finally {
      await w.stop();
    }
  });
});
