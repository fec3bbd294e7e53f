import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { MemoryServer } from "../api/memory-server.js";
import { verifyArchive } from "../snapshot/index.js";
import { memoryRequest } from "./model.js";
import { createHttpServer } from "./node-adapter.js";
import { handle } from "./router.js";
import { SNAPSHOT_SIZE_HEADER } from "./snapshot.js";
import { bytes, call, text } from "./test-util.js";

async function withKeys(...keys: string[]): Promise<MemoryServer> {
  const api = new MemoryServer();
  for (const k of keys) assert.equal(text(await call(api, "PUT", `/v1/kv/${k}`, `v-${k}`)), "true");
  return api;
}

async function saved(api: MemoryServer, target = "/v1/snapshot"): Promise<Buffer> {
  const res = await call(api, "GET", target);
  assert.equal(res.status, 200);
  return bytes(res);
}

async function keysOf(api: MemoryServer): Promise<string> {
  const res = await call(api, "GET", "/v1/kv/?keys");
  return res.status === 404 ? "[]" : text(res);
}

describe("GET /v1/snapshot", () => {
  it("streams a verifiable archive, with the index and leader headers before the body", async () => {
    const api = await withKeys("a", "b/c");
    const res = await call(api, "GET", "/v1/snapshot");
    assert.equal(res.status, 200);
    assert.equal(res.headers["Content-Type"], "application/x-gzip");
    assert.equal(res.headers["X-Consul-Index"], "2");
    assert.equal(res.headers["X-Consul-KnownLeader"], "true");
    assert.equal(res.headers["X-Consul-LastContact"], "0");
    assert.equal(res.headers["X-Consul-Default-ACL-Policy"], "allow");
    assert.equal(typeof res.body === "object" && "stream" in res.body, true);
    const meta = await verifyArchive([await bytes(res)]);
    assert.equal(meta.Index, 2);
  });

  it("sends the server's size estimate (cairn's own header) only when it has one", async () => {
    const api = await withKeys("a");
    assert.equal((await call(api, "GET", "/v1/snapshot")).headers[SNAPSHOT_SIZE_HEADER], undefined);
    const estimating: MemoryServer = Object.assign(Object.create(api) as MemoryServer, {
      snapshotSave: async (stale: boolean) => ({ ...(await api.snapshotSave(stale)), bytesEstimate: 12_345 }),
    });
    const res = await call(estimating, "GET", "/v1/snapshot");
    assert.equal(res.headers[SNAPSHOT_SIZE_HEADER], "12345");
    await verifyArchive([await bytes(res)]);
  });

  it("consistent without a leader: 500 No cluster leader, no archive; ?stale answers anyway", async () => {
    const api = await withKeys("a");
    api.hasLeader = false;
    const res = await call(api, "GET", "/v1/snapshot");
    assert.equal(res.status, 500);
    assert.equal(text(res), "No cluster leader");
    assert.equal(res.headers["X-Consul-Index"], undefined);
    const stale = await call(api, "GET", "/v1/snapshot?stale");
    assert.equal(stale.status, 200);
    assert.equal(stale.headers["X-Consul-KnownLeader"], "false");
    assert.equal((await verifyArchive([await bytes(stale)])).Index, 1);
  });

  it("accepts its own ?dc and has no path to any other", async () => {
    const api = await withKeys("a");
    assert.equal((await call(api, "GET", "/v1/snapshot?dc=dc1")).status, 200);
    const other = await call(api, "GET", "/v1/snapshot?dc=dc2");
    assert.equal(other.status, 500);
    assert.equal(text(other), "No path to datacenter");
    assert.equal((await call(api, "PUT", "/v1/snapshot?dc=dc2", "x")).status, 500);
  });

  it("other methods: 405 with Allow; OPTIONS lists GET and PUT", async () => {
    const api = new MemoryServer();
    const res = await call(api, "DELETE", "/v1/snapshot");
    assert.equal(res.status, 405);
    assert.equal(res.headers.Allow, "OPTIONS,GET,PUT");
    assert.equal(text(res), "method DELETE not allowed");
    assert.equal((await call(api, "OPTIONS", "/v1/snapshot")).headers.Allow, "OPTIONS,GET,PUT");
  });
});

