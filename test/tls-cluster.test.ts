import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { writeTlsSetup } from "../src/util/tls-generate.js";
import { Cluster, getJson, put, waitFor } from "./cluster.js";

/** A config file turning on mutual TLS between servers with the certificates in `dir` (from writeTlsSetup). */
async function mtlsConfig(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const files = await writeTlsSetup(dir);
  const config = join(dir, "mtls.json");
  writeFileSync(
    config,
    JSON.stringify({
      tls: {
        defaults: { ca_file: files.caFile, cert_file: files.certFile, key_file: files.keyFile },
        internal_rpc: { verify_incoming: true, verify_outgoing: true, verify_server_hostname: true },
      },
    }),
  );
  return config;
}

async function peers(a: Parameters<typeof getJson>[0]): Promise<string[]> {
  return (await getJson(a, "/v1/status/peers")) as string[];
}

/**
 * Three servers whose RPC is mutual TLS (one CA, server.dc1.consul certificates, verify_server_hostname): they
 * elect, replicate, survive kill -9 of the leader, and a server with another CA's certificate cannot join.
 */
describe("a 3-server datacenter over mutual TLS", { timeout: 180_000 }, () => {
  it("survives kill -9 of its leader, and keeps out a server from another CA", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-mtls-"));
    const config = await mtlsConfig(join(dir, "ca"));
    const c = await Cluster.start(3, 3, ["-config-file", config]);
    try {
      const leader = await c.leader(30_000);
      assert.match(leader.output, /RPC 127\.0\.0\.1:\d+ \(mutual TLS\)/);
      assert.equal((await put(leader, "mtls/before", "1")).status, 200);
      c.kill9(leader);
      const next = await c.leader(30_000);
      assert.notEqual(next.name, leader.name);
      assert.equal((await put(next, "mtls/after", "2")).status, 200);
      const before = await fetch(`${next.http}/v1/kv/mtls/before?consistent&raw`);
      assert.equal(await before.text(), "1", "the write acknowledged before kill -9 survives");
      // The killed server comes back over TLS and catches up.
      c.launch(leader, 3);
      await waitFor("the restarted server to catch up", 30_000, async () => {
        const r = await fetch(`${leader.http}/v1/kv/mtls/after?stale&raw`).catch(() => null);
        return r?.status === 200 && (await r.text()) === "2" ? true : undefined;
      });
      // A server with a certificate from another CA: the servers refuse its handshakes, it never becomes a peer.
      c.extraArgs = ["-config-file", await mtlsConfig(join(dir, "intruder"))];
      const intruder = await c.addServer("intruder");
      await waitFor("a server to refuse the intruder's TLS connection", 30_000, () =>
        c.agents.some((a) => a !== intruder && /refused a TLS connection/.test(a.output)) ? true : undefined,
      );
      const now = await c.leader(30_000);
      assert.equal((await peers(now)).length, 3);
      assert.ok(!(await peers(now)).includes(`127.0.0.1:${intruder.rpcPort}`));
      // Its HTTP API may start after its first refused handshakes: wait for it, then ask whom it follows.
      const self = await waitFor("the intruder's HTTP API", 30_000, () =>
        getJson(intruder, "/v1/status/leader").catch(() => undefined),
      );
      assert.equal(self, "", "the intruder knows no leader");
    } finally {
      await c.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
