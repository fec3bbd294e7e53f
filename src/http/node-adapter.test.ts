import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { MemoryServer } from "../api/memory-server.js";
import { createHttpServer } from "./node-adapter.js";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  socket: unknown;
}

describe("node:http adapter (127.0.0.1, port 0)", () => {
  const api = new MemoryServer({ kvValueBytesMax: 1024 });
  const counted: string[] = [];
  const server = createHttpServer(api, {
    bodyBytesMax: 4096,
    countRequest: (route, method, status) => counted.push(`${method} ${route} ${status}`),
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let port = 0;

  before(async () => {
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    agent.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function send(method: string, path: string, body?: string | Buffer[], timeoutMs = 5000): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: "127.0.0.1", port, method, path, agent, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString(),
              socket: req.socket,
            }),
          );
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)));
      req.on("error", reject);
      if (Array.isArray(body)) {
        // No Content-Length: chunked, so only streaming can find the size.
        for (const b of body) req.write(b);
        req.end();
      } else req.end(body);
    });
  }

  it("serves KV over a kept-alive connection with Content-Length and the default headers", async () => {
    const put = await send("PUT", "/v1/kv/a%2Fb?flags=18446744073709551615", "hello");
    assert.equal(put.status, 200);
    assert.equal(put.body, "true");
    const get = await send("GET", "/v1/kv/a/b");
    assert.equal(get.status, 200);
    assert.equal(
      get.body,
      '[{"LockIndex":0,"Key":"a/b","Flags":18446744073709551615,"Value":"aGVsbG8=","CreateIndex":1,"ModifyIndex":1}]',
    );
    assert.equal(get.headers["content-type"], "application/json");
    assert.equal(get.headers["content-length"], String(Buffer.byteLength(get.body)));
    assert.equal(get.headers["x-consul-default-acl-policy"], "allow");
    assert.equal(get.headers["x-consul-index"], "1");
    assert.equal(get.socket, put.socket, "keep-alive reuses the connection");
  });

  it("refuses an oversized chunked value with 413 and closes that connection", async () => {
    const big = await send("PUT", "/v1/kv/big", [Buffer.alloc(700, 1), Buffer.alloc(700, 2)]);
    assert.equal(big.status, 413);
    assert.match(big.body, /^Request body\(\d+ bytes\) too large, max size: 1024 bytes\./);
    assert.equal(big.headers.connection, "close");
    assert.equal(api.store.get("big").entry, null);
    const declared = await send("PUT", "/v1/kv/big", Buffer.alloc(5000).toString());
    assert.equal(declared.status, 413);
    assert.match(declared.body, /^Request body\(5000 bytes\) too large, max size: 1024 bytes\./);
  });

  it("counts requests by route pattern, method and status", async () => {
    await send("GET", "/v1/kv/nope");
    await send("GET", "/v1/unknown");
    assert.ok(counted.includes("PUT /v1/kv/ 200"), counted.join("; "));
    assert.ok(counted.includes("GET /v1/kv/ 404"), counted.join("; "));
    assert.ok(counted.includes("PUT /v1/kv/ 413"), counted.join("; "));
    assert.ok(counted.includes("GET unknown 404"), counted.join("; "));
  });
});
