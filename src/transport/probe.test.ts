import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SeededRng } from "../util/rng.js";
import { HandshakeError, UnreachableError } from "./errors.js";
import { probe } from "./probe.js";
import { TcpTransport } from "./tcp-transport.js";
import { identity, quietLog } from "./test-util.js";

describe("probe (discovery without gossip)", () => {
  it("learns who listens at an address, and the listener keeps serving", async () => {
    const t = new TcpTransport({ identity: identity(7), rng: new SeededRng(1), log: quietLog() });
    try {
      const at = await t.listen("127.0.0.1", 0);
      const peer = await probe(identity(3), `127.0.0.1:${at.port}`, 2000);
      assert.equal(peer.raftId, 7);
      assert.equal(peer.datacenter, "dc1");
      assert.equal((await probe(identity(4), `127.0.0.1:${at.port}`, 2000)).raftId, 7);
    } finally {
      await t.close();
    }
  });

  it("is refused by a server of another datacenter", async () => {
    const t = new TcpTransport({ identity: identity(7, "dc2"), rng: new SeededRng(1), log: quietLog() });
    try {
      const at = await t.listen("127.0.0.1", 0);
      await assert.rejects(probe(identity(3), `127.0.0.1:${at.port}`, 2000), HandshakeError);
    } finally {
      await t.close();
    }
  });

  it("reports an address where nobody listens as unreachable", async () => {
    const t = new TcpTransport({ identity: identity(7), rng: new SeededRng(1), log: quietLog() });
    const at = await t.listen("127.0.0.1", 0);
    await t.close();
    await assert.rejects(probe(identity(3), `127.0.0.1:${at.port}`, 2000), UnreachableError);
  });
});