describe("PUT /v1/snapshot", () => {
  it("restores a saved archive: the keys come back; 200 with an empty body", async () => {
    const api = await withKeys("a", "b/c");
    const archive = await saved(api);
    await call(api, "DELETE", "/v1/kv/?recurse");
    await call(api, "PUT", "/v1/kv/later", "x");
    assert.equal(await keysOf(api), '["later"]');
    const res = await call(api, "PUT", "/v1/snapshot", archive);
    assert.equal(res.status, 200);
    assert.equal(text(res), "");
    assert.equal(await keysOf(api), '["a","b/c"]');
  });

  it("a corrupt archive: 500 (Consul's restore RPC error) with the codec's text, and nothing changes (keys, index)", async () => {
    const api = await withKeys("a", "b");
    const archive = await saved(api);
    await call(api, "PUT", "/v1/kv/c", "x");
    const before = { keys: await keysOf(api), index: api.index };
    const tar = gunzipSync(archive);
    tar[1540] = (tar[1540] ?? 0) ^ 0x01; // inside state.bin, past its tar header
    const cases: [Buffer, RegExp][] = [
      [
        gzipSync(tar),
        /^failed to read snapshot file: failed checking integrity of snapshot: hash check failed for "state\.bin"/,
      ],
      [Buffer.from("not an archive"), /^failed to decompress snapshot: gzip: invalid header/],
      [archive.subarray(0, archive.length - 40), /^failed to decompress snapshot/],
    ];
    for (const [body, message] of cases) {
      const res = await call(api, "PUT", "/v1/snapshot", body);
      assert.equal(res.status, 500, text(res));
      assert.match(text(res), message);
      assert.equal(res.headers["Content-Type"], "text/plain; charset=utf-8");
    }
    assert.deepEqual({ keys: await keysOf(api), index: api.index }, before);
  });

  it("without a leader: 500 No cluster leader; ?stale is refused", async () => {
    const api = await withKeys("a");
    const archive = await saved(api);
    assert.equal(
      text(await call(api, "PUT", "/v1/snapshot?stale", archive)),
      "stale not allowed for restore",
    );
    api.hasLeader = false;
    const res = await call(api, "PUT", "/v1/snapshot", archive);
    assert.equal(res.status, 500);
    assert.equal(text(res), "No cluster leader");
  });

  it("a body past the stream bound: 413, nothing restored", async () => {
    const api = await withKeys("a");
    const archive = await saved(api);
    const req = memoryRequest("PUT", "/v1/snapshot", { body: archive });
    const small = { ...req, stream: () => req.stream(100) };
    const res = await handle(small, api);
    assert.equal(res.status, 413);
  });
});

/** A twin whose archive stream fails after `goodChunks` chunks (or before the first when 0). */
class FailingStream extends MemoryServer {
  constructor(private readonly goodChunks: number) {
    super();
  }
  override async snapshotSave(stale: boolean) {
    const { meta } = await super.snapshotSave(stale);
    const n = this.goodChunks;
    async function* archive(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < n; i++) yield new Uint8Array(64 * 1024).fill(i + 1);
      throw new Error("disk gone");
    }
    return { meta, archive: archive() };
  }
}

async function listen(t: TestContext, api: MemoryServer): Promise<number> {
  const server = createHttpServer(api, { bodyBytesMax: 1024 });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  error: string | null;
}

function request(port: number, method: string, path: string, body?: Buffer): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const got = (error: string | null): void =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), error });
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => got(null));
      res.on("error", (e) => got(e.message));
    });
    req.on("error", reject);
    // Sent in small pieces without Content-Length, so the server reads it as a stream.
    if (body !== undefined) for (let i = 0; i < body.length; i += 100) req.write(body.subarray(i, i + 100));
    req.end();
  });
}

describe("/v1/snapshot over node:http", () => {
  it("GET streams the archive chunked; PUT streams a chunked upload into a restore", async (t) => {
    const api = await withKeys("x", "y");
    const port = await listen(t, api);
    const got = await request(port, "GET", "/v1/snapshot");
    assert.equal(got.error, null);
    assert.equal(got.headers["transfer-encoding"], "chunked");
    assert.equal(got.headers["x-consul-index"], "2");
    assert.equal((await verifyArchive([got.body])).Index, 2);
    await call(api, "DELETE", "/v1/kv/?recurse");
    const put = await request(port, "PUT", "/v1/snapshot", got.body);
    assert.equal(put.status, 200);
    assert.equal(put.body.length, 0);
    assert.equal(await keysOf(api), '["x","y"]');
  });

  it("a stream that fails midway resets the connection: never a clean end", async (t) => {
    const port = await listen(t, new FailingStream(3));
    const got = await request(port, "GET", "/v1/snapshot");
    assert.equal(got.status, 200);
    assert.notEqual(got.error, null);
    assert.ok(got.body.length <= 3 * 64 * 1024);
  });

  it("a stream that fails before its first byte is an ordinary 500 with the error text", async (t) => {
    const port = await listen(t, new FailingStream(0));
    const got = await request(port, "GET", "/v1/snapshot");
    assert.equal(got.error, null);
    assert.equal(got.status, 500);
    assert.equal(got.body.toString(), "disk gone");
  });
});
