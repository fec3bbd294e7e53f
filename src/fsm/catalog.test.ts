import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { CatalogRegisterRequest, CheckSpec, ServiceSpec } from "./catalog-types.js";
import { decodeCommand, encodeCommand, type KvCommand } from "./command.js";
import { CatalogError, CommandDecodeError } from "./errors.js";
import { KvStore } from "./kv-store.js";
import type { SessionSpec } from "./session.js";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

export function service(id: string, name = id, tags: string[] = []): ServiceSpec {
  return {
    ID: id,
    Service: name,
    Tags: tags,
    Address: "",
    TaggedAddresses: {},
    Meta: {},
    Port: 8080,
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    Kind: "",
  };
}

export function check(node: string, id: string, status: string, serviceID = ""): CheckSpec {
  return {
    Node: node,
    CheckID: id,
    Name: id,
    Status: status,
    Notes: "",
    Output: "",
    ServiceID: serviceID,
    Type: "",
    Definition: {},
  };
}

export function register(
  node: string,
  extra: Partial<CatalogRegisterRequest> = {},
): Extract<KvCommand, { op: "catalog-register" }> {
  const req: CatalogRegisterRequest = {
    ID: "",
    Node: node,
    Address: "10.0.0.1",
    Datacenter: "dc1",
    TaggedAddresses: {},
    NodeMeta: {},
    Service: null,
    Checks: [],
    SkipNodeUpdate: false,
    ...extra,
  };
  return { op: "catalog-register", req, time: 1000 };
}

function deregister(node: string, ids: { ServiceID?: string; CheckID?: string } = {}): KvCommand {
  return {
    op: "catalog-deregister",
    req: { Node: node, Datacenter: "dc1", ServiceID: ids.ServiceID ?? "", CheckID: ids.CheckID ?? "" },
    time: 1000,
  };
}

function session(id: string, node: string, nodeChecks: string[] | null = ["serfHealth"]): KvCommand {
  const spec: SessionSpec = {
    ID: id,
    Name: "",
    Node: node,
    LockDelay: 0,
    Behavior: "release",
    TTL: "",
    NodeChecks: nodeChecks,
    ServiceChecks: null,
  };
  return { op: "session-create", session: spec, time: 1000, checked: true };
}

/** A store with node n1 (serfHealth passing), service web on it with check web-check. */
function seeded(): KvStore {
  const s = new KvStore();
  assert.equal(s.execute(1, register("n1", { Checks: [check("n1", "serfHealth", "passing")] })), true);
  const web = register("n1", {
    Service: service("web", "web", ["v1"]),
    Checks: [check("n1", "web-check", "passing", "web")],
  });
  assert.equal(s.execute(2, web), true);
  return s;
}

describe("catalog register and deregister", () => {
  it("registers a node, a service and checks with Consul's indexes", () => {
    const s = seeded();
    const r = s.catalogReads;
    assert.deepEqual(
      r.nodes().value.map((n) => [n.Node, n.CreateIndex, n.ModifyIndex]),
      [["n1", 1, 1]],
    );
    assert.equal(r.nodes().index, 1);
    assert.deepEqual(r.services().value, { web: ["v1"] });
    assert.equal(r.services().index, 2);
    const web = r.service("web", []);
    assert.equal(web.index, 2);
    assert.equal(web.value[0]?.ServicePort, 8080);
    assert.equal(r.service("web", ["V1"]).value.length, 1, "tags match case-insensitively");
    assert.equal(r.service("web", ["v2"]).value.length, 0);
    const entry = r.healthService("web", [], false).value[0];
    assert.deepEqual(
      entry?.Checks.map((c) => [c.CheckID, c.ServiceName]),
      [
        ["serfHealth", ""],
        ["web-check", "web"],
      ],
    );
    assert.equal(r.healthNode("n1").index, 2);
  });

  it("skips a write that changes nothing: indexes stay", () => {
    const s = seeded();
    const web = register("n1", { Service: service("web", "web", ["v1"]) });
    assert.equal(s.execute(3, web), true);
    assert.equal(s.catalogReads.service("web", []).index, 2);
    assert.equal(s.catalogReads.nodes().value[0]?.ModifyIndex, 1);
  });

  it("SkipNodeUpdate leaves an existing node as it is and still registers the service", () => {
    const s = seeded();
    const skip = register("n1", { Address: "10.9.9.9", SkipNodeUpdate: true, Service: service("db") });
    assert.equal(s.execute(3, skip), true);
    const node = s.catalogReads.nodes().value[0];
    assert.equal(node?.Address, "10.0.0.1");
    assert.equal(node?.ModifyIndex, 1);
    assert.equal(s.catalogReads.service("db", []).index, 3);
  });

  it("defaults a check's status to critical and moves the service's index on a check change", () => {
    const s = seeded();
    assert.equal(s.execute(5, register("n1", { Checks: [check("n1", "web-check", "", "web")] })), true);
    const c = s.catalogReads.healthChecks("web");
    assert.equal(c.value[0]?.Status, "critical");
    assert.equal(c.index, 5);
    assert.equal(s.catalogReads.healthService("web", [], true).value.length, 0, "?passing drops it");
    assert.equal(s.catalogReads.healthState("critical").value.length, 1);
    // A node-level check moves every service of the node.
    assert.equal(s.execute(6, register("n1", { Checks: [check("n1", "serfHealth", "warning")] })), true);
    assert.equal(s.catalogReads.service("web", []).index, 6);
  });

  it("refuses a check of an unknown service, changing nothing", () => {
    const s = seeded();
    const bad = register("n2", { Checks: [check("n2", "c", "passing", "nope")] });
    const r = s.execute(3, bad);
    assert.ok(r instanceof CatalogError);
    assert.equal(r.message, "failed inserting check: Missing service registration");
    assert.equal(s.catalogReads.nodes().value.length, 1, "n2 was not registered either");
    const skip = register("n3", { SkipNodeUpdate: true, Service: service("x") });
    assert.equal(
      (s.execute(4, skip) as Error).message,
      "failed inserting service: Missing node registration",
    );
  });

  it("deregisters a service with its checks; the last instance leaves an extinction index", () => {
    const s = seeded();
    assert.equal(s.execute(7, deregister("n1", { ServiceID: "web" })), true);
    const r = s.catalogReads;
    assert.deepEqual(r.services().value, {});
    assert.equal(r.service("web", []).index, 7, "a blocked query wakes when the last instance goes");
    assert.deepEqual(
      r.healthNode("n1").value.map((c) => c.CheckID),
      ["serfHealth"],
    );
    assert.equal(s.execute(8, deregister("nope")), true, "unknown node: no error");
    assert.equal(s.execute(9, deregister("n1")), true);
    assert.deepEqual(r.nodes().value, []);
    assert.deepEqual(s.catalogReads.healthState("any").value, []);
    assert.equal(s.catalogReads.nodeServices("n1").value, null);
  });
});

