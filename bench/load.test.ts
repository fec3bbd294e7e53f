import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { LoadError, percentile, runPutLoad } from "./load.js";

async function withServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  body: (base: string) => Promise<void>,
): Promise<void> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    await body(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

describe("runPutLoad", () => {
  it("sends every request once, with its body, over at most `clients` connections", async () => {
    const seen = new Map<string, string>();
    const sockets = new Set<unknown>();
    await withServer(
      (req, res) => {
        sockets.add(req.socket);
        let data = "";
        req.on("data", (c: Buffer) => {
          data += c.toString();
        });
        req.on("end", () => {
          seen.set(req.url ?? "", data);
          res.end("true");
        });
      },
      async (base) => {
        const r = await runPutLoad({
          url: (i) => `${base}/v1/kv/k${i}`,
          body: (i) => `v${i}`,
          method: "PUT",
          clients: 4,
          total: 50,
        });
        assert.equal(r.total, 50);
        assert.ok(r.writesPerSec > 0 && r.p50Ms <= r.p99Ms && r.p99Ms <= r.maxMs);
      },
    );
    assert.equal(seen.size, 50);
    assert.equal(seen.get("/v1/kv/k49"), "v49");
    assert.ok(sockets.size <= 4, `${sockets.size} connections`);
  });

  it("stops at the first refused write", async () => {
    await withServer(
      (_req, res) => {
        res.statusCode = 500;
        res.end("No cluster leader");
      },
      async (base) => {
        const load = runPutLoad({
          url: () => `${base}/x`,
          body: () => "",
          method: "PUT",
          clients: 2,
          total: 10,
        });
        await assert.rejects(
          load,
          (e: unknown) => e instanceof LoadError && /answered 500: No cluster leader/.test(e.message),
        );
      },
    );
  });

  it("GETs run, and a 200 whose body the check refuses stops the run with the check's complaint", async () => {
    const methods = new Set<string>();
    await withServer(
      (req, res) => {
        methods.add(req.method ?? "");
        res.end(req.url === "/k7" ? "{}" : '{"kvs":[]}');
      },
      async (base) => {
        const load = (total: number) =>
          runPutLoad({
            url: (i) => `${base}/k${i}`,
            body: () => "",
            method: "GET",
            clients: 1,
            total,
            check: (body) => (body.toString().includes('"kvs"') ? undefined : "found no key"),
          });
        assert.equal((await load(5)).total, 5);
        await assert.rejects(
          load(10),
          (e: unknown) => e instanceof LoadError && /GET \S+\/k7 found no key: \{\}/.test(e.message),
        );
      },
    );
    assert.deepEqual([...methods], ["GET"]);
  });

  it("percentile is nearest-rank", () => {
    const v = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(percentile(v, 0.5), 5);
    assert.equal(percentile(v, 0.99), 10);
    assert.equal(percentile(new Float64Array(0), 0.5), 0);
  });
});
