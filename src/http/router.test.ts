import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryServer } from "../api/memory-server.js";
import { routeLabel } from "./router.js";
import { call, text } from "./test-util.js";

const TEXT = "text/plain; charset=utf-8";

describe("routing", () => {
  it("a wrong method → 405 with Allow and Consul's text", async () => {
    const api = new MemoryServer();
    const res = await call(api, "POST", "/v1/kv/k");
    assert.equal(res.status, 405);
    assert.equal(res.headers.Allow, "OPTIONS,GET,PUT,DELETE");
    assert.equal(text(res), "method POST not allowed");
    assert.equal(res.headers["Content-Type"], TEXT);
    const leader = await call(api, "PUT", "/v1/status/leader");
    assert.equal(leader.headers.Allow, "OPTIONS,GET");
    const transfer = await call(api, "GET", "/v1/operator/raft/transfer-leader");
    assert.equal(transfer.headers.Allow, "OPTIONS,POST");
    assert.equal(api.transfers.length, 0);
  });

  it("OPTIONS → 200, empty body, Allow", async () => {
    const api = new MemoryServer();
    const res = await call(api, "OPTIONS", "/v1/kv/anything");
    assert.equal(res.status, 200);
    assert.equal(text(res), "");
    assert.equal(res.headers.Allow, "OPTIONS,GET,PUT,DELETE");
    assert.equal(res.headers["X-Consul-Default-ACL-Policy"], "allow");
    assert.equal(api.writes.length, 0);
  });

  it("an unknown /v1/ path → 404 with Consul's text; other paths → empty 404", async () => {
    const api = new MemoryServer();
    for (const p of ["/v1/nope", "/v1/kv", "/v1/status/leader/x", "/v1/"]) {
      const res = await call(api, "GET", p);
      assert.equal(res.status, 404, p);
      assert.equal(text(res), "Invalid URL path: not a recognized HTTP API endpoint\n", p);
      assert.equal(res.headers["Content-Type"], TEXT);
    }
    const other = await call(api, "GET", "/favicon.ico");
    assert.equal(other.status, 404);
    assert.equal(text(other), "");
  });

  it("/ redirects to the UI at /ui/, as Consul's agent does", async () => {
    const res = await call(new MemoryServer(), "GET", "/");
    assert.equal(res.status, 301);
    assert.equal(res.headers.Location, "/ui/");
    assert.equal(text(res), "");
  });

  it("a bad escape → 400; a non-printable decoded path → 400 (Go's PrintablePathCheckHandler)", async () => {
    const api = new MemoryServer();
    assert.equal((await call(api, "GET", "/v1/kv/%zz")).status, 400);
    assert.equal((await call(api, "GET", "/v1/kv/%FF")).status, 400);
    const ctl = await call(api, "PUT", "/v1/kv/a%0Ab", "v");
    assert.equal(ctl.status, 400);
    assert.equal(api.writes.length, 0);
    assert.equal((await call(api, "PUT", "/v1/kv/%C3%A9t%C3%A9", "v")).status, 200);
  });

  it("labels metrics by route pattern, not by key", () => {
    assert.equal(routeLabel("/v1/kv/a%2Fb"), "/v1/kv/");
    assert.equal(routeLabel("/v1/status/leader"), "/v1/status/leader");
    assert.equal(routeLabel("/v1/nope"), "unknown");
    assert.equal(routeLabel("/v1/kv/%zz"), "invalid");
  });
});

describe("npm consul@2.0.1 request shapes (consul-compat.md §7)", () => {
  it("kv.get, recurse=true, raw=true, keys=true&separator=%2F, stale=1, consistent=1", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/app%2Fdb%20url", "postgres://x");
    await call(api, "PUT", "/v1/kv/app%2Fsub%2Fk", "v");
    const one = await call(api, "GET", "/v1/kv/app%2Fdb%20url");
    assert.equal(one.headers["Content-Type"], "application/json");
    assert.equal((JSON.parse(text(one)) as { Key: string }[])[0]?.Key, "app/db url");
    const rec = await call(api, "GET", "/v1/kv/app?recurse=true");
    assert.equal((JSON.parse(text(rec)) as unknown[]).length, 2);
    assert.equal(text(await call(api, "GET", "/v1/kv/app%2Fdb%20url?raw=true")), "postgres://x");
    assert.equal(
      text(await call(api, "GET", "/v1/kv/app%2F?keys=true&separator=%2F")),
      '["app/db url","app/sub/"]',
    );
    assert.equal(
      (await call(api, "GET", "/v1/kv/app%2Fdb%20url?stale=1")).headers["X-Consul-Effective-Consistency"],
      "stale",
    );
    assert.equal(
      (await call(api, "GET", "/v1/kv/app%2Fdb%20url?consistent=1")).headers[
        "X-Consul-Effective-Consistency"
      ],
      "consistent",
    );
    assert.equal((await call(api, "GET", "/v1/kv/nothing")).status, 404, "kv.get turns 404 into undefined");
  });

  it("kv.set with cas/flags/acquire, kv.del with recurse/cas, blocking get with index/wait", async () => {
    const api = new MemoryServer();
    assert.equal(text(await call(api, "PUT", "/v1/kv/k?cas=0&flags=3", "v")), "true");
    const sid = await api.sessionCreate({});
    assert.equal(text(await call(api, "PUT", `/v1/kv/lock?acquire=${sid}`, "v")), "true");
    assert.equal(text(await call(api, "DELETE", "/v1/kv/k?cas=1")), "true");
    assert.equal(text(await call(api, "DELETE", "/v1/kv/lock?recurse=true")), "true");
    const res = await call(api, "GET", "/v1/kv/?keys=true&index=1&wait=10s");
    assert.equal(res.status, 200);
    assert.equal(res.headers["X-Consul-Index"], "5");
  });

  it("Go api client: stale= and consistent= empty, wait in ms, index", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/k", "v");
    assert.equal(
      (await call(api, "GET", "/v1/kv/k?stale=")).headers["X-Consul-Effective-Consistency"],
      "stale",
    );
    const res = await call(api, "GET", "/v1/kv/k?consistent=&index=1&wait=30ms");
    assert.equal(res.status, 200);
    assert.equal(res.headers["X-Consul-Effective-Consistency"], "consistent");
  });
});
