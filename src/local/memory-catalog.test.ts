/**
 * MemoryCatalog: an in-memory twin of the catalog's write and read rules (consul-compat.md §8.2), implementing
 * CatalogSync for the anti-entropy tests. A test double for a port, used only by unit tests; its own rules are
 * tested here so the anti-entropy tests stand on something checked.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Queried } from "../api/types.js";
import type {
  CatalogDeregisterRequest,
  CatalogRegisterRequest,
  CheckSpec,
  HealthCheckJson,
  NodeJson,
  NodeServicesJson,
  ServiceJson,
  ServiceSpec,
} from "../fsm/index.js";
import type { CatalogSync } from "./anti-entropy.js";

interface MemNode {
  node: NodeJson;
  services: Map<string, ServiceJson>;
  checks: Map<string, HealthCheckJson>;
}

export class CatalogRuleError extends Error {}

/** Builders of full requests from the fields a test cares about (the rest at their zero values). */
export function svc(s: Partial<ServiceSpec>): ServiceSpec {
  return {
    ID: "",
    Service: "",
    Tags: [],
    Address: "",
    TaggedAddresses: {},
    Meta: {},
    Port: 0,
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: false,
    Kind: "",
    ...s,
  };
}

export function chk(c: Partial<CheckSpec>): CheckSpec {
  return {
    Node: "",
    CheckID: "",
    Name: "",
    Status: "",
    Notes: "",
    Output: "",
    ServiceID: "",
    Type: "",
    Definition: {},
    ...c,
  };
}

export function reg(r: Partial<CatalogRegisterRequest> & { Node: string }): CatalogRegisterRequest {
  return {
    ID: "",
    Address: "",
    Datacenter: "dc1",
    TaggedAddresses: {},
    NodeMeta: {},
    Service: null,
    Checks: [],
    SkipNodeUpdate: false,
    ...r,
  };
}

export function dereg(r: Partial<CatalogDeregisterRequest> & { Node: string }): CatalogDeregisterRequest {
  return { Datacenter: "dc1", ServiceID: "", CheckID: "", ...r };
}

/**
 * The catalog's rules of §8.2 over plain maps: node upsert (SkipNodeUpdate keeps an existing node), service ID
 * defaulting to its name, checks with Node, CheckID (default Name), Status (default critical) and the name and
 * tags of their service, which must exist; deregistration of a node, a service with its checks, or a check.
 */
export class MemoryCatalog implements CatalogSync {
  readonly nodes = new Map<string, MemNode>();
  /** Every write, in order: "register <node> <service|-> [checks]" / "deregister <node> <service|check|->". */
  readonly log: string[] = [];
  /** Rejects the next call with this error, then clears. */
  failNext: Error | null = null;
  index = 1;

  private meta() {
    return { index: this.index, knownLeader: true, lastContactMs: 0, consistency: "default" as const };
  }

  private maybeFail(): void {
    const e = this.failNext;
    this.failNext = null;
    if (e !== null) throw e;
  }

  private upsertNode(req: CatalogRegisterRequest): MemNode {
    const have = this.nodes.get(req.Node);
    if (req.SkipNodeUpdate && have !== undefined) return have;
    if (req.Address === "") throw new CatalogRuleError("Must provide address if SkipNodeUpdate is not set");
    const node: NodeJson = {
      ID: req.ID,
      Node: req.Node,
      Address: req.Address,
      Datacenter: req.Datacenter,
      TaggedAddresses: { ...req.TaggedAddresses },
      Meta: { ...req.NodeMeta },
      CreateIndex: have?.node.CreateIndex ?? this.index,
      ModifyIndex: this.index,
    };
    const n = have ?? { node, services: new Map(), checks: new Map() };
    n.node = node;
    this.nodes.set(req.Node, n);
    return n;
  }

