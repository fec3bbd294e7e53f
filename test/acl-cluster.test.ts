/**
 * ACLs replicated through Raft: three real servers (data dirs, WAL with fsync, TCP on loopback), each with its
 * ServerService and ACLs enabled (the agent's `acl { … }` config is wired by the lead later, so the servers are
 * started in this process with the same startServer the agent uses). A token written on a follower is forwarded
 * to the leader and readable, with the same record, on every server.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { AclSettings } from "../src/api/acl-types.js";
import { ServerService } from "../src/api/service.js";
import type { QueryOptions } from "../src/api/types.js";
import { type RunningServer, startServer } from "../src/server/boot.js";
import { freePort } from "./cluster.js";

const SETTINGS: AclSettings = {
  enabled: true,
  defaultPolicy: "deny",
  downPolicy: "extend-cache",
  tokens: { initialManagement: "8c1a0f8e-5a1e-4c0e-9d55-3f3b8f0c2a11" },
};
const CONSISTENT: QueryOptions = { consistency: "consistent", minIndex: 0, waitMs: 0 };
const WAIT_MS = 20_000;
const POLL_MS = 50;

async function until<T>(what: string, f: () => Promise<T | null> | T | null): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (let i = 0; Date.now() < deadline && i < WAIT_MS / POLL_MS; i++) {
    try {
      const v = await f();
      if (v !== null) return v;
    } catch {
      // not yet (no leader, not applied): try again
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("ACLs on a 3-server datacenter", () => {
  let dir = "";
  const servers: RunningServer[] = [];
  const services: ServerService[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "cairn-acl-cluster-"));
    const ports = [await freePort(), await freePort(), await freePort()];
    for (let i = 0; i < 3; i++) {
      const s = await startServer({
        dataDir: join(dir, `s${i}`),
        nodeName: `s${i}`,
        datacenter: "dc1",
        bindHost: "127.0.0.1",
        serverPort: ports[i] as number,
        advertiseHost: "127.0.0.1",
        bootstrapExpect: 3,
        retryJoin: ports.filter((_, j) => j !== i).map((p) => `127.0.0.1:${p}`),
        tickMs: 50,
        heartbeatTicks: 1,
        electionTicks: 10,
        snapshotThreshold: 10_000,
        trailingEntries: 5_000,
        log: () => {},
      });
      servers.push(s);
      services.push(
        new ServerService({ raft: s.raft, datacenter: "dc1", metrics: s.metrics, acl: SETTINGS }),
      );
    }
  });

  after(async () => {
    for (const s of servers) await s.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("a token created on a follower is readable on every server", async () => {
    // The leader's initialization wrote the initial management token; wait until every server has it.
    const initial = SETTINGS.tokens.initialManagement as string;
    for (const svc of services)
      await until("the initial management token", () => svc.acl.aclTokenBySecret(initial));
    const follower = await until(
      "a follower",
      () => services.find((_, i) => servers[i]?.raft.raw.raft.role === "follower") ?? null,
    );
    const policy = await follower.acl.aclPolicyCreate({
      Name: "kv-read",
      Rules: 'key_prefix "" { policy = "read" }',
    });
    const token = await follower.acl.aclTokenCreate({ Description: "app", Policies: [{ Name: "kv-read" }] });
    assert.deepEqual(token.Policies, [{ ID: policy.ID, Name: "kv-read" }]);
    for (const svc of services) {
      const read = await svc.acl.aclTokenRead(token.AccessorID, CONSISTENT);
      assert.equal(read.value.SecretID, token.SecretID);
      assert.equal(read.value.CreateIndex, token.CreateIndex);
      assert.deepEqual(read.value.Hash, token.Hash);
      assert.equal(svc.acl.aclTokenBySecret(token.SecretID)?.AccessorID, token.AccessorID);
    }
    // Bootstrap was taken by the initial management token, on every server alike.
    await assert.rejects(follower.acl.aclBootstrap(), { code: "acl_bootstrap_denied" });
  });
});
