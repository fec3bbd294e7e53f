import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { WAN } from "./rpc-methods.js";
import { DcUnavailableError, NoDcPathError, WanPool } from "./wan.js";

function pool(name: string, datacenter: string, joins: readonly string[] = []): Promise<WanPool> {
  return WanPool.start({
    nodeId: randomUUID(),
    nodeName: name,
    datacenter,
    bindHost: "127.0.0.1",
    port: 0,
    advertiseHost: "127.0.0.1",
    retryJoinWan: joins,
    log: () => {},
  });
}

async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 150; i++) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never: ${what}`);
}

describe("the WAN pool", { timeout: 30_000 }, () => {
  it("learns every server from one join, lists datacenters this one first, and fails a datacenter that is gone", async () => {
    const b = await pool("b", "dc2");
    const c = await pool("c", "dc2", [b.self.addr]);
    const a = await pool("a", "dc1", [b.self.addr]);
    const d = await pool("d", "dc3", [c.self.addr]);
    try {
      // a joined b alone: it learns c (and d, through c) from the exchanges.
      await until("a knows three datacenters", () => (a.datacenters().length === 3 ? true : undefined));
      assert.equal(a.datacenters()[0], "dc1");
      assert.deepEqual([...a.datacenters()].sort(), ["dc1", "dc2", "dc3"]);
      await until("b knows a", () => (b.datacenters().includes("dc1") ? true : undefined));
      assert.equal(b.datacenters()[0], "dc2");
      // A call for dc2 reaches a dc2 server; an unknown datacenter has no path.
      const { answer } = await a.via("dc2").call(WAN.exchange, { from: a.self, known: [] }, 2000, true);
      assert.equal(answer.from.datacenter, "dc2");
      await assert.rejects(
        a.via("dc9").call(WAN.exchange, { from: a.self, known: [] }, 2000, true),
        NoDcPathError,
      );
      await b.close();
      await c.close();
      await until("dc2 failed", () =>
        a
          .via("dc2")
          .call(WAN.exchange, { from: a.self, known: [] }, 2000, true)
          .then(
            () => undefined,
            (e: unknown) => (e instanceof DcUnavailableError ? true : undefined),
          ),
      );
      // dc3 still answers.
      const dc3 = await a.via("dc3").call(WAN.exchange, { from: a.self, known: [] }, 2000, true);
      assert.equal(dc3.answer.from.name, "d");
    } finally {
      await Promise.all([a.close(), b.close(), c.close(), d.close()]);
    }
  });
});
