import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryServer } from "../api/memory-server.js";
import { call, text } from "./test-util.js";

/** Elapsed milliseconds of `p`, with its value. Every wait in these tests is bounded by its `wait=`. */
async function timed<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await p;
  return { value, ms: performance.now() - t0 };
}

function later(ms: number, f: () => Promise<unknown>): Promise<void> {
  return new Promise((resolve, reject) => {
    setTimeout(() => {
      f().then(() => resolve(), reject);
    }, ms);
  });
}

describe("blocking queries", () => {
  it("a GET with ?index=N returns early when that key is written", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/k", "v1");
    const waiting = timed(call(api, "GET", "/v1/kv/k?index=1&wait=2s"));
    await later(50, () => call(api, "PUT", "/v1/kv/k", "v2"));
    const { value: res, ms } = await waiting;
    assert.ok(ms < 1500, `woke after ${ms} ms`);
    assert.equal(res.status, 200);
    assert.equal(res.headers["X-Consul-Index"], "2");
    assert.match(text(res), /"Value":"djI="/);
  });

  it("does not wake for a write to another key, and answers the unchanged result on timeout", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/k", "v1");
    const waiting = timed(call(api, "GET", "/v1/kv/k?index=1&wait=300ms"));
    await later(30, () => call(api, "PUT", "/v1/kv/other", "x"));
    const { value: res, ms } = await waiting;
    assert.ok(ms >= 250, `returned after ${ms} ms`);
    assert.ok(ms < 2000, `returned after ${ms} ms`);
    assert.equal(res.status, 200);
    assert.equal(res.headers["X-Consul-Index"], "1");
  });

  it("a missing key blocks too, and returns 404 with the new index on timeout", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/a", "v");
    const { value: res, ms } = await timed(call(api, "GET", "/v1/kv/missing?index=1&wait=100ms"));
    assert.ok(ms >= 80, `returned after ${ms} ms`);
    assert.equal(res.status, 404);
    assert.equal(res.headers["X-Consul-Index"], "1");
  });

  it("a recurse list wakes for a write under its prefix, and for a delete (tombstone index)", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/p/a", "v");
    await call(api, "PUT", "/v1/kv/p/b", "v");
    let waiting = timed(call(api, "GET", "/v1/kv/p/?recurse&index=2&wait=2s"));
    await later(30, () => call(api, "PUT", "/v1/kv/q", "outside"));
    await later(30, () => call(api, "PUT", "/v1/kv/p/c", "inside"));
    let r = await waiting;
    assert.ok(r.ms < 1500, `woke after ${r.ms} ms`);
    assert.equal(r.value.headers["X-Consul-Index"], "4");
    waiting = timed(call(api, "GET", "/v1/kv/p/?keys&index=4&wait=2s"));
    await later(30, () => call(api, "DELETE", "/v1/kv/p/a"));
    r = await waiting;
    assert.ok(r.ms < 1500, `woke after ${r.ms} ms`);
    assert.equal(r.value.headers["X-Consul-Index"], "5");
    assert.equal(text(r.value), '["p/b","p/c"]');
  });

  it("answers at once when the index is already past, or index is 0 (npm Watch's first call)", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/k", "v");
    await call(api, "PUT", "/v1/kv/k", "w");
    for (const q of ["index=1&wait=10s", "index=0&wait=10s"]) {
      const { value: res, ms } = await timed(call(api, "GET", `/v1/kv/k?${q}`));
      assert.ok(ms < 500, `${q}: ${ms} ms`);
      assert.equal(res.headers["X-Consul-Index"], "2");
    }
  });

  it("leaves no watch registered once done", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/k", "v");
    await call(api, "GET", "/v1/kv/k?index=1&wait=20ms");
    const waiting = call(api, "GET", "/v1/kv/k?index=1&wait=2s");
    await later(10, () => call(api, "PUT", "/v1/kv/k", "w"));
    await waiting;
    // A further write must find nobody to wake: registry empty (no timer or watch left behind).
    await call(api, "PUT", "/v1/kv/k", "x");
    assert.equal(api.watchCount, 0);
  });
});
