import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SeededRng } from "../util/rng.js";
import { generateCa } from "../util/tls-generate.js";
import { UnreachableError } from "./errors.js";
import { probe } from "./probe.js";
import { TcpTransport } from "./tcp-transport.js";
import { identity, mutualTls, quietLog, waitFor } from "./test-util.js";
import type { TransportTls } from "./tls.js";

const T = { timeout: 30_000 };

async function pair(tlsA: TransportTls | undefined, tlsB: TransportTls | undefined) {
  const logs: string[] = [];
  const a = new TcpTransport({ identity: identity(1), rng: new SeededRng(1), log: quietLog(), tls: tlsA });
  const b = new TcpTransport({
    identity: identity(2),
    rng: new SeededRng(2),
    log: quietLog(logs),
    tls: tlsB,
  });
  const { port } = await b.listen("127.0.0.1", 0);
  await a.listen("127.0.0.1", 0);
  b.onRequest("ping", async () => Uint8Array.of(7));
  a.setPeer(2, `127.0.0.1:${port}`);
  return { a, b, port, logs, close: () => Promise.all([a.close(), b.close()]) };
}

describe("TcpTransport over mutual TLS", () => {
  it("answers a request between servers of one CA, and a probe sees the peer", T, async () => {
    const ca = await generateCa({ days: 1 });
    const p = await pair(await mutualTls("consul", ca), await mutualTls("cairn", ca));
    try {
      assert.deepEqual([...(await p.a.request(2, "ping", new Uint8Array(0), 5000))], [7]);
      const tls = await mutualTls("consul", ca);
      assert.equal((await probe(identity(3), `127.0.0.1:${p.port}`, 5000, tls.dial)).raftId, 2);
    } finally {
      await p.close();
    }
  });

  it("refuses a server whose certificate is from another CA, both ways", T, async () => {
    // The dialer checks the listener's certificate…
    const p = await pair(await mutualTls("cairn"), await mutualTls("cairn"));
    try {
      await assert.rejects(p.a.request(2, "ping", new Uint8Array(0), 5000), UnreachableError);
    } finally {
      await p.close();
    }
    // …and the listener the dialer's, even when the dialer checks nothing.
    const careless = await mutualTls("cairn", undefined, {
      incoming: false,
      outgoing: false,
      serverNames: [],
    });
    const q = await pair(careless, await mutualTls("cairn"));
    try {
      await assert.rejects(q.a.request(2, "ping", new Uint8Array(0), 5000), UnreachableError);
      await waitFor(
        () => q.logs.some((l) => l.startsWith("warn: refused a TLS connection")),
        "the refusal's log",
      );
    } finally {
      await q.close();
    }
  });

  it("refuses a plain-TCP server at a TLS listener, and a TLS dialer at a plain one", T, async () => {
    const ca = await generateCa({ days: 1 });
    const plainToTls = await pair(undefined, await mutualTls("cairn", ca));
    try {
      await assert.rejects(plainToTls.a.request(2, "ping", new Uint8Array(0), 3000));
    } finally {
      await plainToTls.close();
    }
    const tlsToPlain = await pair(await mutualTls("cairn", ca), undefined);
    try {
      await assert.rejects(tlsToPlain.a.request(2, "ping", new Uint8Array(0), 3000));
    } finally {
      await tlsToPlain.close();
    }
  });

  it(
    "with verify_server_hostname, refuses a peer whose certificate names another datacenter",
    T,
    async () => {
      const ca = await generateCa({ days: 1 });
      const verifying = await mutualTls("cairn", ca, {
        incoming: true,
        outgoing: true,
        serverNames: ["server.dc2.cairn", "server.dc2.consul"],
      });
      const p = await pair(verifying, await mutualTls("cairn", ca));
      try {
        await assert.rejects(
          p.a.request(2, "ping", new Uint8Array(0), 5000),
          /not valid for any of server\.dc2\.cairn, server\.dc2\.consul/,
        );
      } finally {
        await p.close();
      }
      // Without the name check the same certificate is accepted: the chain alone is verified.
      const chainOnly = await mutualTls("cairn", ca, { incoming: true, outgoing: true, serverNames: [] });
      const q = await pair(chainOnly, await mutualTls("cairn", ca));
      try {
        assert.deepEqual([...(await q.a.request(2, "ping", new Uint8Array(0), 5000))], [7]);
      } finally {
        await q.close();
      }
    },
  );
});
