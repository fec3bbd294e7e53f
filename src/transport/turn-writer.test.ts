import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, createServer, type Socket } from "node:net";
import { describe, it } from "node:test";
import { encodeFrame, FRAME_HEADER_BYTES, type Frame, FrameDecoder, FrameType } from "./frame.js";
import { TurnWriter } from "./turn-writer.js";

/** A connected pair of real sockets on loopback; `writes` counts the calls of the server side's write. */
async function pair(): Promise<{ server: Socket; client: Socket; writes: () => number; close: () => void }> {
  const listener = createServer();
  listener.listen(0, "127.0.0.1");
  await once(listener, "listening");
  const addr = listener.address();
  assert(addr !== null && typeof addr === "object");
  const accepted = once(listener, "connection");
  const client = connect(addr.port, "127.0.0.1");
  const [server] = (await accepted) as [Socket];
  let writes = 0;
  const write = server.write.bind(server);
  server.write = ((...args: Parameters<Socket["write"]>) => {
    writes++;
    return write(...args);
  }) as Socket["write"];
  return {
    server,
    client,
    writes: () => writes,
    close: () => {
      client.destroy();
      server.destroy();
      listener.close();
    },
  };
}

/** The next `bytes` bytes the client receives (bounded: the test's own timeout ends a wait that never ends). */
function received(client: Socket, bytes: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const onData = (c: Buffer): void => {
      chunks.push(c);
      n += c.length;
      if (n < bytes) return;
      client.off("data", onData);
      resolve(Buffer.concat(chunks));
    };
    client.on("data", onData);
  });
}

describe("TurnWriter", () => {
  it("writes the frames of one turn with one call, in order", { timeout: 10_000 }, async () => {
    const p = await pair();
    try {
      const w = new TurnWriter(p.server);
      w.write(Uint8Array.of(1, 2));
      w.write(Uint8Array.of(3));
      w.write(Uint8Array.of(4, 5, 6));
      assert.equal(p.writes(), 0, "nothing is written before the turn ends");
      assert.deepEqual([...(await received(p.client, 6))], [1, 2, 3, 4, 5, 6]);
      assert.equal(p.writes(), 1);
      w.write(Uint8Array.of(7));
      assert.deepEqual([...(await received(p.client, 1))], [7]);
      assert.equal(p.writes(), 2, "a later turn writes again");
    } finally {
      p.close();
    }
  });

  it("writes large frames as they are, in order", { timeout: 10_000 }, async () => {
    const p = await pair();
    try {
      const written: unknown[] = [];
      const write = p.server.write.bind(p.server);
      p.server.write = ((...args: Parameters<Socket["write"]>) => {
        written.push(args[0]);
        return write(...args);
      }) as Socket["write"];
      const a = new Uint8Array(300 * 1024).fill(1);
      const b = new Uint8Array(300 * 1024).fill(2);
      const w = new TurnWriter(p.server);
      w.write(a);
      w.write(b);
      const got = await received(p.client, a.length + b.length);
      assert.equal(got.length, a.length + b.length);
      assert.equal(got[0], 1);
      assert.equal(got[a.length - 1], 1);
      assert.equal(got[a.length], 2);
      assert.equal(got[got.length - 1], 2);
      assert.equal(written.length, 2);
      assert.ok(written[0] === a && written[1] === b, "the frames themselves, not a copy");
    } finally {
      p.close();
    }
  });

  it("drops what is queued when the socket is gone by the end of the turn, and says it is done with it", async () => {
    const p = await pair();
    try {
      const w = new TurnWriter(p.server);
      let written = 0;
      w.write(Uint8Array.of(1), () => written++);
      p.server.destroy();
      await new Promise((r) => setImmediate(r));
      assert.equal(p.writes(), 0);
      assert.equal(written, 1);
    } finally {
      p.close();
    }
  });

  it("sends frames made of parts as frames made whole, through backpressure, done only once sent", {
    timeout: 30_000,
  }, async () => {
    const p = await pair();
    try {
      p.client.pause(); // nothing is read until every frame is queued: the server's socket backs up
      const decoder = new FrameDecoder();
      const got: Frame[] = [];
      p.client.on("data", (c: Buffer) => got.push(...decoder.push(c)));
      const w = new TurnWriter(p.server);
      const expected: Frame[] = [];
      let written = 0;
      let seed = 1;
      const sizes = [3, 1024 * 1024, 0, 70_000, 4 * 1024 * 1024 - 1, 17, 300 * 1024];
      for (let turn = 0; turn < 8; turn++) {
        for (const [i, size] of sizes.entries()) {
          const payload = new Uint8Array(size);
          for (let j = 0; j < size; j += 4099) payload[j] = seed++ & 0xff;
          const type = i % 2 === 0 ? FrameType.response : FrameType.message;
          expected.push({ type, payload: payload.slice() });
          const whole = encodeFrame(type, payload);
          const head = whole.slice(0, FRAME_HEADER_BYTES + (size > 1 ? 1 : 0));
          // Whole, a header and its body, or a body in pieces: the bytes on the wire must be the same.
          const parts =
            (turn + i) % 3 === 0
              ? [whole]
              : (turn + i) % 3 === 1
                ? [head, payload.subarray(head.length - FRAME_HEADER_BYTES)]
                : [
                    head,
                    payload.subarray(head.length - FRAME_HEADER_BYTES, size >> 1),
                    payload.subarray(size >> 1),
                  ];
          w.write(parts, () => {
            written++;
            // Done means done: the sender may reuse the bytes at once, and the receiver still gets the old.
            for (const part of parts) part.fill(0xee);
          });
        }
        await new Promise((r) => setImmediate(r));
      }
      const total = expected.length;
      assert.ok(p.server.writableNeedDrain, "the frames outgrew the socket's buffers");
      assert.ok(written < total, "frames still buffered are not reported done");
      p.client.resume();
      for (let i = 0; i < 3000 && (got.length < total || written < total); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(written, total);
      assert.equal(got.length, total);
      for (const [i, f] of got.entries()) {
        assert.equal(f.type, expected[i]!.type, `frame ${i} type`);
        assert.ok(Buffer.from(f.payload).equals(expected[i]!.payload), `frame ${i} payload`);
      }
    } finally {
      p.close();
    }
  });
});
