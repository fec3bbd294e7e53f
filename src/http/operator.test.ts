import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryServer } from "../api/memory-server.js";
import { call, text } from "./test-util.js";

describe("status endpoints", () => {
  it('leader is a JSON string, "" without a leader; peers a JSON array', async () => {
    const api = new MemoryServer();
    const res = await call(api, "GET", "/v1/status/leader");
    assert.equal(text(res), '"127.0.0.1:8300"');
    assert.equal(res.headers["Content-Type"], "application/json");
    assert.equal(text(await call(api, "GET", "/v1/status/peers")), '["127.0.0.1:8300"]');
    api.hasLeader = false;
    assert.equal(text(await call(api, "GET", "/v1/status/leader")), '""');
    assert.equal((await call(api, "GET", "/v1/status/leader?dc=nope")).status, 500);
  });
});

describe("operator endpoints", () => {
  it("raft configuration in structs.RaftServer's field order, with LastIndex", async () => {
    const api = new MemoryServer();
    api.raftServers[0] = { ...api.raftServers[0]!, lastIndex: 108 };
    await call(api, "PUT", "/v1/kv/k", "v");
    const res = await call(api, "GET", "/v1/operator/raft/configuration");
    assert.equal(res.status, 200);
    assert.equal(
      text(res),
      '{"Servers":[{"ID":"11111111-2222-3333-4444-555555555555","Node":"node1","Address":"127.0.0.1:8300",' +
        '"Leader":true,"ProtocolVersion":"3","Voter":true,"LastIndex":108}],"Index":1}',
    );
  });

  it("raft configuration without a leader: 500, unless ?stale", async () => {
    const api = new MemoryServer();
    api.hasLeader = false;
    const res = await call(api, "GET", "/v1/operator/raft/configuration");
    assert.equal(res.status, 500);
    assert.equal(text(res), "No cluster leader");
    assert.equal((await call(api, "GET", "/v1/operator/raft/configuration?stale=")).status, 200);
  });

  it("remove peer: exactly one of ?id or ?address, Consul's messages, empty 200", async () => {
    const api = new MemoryServer();
    let res = await call(api, "DELETE", "/v1/operator/raft/peer");
    assert.equal(res.status, 400);
    assert.equal(
      text(res),
      "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove",
    );
    res = await call(api, "DELETE", "/v1/operator/raft/peer?id=a&address=b");
    assert.equal(res.status, 400);
    assert.equal(text(res), "Must specify only one of ?id or ?address");
    res = await call(api, "DELETE", "/v1/operator/raft/peer?address=10.0.0.2:8300");
    assert.equal(res.status, 200);
    assert.equal(text(res), "");
    await call(api, "DELETE", "/v1/operator/raft/peer?id=abc");
    assert.deepEqual(api.removedPeers, [{ address: "10.0.0.2:8300" }, { id: "abc" }]);
  });

  it('transfer leader: ?id optional, {"Success":bool}', async () => {
    const api = new MemoryServer();
    assert.equal(text(await call(api, "POST", "/v1/operator/raft/transfer-leader")), '{"Success":true}');
    api.transferResult = false;
    assert.equal(
      text(await call(api, "POST", "/v1/operator/raft/transfer-leader?id=x")),
      '{"Success":false}',
    );
    assert.deepEqual(api.transfers, [null, "x"]);
  });

  it("autopilot health: Go duration strings, 429 with the same body when unhealthy", async () => {
    const api = new MemoryServer();
    const server = {
      id: "id1",
      name: "node1",
      address: "127.0.0.1:8300",
      serfStatus: "alive" as const,
      version: "1.21.0",
      leader: false,
      lastContactMs: 12,
      lastTerm: 3,
      lastIndex: 40,
      healthy: true,
      voter: true,
      stableSince: "2024-01-01T00:00:00Z",
    };
    api.health = {
      healthy: true,
      failureTolerance: 1,
      servers: [server, { ...server, id: "id2", lastContactMs: 0 }],
    };
    const res = await call(api, "GET", "/v1/operator/autopilot/health");
    assert.equal(res.status, 200);
    const expected =
      '{"Healthy":true,"FailureTolerance":1,"Servers":[{"ID":"id1","Name":"node1","Address":"127.0.0.1:8300",' +
      '"SerfStatus":"alive","Version":"1.21.0","Leader":false,"LastContact":"12ms","LastTerm":3,"LastIndex":40,' +
      '"Healthy":true,"Voter":true,"StableSince":"2024-01-01T00:00:00Z"},{"ID":"id2","Name":"node1",' +
      '"Address":"127.0.0.1:8300","SerfStatus":"alive","Version":"1.21.0","Leader":false,"LastContact":"0s",' +
      '"LastTerm":3,"LastIndex":40,"Healthy":true,"Voter":true,"StableSince":"2024-01-01T00:00:00Z"}]}';
    assert.equal(text(res), expected);
    api.health = { ...api.health, healthy: false };
    const sick = await call(api, "GET", "/v1/operator/autopilot/health");
    assert.equal(sick.status, 429);
    assert.equal(text(sick), expected.replace('{"Healthy":true', '{"Healthy":false'));
    assert.equal(sick.headers["Content-Type"], "application/json");
  });
});