describe("sessions bound to catalog checks", () => {
  it("refuses a session without its node or checks, or with a critical check, with Consul's texts", () => {
    const s = seeded();
    const msg = (r: unknown): string => (r as Error).message;
    assert.equal(msg(s.execute(3, session("s1", "ghost"))), "Missing node registration");
    assert.equal(msg(s.execute(4, session("s1", "n1", ["nope"]))), "Missing check 'nope' registration");
    s.execute(5, register("n1", { Checks: [check("n1", "bad", "critical")] }));
    assert.equal(msg(s.execute(6, session("s1", "n1", ["bad"]))), "Check 'bad' is in critical state");
    assert.equal(s.sessionList().sessions.length, 0);
    assert.equal(s.execute(7, session("s1", "n1")), true);
    // A session-create from before the catalog (unchecked) keeps its old semantics.
    const old: KvCommand = { ...(session("s2", "ghost") as Extract<KvCommand, { op: "session-create" }>) };
    assert.equal(s.execute(8, { ...old, checked: false } as KvCommand), true);
  });

  it("a check going critical ends its sessions and releases their locks in the same apply", () => {
    const s = seeded();
    assert.equal(s.execute(3, session("s1", "n1", ["serfHealth", "web-check"])), true);
    assert.equal(s.execute(4, session("s2", "n1", [])), true);
    assert.equal(
      s.execute(5, { op: "acquire", key: "lock", value: bytes("x"), flags: 0n, session: "s1" }),
      true,
    );
    assert.equal(
      s.execute(6, register("n1", { Checks: [check("n1", "web-check", "critical", "web")] })),
      true,
    );
    assert.deepEqual(
      s.sessionList().sessions.map((x) => x.ID),
      ["s2"],
    );
    assert.equal(s.get("lock").entry?.Session, "");
    assert.equal(s.get("lock").entry?.ModifyIndex, 6);
  });

  it("deregistering a node ends every session on it; deregistering a check ends those bound to it", () => {
    const s = seeded();
    s.execute(3, session("s1", "n1", ["web-check"]));
    s.execute(4, session("s2", "n1", []));
    s.execute(5, deregister("n1", { CheckID: "web-check" }));
    assert.deepEqual(
      s.sessionList().sessions.map((x) => x.ID),
      ["s2"],
    );
    s.execute(6, deregister("n1"));
    assert.deepEqual(s.sessionList().sessions, []);
  });
});

