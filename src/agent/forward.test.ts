/**
 * A request forwarded over the server RPC transport (forward-client.ts → forward-serve.ts), over the in-memory
 * transport: the answer comes back as the remote handler gave it; bodies either way travel in parts no larger than
 * FORWARD_CHUNK_BYTES and arrive whole; a refusal before the body ended stops the upload; a body that breaks
 * midway breaks the caller's stream instead of ending it; a caller that leaves early cancels the exchange.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { type HttpRequest, type HttpResponse, isStreamBody, memoryRequest } from "../http/index.js";
import { NO_SERVERS_TEXT, NoServersError } from "../server/client-link.js";
import { call, type RpcMethod } from "../server/rpc.js";
import { FORWARD_CHUNK_BYTES } from "../server/rpc-http.js";
import { MemoryNetwork } from "../transport/index.js";
import { type ForwardVia, forwardRequest } from "./forward-client.js";
import { Parking } from "./forward-park.js";
import { ForwardServer } from "./forward-serve.js";

type Handler = (req: HttpRequest, headers: Readonly<Record<string, string>>) => Promise<HttpResponse>;

/** A server (id 1) answering with `handler`, and a caller (id 2) that records the size of every call it makes. */
function world(handler: Handler, parkedMax?: number) {
  const net = new MemoryNetwork();
  const server = net.join(1);
  const caller = net.join(2);
  const fs = new ForwardServer(server, {
    answer: handler,
    bodyBytesMax: 64 * 1024 * 1024,
    ...(parkedMax === undefined ? {} : { parkedMax }),
  });
  const sent: { method: string; bytes: number }[] = [];
  const via: ForwardVia = {
    async call<Req, Res>(method: RpcMethod<Req, Res>, request: Req, timeoutMs: number) {
      return { answer: await via.callOn(1, method, request, timeoutMs), server: 1 };
    },
    async callOn<Req, Res>(to: number, method: RpcMethod<Req, Res>, request: Req, timeoutMs: number) {
      sent.push({ method: method.name, bytes: method.request.encode(request).length });
      return call(caller, to, method, request, timeoutMs);
    },
    parking: new Parking((to, method, request, timeoutMs) => via.callOn(to, method, request, timeoutMs)),
  };
  return { via, sent, fs, close: () => fs.close() };
}