  async catalogRegister(req: CatalogRegisterRequest): Promise<void> {
    this.maybeFail();
    if (req.Node === "") throw new CatalogRuleError("Must provide node");
    const s = req.Service;
    if (s !== null && s.Service === "") throw new CatalogRuleError("Must provide service name with ID");
    const n = this.upsertNode(req);
    if (s !== null) {
      const id = s.ID || s.Service;
      const { Kind: _kind, ...rest } = s;
      n.services.set(id, { ...rest, ID: id, CreateIndex: this.index, ModifyIndex: this.index });
    }
    for (const c of req.Checks) {
      const owner = c.ServiceID === "" ? undefined : n.services.get(c.ServiceID);
      if (c.ServiceID !== "" && owner === undefined)
        throw new CatalogRuleError(`Unknown service ID ${c.ServiceID} for check`);
      const id = c.CheckID || c.Name;
      n.checks.set(id, {
        ...c,
        Node: req.Node,
        CheckID: id,
        Status: c.Status || "critical",
        ServiceName: owner?.Service ?? "",
        ServiceTags: owner?.Tags ?? [],
        Interval: c.Definition.Interval ?? "",
        Timeout: c.Definition.Timeout ?? "",
        ExposedPort: 0,
        CreateIndex: this.index,
        ModifyIndex: this.index,
      });
    }
    this.index++;
    this.log.push(`register ${req.Node} ${s?.ID ?? "-"} [${req.Checks.map((c) => c.CheckID).join(",")}]`);
  }

  async catalogDeregister(req: CatalogDeregisterRequest): Promise<void> {
    this.maybeFail();
    const n = this.nodes.get(req.Node);
    this.log.push(`deregister ${req.Node} ${req.ServiceID || req.CheckID || "-"}`);
    this.index++;
    if (n === undefined) return;
    if (req.ServiceID !== "") {
      n.services.delete(req.ServiceID);
      for (const [id, c] of n.checks) if (c.ServiceID === req.ServiceID) n.checks.delete(id);
    } else if (req.CheckID !== "") n.checks.delete(req.CheckID);
    else this.nodes.delete(req.Node);
  }

  async catalogNodeServices(node: string): Promise<Queried<NodeServicesJson | null>> {
    this.maybeFail();
    const n = this.nodes.get(node);
    const value = n === undefined ? null : { Node: n.node, Services: Object.fromEntries(n.services) };
    return { meta: this.meta(), value };
  }

  async healthNode(node: string): Promise<Queried<HealthCheckJson[]>> {
    this.maybeFail();
    return { meta: this.meta(), value: [...(this.nodes.get(node)?.checks.values() ?? [])] };
  }

  /** A service on a node as the catalog holds it. */
  service(node: string, id: string): ServiceJson | undefined {
    return this.nodes.get(node)?.services.get(id);
  }

  check(node: string, id: string): HealthCheckJson | undefined {
    return this.nodes.get(node)?.checks.get(id);
  }
}

describe("MemoryCatalog (the anti-entropy tests' catalog) follows §8.2", () => {
  it("requires a node and an address unless SkipNodeUpdate names an existing node", async () => {
    const c = new MemoryCatalog();
    await assert.rejects(c.catalogRegister(reg({ Node: "", Address: "1.2.3.4" })), /Must provide node/);
    await assert.rejects(c.catalogRegister(reg({ Node: "n" })), /Must provide address/);
    await c.catalogRegister(reg({ Node: "n", Address: "1.2.3.4" }));
    await c.catalogRegister(reg({ Node: "n", SkipNodeUpdate: true }));
    assert.equal(c.nodes.get("n")?.node.Address, "1.2.3.4");
  });

  it("defaults service IDs and check IDs and statuses, and refuses a check of an unknown service", async () => {
    const c = new MemoryCatalog();
    await c.catalogRegister(
      reg({ Node: "n", Address: "a", Service: svc({ Service: "web" }), Checks: [chk({ Name: "x" })] }),
    );
    assert.equal(c.service("n", "web")?.ID, "web");
    assert.equal(c.check("n", "x")?.Status, "critical");
    await assert.rejects(
      c.catalogRegister(reg({ Node: "n", Address: "a", Checks: [chk({ CheckID: "y", ServiceID: "db" })] })),
    );
  });

  it("deregisters a service with its checks, a check alone, or a whole node; unknown nodes are fine", async () => {
    const c = new MemoryCatalog();
    await c.catalogRegister(
      reg({
        Node: "n",
        Address: "a",
        Service: svc({ Service: "web" }),
        Checks: [chk({ CheckID: "w", ServiceID: "web" }), chk({ CheckID: "node" })],
      }),
    );
    await c.catalogDeregister(dereg({ Node: "n", ServiceID: "web" }));
    assert.equal(c.check("n", "w"), undefined);
    assert.notEqual(c.check("n", "node"), undefined);
    await c.catalogDeregister(dereg({ Node: "n", CheckID: "node" }));
    assert.equal(c.check("n", "node"), undefined);
    await c.catalogDeregister(dereg({ Node: "n" }));
    assert.equal((await c.catalogNodeServices("n")).value, null);
    await c.catalogDeregister(dereg({ Node: "gone" }));
  });
});