describe("catalog commands and snapshots", () => {
  it("encodes and decodes catalog commands; refuses a payload not in canonical form", () => {
    const seedCmd = register("n1", {
      Service: service("web", "web", ["a"]),
      NodeMeta: { k: "v" },
      Checks: [{ ...check("n1", "c", "passing", "web"), Definition: { HTTP: "http://x", Interval: "10s" } }],
    });
    for (const cmd of [seedCmd, deregister("n1", { ServiceID: "web" }), session("s", "n1")]) {
      const enc = encodeCommand(cmd);
      assert.deepEqual(decodeCommand(enc), cmd);
      assert.deepEqual(encodeCommand(decodeCommand(enc)), enc);
    }
    const enc = encodeCommand(deregister("n1"));
    const text = new TextDecoder().decode(enc.subarray(14));
    const spaced = new TextEncoder().encode(text.replace(",", ", "));
    const bad = new Uint8Array(14 + spaced.length);
    bad.set(enc.subarray(0, 14));
    bad.set(spaced, 14);
    new DataView(bad.buffer).setUint32(10, spaced.length);
    assert.throws(() => decodeCommand(bad), CommandDecodeError);
  });

  it("restore(records(snapshot)) gives the same catalog, indexes and bytes", () => {
    const s = seeded();
    s.execute(
      3,
      register("n2", { Service: service("web2", "web"), Checks: [check("n2", "c", "warning", "web2")] }),
    );
    s.execute(4, deregister("n1", { ServiceID: "web" }));
    const c = new KvStore();
    c.restore(s.snapshot().records());
    for (const read of [
      (x: KvStore) => x.catalogReads.nodes(),
      (x: KvStore) => x.catalogReads.services(),
      (x: KvStore) => x.catalogReads.healthService("web", [], false),
      (x: KvStore) => x.catalogReads.healthState("any"),
    ]) {
      assert.deepEqual(read(c), read(s));
    }
    const recs = (x: KvStore) => [...x.snapshot().records()].map((r) => Buffer.from(r.body).toString("hex"));
    assert.deepEqual(recs(c), recs(s));
    // The restored store goes on with the same indexes.
    s.execute(5, deregister("n2"));
    c.execute(5, deregister("n2"));
    assert.deepEqual(recs(c), recs(s));
    assert.equal(c.catalogReads.service("web", []).index, 5);
  });
});

describe("catalog properties", () => {
  const nodeArb = fc.constantFrom("a", "b", "c");
  const svcArb = fc.constantFrom("web", "db", "web2");
  const statusArb = fc.constantFrom("passing", "warning", "critical", "");
  const cmdArb: fc.Arbitrary<KvCommand> = fc.oneof(
    fc
      .record({ node: nodeArb, svc: fc.option(svcArb, { nil: null }), tags: fc.subarray(["x", "y"]) })
      .map(({ node, svc, tags }) =>
        register(node, { Service: svc === null ? null : service(svc, svc.replace("2", ""), tags) }),
      ),
    fc
      .record({ node: nodeArb, id: fc.constantFrom("serfHealth", "c1"), status: statusArb })
      .map(({ node, id, status }) => register(node, { Checks: [check(node, id, status)] })),
    fc.record({ node: nodeArb, svc: svcArb, status: statusArb }).map(({ node, svc, status }) =>
      register(node, {
        Service: service(svc, svc.replace("2", "")),
        Checks: [check(node, `s-${svc}`, status, svc)],
      }),
    ),
    fc
      .record({
        node: nodeArb,
        svc: fc.option(svcArb, { nil: undefined }),
        c: fc.option(fc.constant("c1"), { nil: undefined }),
      })
      .map(({ node, svc, c }) =>
        deregister(node, {
          ...(svc !== undefined ? { ServiceID: svc } : {}),
          ...(c !== undefined ? { CheckID: c } : {}),
        }),
      ),
    fc.record({ id: fc.constantFrom("s1", "s2"), node: nodeArb }).map(({ id, node }) => session(id, node)),
  );

  it("keeps its invariants, agrees across replicas and restores from its own records", () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { maxLength: 40 }), fc.nat(40), (cmds, cut) => {
        const a = new KvStore();
        const results = cmds.map((c, i) => a.execute(i + 1, c));
        const r = a.catalogReads;
        // No service or check outlives its node; a service check's service exists; no session outlives its node.
        const nodes = new Set(r.nodes().value.map((n) => n.Node));
        for (const [name] of Object.entries(r.services().value)) {
          for (const s of r.service(name, []).value) assert.ok(nodes.has(s.Node));
        }
        for (const c of r.healthState("any").value) {
          assert.ok(nodes.has(c.Node));
          if (c.ServiceID !== "") assert.ok(a.catalogReads.nodeServices(c.Node).value?.Services[c.ServiceID]);
        }
        for (const s of a.sessionList().sessions) assert.ok(nodes.has(s.Node));
        // A replica restored midway and fed the rest gives the same results and records.
        const at = Math.min(cut, cmds.length);
        const mid = new KvStore();
        for (const [i, c] of cmds.slice(0, at).entries()) mid.execute(i + 1, c);
        const b = new KvStore();
        b.restore(mid.snapshot().records());
        const rb = cmds.slice(at).map((c, i) => b.execute(at + i + 1, c));
        assert.deepEqual(rb.map(String), results.slice(at).map(String));
        const bytes = (x: KvStore) =>
          [...x.snapshot().records()].map((rec) => Buffer.from(rec.body).toString("hex"));
        assert.deepEqual(bytes(b), bytes(a));
        for (const name of ["web", "db"]) {
          assert.deepEqual(b.catalogReads.healthService(name, [], false), r.healthService(name, [], false));
        }
      }),
      { numRuns: 200 },
    );
  });
});