describe("agent endpoints", () => {
  it("self: Config in Consul's order, Member, Stats, Meta", async () => {
    const api = new MemoryServer();
    const res = await call(api, "GET", "/v1/agent/self");
    assert.equal(res.status, 200);
    const body = text(res);
    assert.ok(
      body.startsWith(
        '{"Config":{"Datacenter":"dc1","PrimaryDatacenter":"dc1","NodeName":"node1",' +
          '"NodeID":"11111111-2222-3333-4444-555555555555","Revision":"cairn","Server":true,"Version":"1.21.0",' +
          '"BuildDate":"0001-01-01T00:00:00Z"},"DebugConfig":{',
      ),
      body,
    );
    const self = JSON.parse(body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(self), ["Config", "DebugConfig", "Coord", "Member", "Stats", "Meta"]);
    assert.deepEqual(self.Stats, { raft: { state: "Leader" } });
    const member = self.Member as Record<string, unknown>;
    assert.equal(member.Name, "node1");
    assert.equal(member.Addr, "127.0.0.1");
    assert.equal(member.Status, 1);
  });

  it("members: serf.Member shape; ?wan lists servers as <node>.<dc>", async () => {
    const api = new MemoryServer();
    api.memberList = [
      { name: "s1", addr: "10.0.0.1", port: 8301, status: 1, tags: { role: "consul", dc: "dc1" } },
      { name: "c1", addr: "10.0.0.9", port: 8301, status: 4, tags: { role: "node", dc: "dc1" } },
    ];
    assert.equal(
      text(await call(api, "GET", "/v1/agent/members")),
      '[{"Name":"s1","Addr":"10.0.0.1","Port":8301,"Tags":{"role":"consul","dc":"dc1"},"Status":1,' +
        '"ProtocolMin":1,"ProtocolMax":5,"ProtocolCur":2,"DelegateMin":2,"DelegateMax":5,"DelegateCur":4},' +
        '{"Name":"c1","Addr":"10.0.0.9","Port":8301,"Tags":{"role":"node","dc":"dc1"},"Status":4,' +
        '"ProtocolMin":1,"ProtocolMax":5,"ProtocolCur":2,"DelegateMin":2,"DelegateMax":5,"DelegateCur":4}]',
    );
    const wan = JSON.parse(text(await call(api, "GET", "/v1/agent/members?wan=1"))) as {
      Name: string;
      Port: number;
    }[];
    assert.deepEqual(
      wan.map((m) => [m.Name, m.Port]),
      [["s1.dc1", 8302]],
    );
  });

  it("metrics in Prometheus text at /v1/agent/metrics?format=prometheus and /metrics", async () => {
    const api = new MemoryServer();
    for (const p of ["/v1/agent/metrics?format=prometheus", "/metrics"]) {
      const res = await call(api, "GET", p);
      assert.equal(res.status, 200);
      assert.equal(res.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8");
      assert.equal(text(res), api.metrics);
    }
  });
});