async function bodyOf(r: HttpResponse): Promise<Buffer> {
  if (typeof r.body === "string") return Buffer.from(r.body);
  if (!isStreamBody(r.body)) return Buffer.from(r.body);
  const parts: Buffer[] = [];
  for await (const c of r.body.stream) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

describe("forwarded HTTP requests", () => {
  it("carry the method, path, query and headers, and bring back the status, headers and body", async () => {
    const w = world(async (req, headers) => ({
      status: 201,
      headers: { "X-Consul-Index": "42", "Content-Type": "text/plain" },
      body: `${req.method} ${req.path} ${req.query.get("dc")} ${req.headers("x-consul-token")} ${headers["x-a"]}`,
    }));
    const req = memoryRequest("GET", "/v1/kv/a%2Fb?dc=dc2&recurse", {
      headers: { "X-Consul-Token": "t" },
    });
    const r = await forwardRequest(req, { "x-consul-token": "t", "x-a": "b" }, w.via);
    assert.equal(r.status, 201);
    assert.equal(r.headers["X-Consul-Index"], "42");
    assert.equal((await bodyOf(r)).toString(), "GET /v1/kv/a%2Fb dc2 t b");
    assert.deepEqual(
      w.sent.map((s) => s.method),
      ["http.start"],
    );
    w.close();
  });

  it("streams a large upload in parts and a large answer back in parts, both whole", async () => {
    const up = randomBytes(3 * FORWARD_CHUNK_BYTES + 12345);
    const down = randomBytes(2 * FORWARD_CHUNK_BYTES + 777);
    let received: Buffer | null = null;
    const w = world(async (req) => {
      const parts: Buffer[] = [];
      for await (const c of req.stream()) parts.push(Buffer.from(c));
      received = Buffer.concat(parts);
      // The answer in small chunks, as a gzip stream produces it.
      async function* chunks() {
        for (let at = 0; at < down.length; at += 16 * 1024) yield down.subarray(at, at + 16 * 1024);
      }
      return { status: 200, headers: {}, body: { stream: chunks() } };
    });
    const r = await forwardRequest(memoryRequest("PUT", "/v1/snapshot", { body: up }), {}, w.via);
    assert.equal(r.status, 200);
    assert.ok((await bodyOf(r)).equals(down));
    assert.ok(received !== null && (received as Buffer).equals(up));
    const methods = w.sent.map((s) => s.method);
    assert.equal(methods.filter((m) => m === "http.send").length, 3);
    assert.equal(methods.filter((m) => m === "http.next").length, 2);
    assert.ok(
      w.sent.every((s) => s.bytes < FORWARD_CHUNK_BYTES + 4096),
      "no call carries more than a part",
    );
    w.close();
  });

  it("stops the upload when the server answers before the body ended", async () => {
    const w = world(async (req) => {
      try {
        await req.body(1000);
        return { status: 200, headers: {}, body: "read" };
      } catch (e) {
        return { status: 413, headers: {}, body: String((e as Error).message) };
      }
    });
    const big = randomBytes(4 * FORWARD_CHUNK_BYTES);
    const r = await forwardRequest(memoryRequest("PUT", "/v1/kv/x", { body: big }), {}, w.via);
    assert.equal(r.status, 413);
    assert.ok(w.sent.filter((s) => s.method === "http.send").length < 3, "the rest of the body was not sent");
    w.close();
  });

  it("an answer that breaks midway breaks the caller's stream", async () => {
    const w = world(async () => {
      async function* broken() {
        yield new Uint8Array(FORWARD_CHUNK_BYTES);
        yield new Uint8Array(FORWARD_CHUNK_BYTES);
        throw new Error("disk gone");
      }
      return { status: 200, headers: {}, body: { stream: broken() } };
    });
    const r = await forwardRequest(memoryRequest("GET", "/v1/snapshot"), {}, w.via);
    assert.equal(r.status, 200);
    await assert.rejects(bodyOf(r), /disk gone/);
    w.close();
  });

  it("a caller that leaves early cancels the exchange and stops the producer", async () => {
    let stopped = false;
    const w = world(async () => {
      async function* endless() {
        try {
          for (let i = 0; i < 1000; i++) yield new Uint8Array(FORWARD_CHUNK_BYTES);
        } finally {
          stopped = true;
        }
      }
      return { status: 200, headers: {}, body: { stream: endless() } };
    });
    const r = await forwardRequest(memoryRequest("GET", "/v1/snapshot"), {}, w.via);
    assert.ok(isStreamBody(r.body));
    const it = r.body.stream[Symbol.asyncIterator]();
    await it.next();
    await it.return?.();
    for (let i = 0; i < 50 && !stopped; i++) await new Promise((res) => setTimeout(res, 10));
    assert.ok(stopped, "the producer was stopped");
    assert.ok(w.sent.some((s) => s.method === "http.cancel"));
    w.close();
  });

  it("parks waiting blocking queries, answers each when ready, and refuses past parkedMax with Consul's 429", async () => {
    let open: () => void = () => {};
    const gate = new Promise<void>((res) => {
      open = res;
    });
    const w = world(async (req) => {
      if (req.query.get("index") !== null) await gate;
      return { status: 200, headers: { "X-Consul-Index": "9" }, body: `answer ${req.path}` };
    }, 3);
    const blocked = [1, 2, 3].map((i) =>
      forwardRequest(memoryRequest("GET", `/v1/kv/k${i}?index=5`), {}, w.via),
    );
    // Parked, none holds a call: the caller polls for them instead.
    const polled = (): boolean => w.sent.some((s) => s.method === "http.ready");
    for (let i = 0; i < 200 && !polled(); i++) await new Promise((res) => setTimeout(res, 10));
    assert.ok(polled());
    assert.deepEqual(w.fs.counts(), { parked: 3, active: 0 });
    const refused = await forwardRequest(memoryRequest("GET", "/v1/kv/k4?index=5"), {}, w.via);
    assert.equal(refused.status, 429);
    assert.match(String(refused.body), /^rpc error making call: RPC rate limit exceeded/);
    // A request that does not block is not parked, and is answered meanwhile.
    const plain = await forwardRequest(memoryRequest("GET", "/v1/kv/k5"), {}, w.via);
    assert.equal(plain.status, 200);
    open();
    const answers = await Promise.all(blocked);
    for (const [i, r] of answers.entries()) {
      assert.equal(r.status, 200);
      assert.equal(r.headers["X-Consul-Index"], "9");
      assert.equal((await bodyOf(r)).toString(), `answer /v1/kv/k${i + 1}`);
    }
    assert.deepEqual(w.fs.counts(), { parked: 0, active: 0 });
    w.close();
  });

  it("a failure to reach any server is Consul's 500, and nothing was answered", async () => {
    const via: ForwardVia = {
      call: async () => {
        throw new NoServersError(NO_SERVERS_TEXT);
      },
      callOn: async () => {
        throw new Error("unused");
      },
    };
    const r = await forwardRequest(memoryRequest("GET", "/v1/kv/a"), {}, via);
    assert.equal(r.status, 500);
    assert.equal(r.body, "No known Consul servers");
  });
});
