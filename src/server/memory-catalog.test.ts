/**
 * MemoryCatalog: an in-memory twin of the catalog's write and read rules (consul-compat.md §8.2), implementing
 * CatalogSync for the anti-entropy tests. A test double for a port, used only by unit tests; its own rules are
 * tested here so the anti-entropy tests stand on something checked.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type {
  CatalogCheck,
  CatalogService,
  CatalogSync,
  DeregisterRequest,
  NodeServices,
  RegisterRequest,
} from "./anti-entropy.js";
import type { Queried } from "./api.js";
import type { Json } from "./local-json.js";

type Obj = Readonly<Record<string, Json>>;

interface MemNode {
  address: string;
  tagged: Record<string, string>;
  meta: Record<string, string>;
  services: Map<string, CatalogService>;
  checks: Map<string, CatalogCheck & Obj>;
}

export class CatalogRuleError extends Error {}

export class MemoryCatalog implements CatalogSync {
  readonly nodes = new Map<string, MemNode>();
  /** Every write, in order: "register <node> <service|-> <checks>" / "deregister <node> <service|check|->". */
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

  async catalogRegister(req: RegisterRequest): Promise<boolean> {
    this.maybeFail();
    if (req.Node === "") throw new CatalogRuleError("Must provide node");
    let node = this.nodes.get(req.Node);
    if (!(req.SkipNodeUpdate && node !== undefined)) {
      if (req.Address === "") throw new CatalogRuleError("Must provide address if SkipNodeUpdate is not set");
      const fresh = { address: req.Address, tagged: { ...req.TaggedAddresses }, meta: { ...req.NodeMeta } };
      node =
        node === undefined
          ? { ...fresh, services: new Map(), checks: new Map() }
          : Object.assign(node, fresh);
      this.nodes.set(req.Node, node);
    }
    const n = node as MemNode;
    if (req.Service !== undefined) {
      const name = String(req.Service.Service ?? "");
      const id = String(req.Service.ID || name);
      if (name === "") throw new CatalogRuleError("Must provide service name with ID");
      n.services.set(id, { ...req.Service, ID: id } as CatalogService);
    }
    const checks = [...(req.Check === undefined ? [] : [req.Check]), ...(req.Checks ?? [])];
    for (const c of checks) {
      const sid = String(c.ServiceID ?? "");
      if (sid !== "" && !n.services.has(sid))
        throw new CatalogRuleError(`Unknown service ID ${sid} for check`);
      const id = String(c.CheckID || c.Name);
      n.checks.set(id, { ...c, Node: req.Node, CheckID: id, Status: c.Status || "critical" } as CatalogCheck &
        Obj);
    }
    this.index++;
    this.log.push(
      `register ${req.Node} ${String(req.Service?.ID ?? "-")} [${checks.map((c) => c.CheckID).join(",")}]`,
    );
    return true;
  }

  async catalogDeregister(req: DeregisterRequest): Promise<boolean> {
    this.maybeFail();
    const n = this.nodes.get(req.Node);
    this.log.push(`deregister ${req.Node} ${req.ServiceID ?? req.CheckID ?? "-"}`);
    this.index++;
    if (n === undefined) return true;
    if (req.ServiceID !== undefined) {
      n.services.delete(req.ServiceID);
      for (const [id, c] of n.checks) if (c.ServiceID === req.ServiceID) n.checks.delete(id);
    } else if (req.CheckID !== undefined) n.checks.delete(req.CheckID);
    else this.nodes.delete(req.Node);
    return true;
  }

  async catalogNodeServices(node: string): Promise<Queried<NodeServices | null>> {
    this.maybeFail();
    const n = this.nodes.get(node);
    if (n === undefined) return { meta: this.meta(), value: null };
    return {
      meta: this.meta(),
      value: {
        Node: { Address: n.address, TaggedAddresses: { ...n.tagged }, Meta: { ...n.meta } },
        Services: Object.fromEntries(n.services),
      },
    };
  }

  async healthNode(node: string): Promise<Queried<readonly CatalogCheck[]>> {
    this.maybeFail();
    return { meta: this.meta(), value: [...(this.nodes.get(node)?.checks.values() ?? [])] };
  }

  /** Test helper: a service on a node as the catalog holds it. */
  service(node: string, id: string): CatalogService | undefined {
    return this.nodes.get(node)?.services.get(id);
  }

  check(node: string, id: string): (CatalogCheck & Obj) | undefined {
    return this.nodes.get(node)?.checks.get(id);
  }
}

describe("MemoryCatalog (the anti-entropy tests' catalog) follows §8.2", () => {
  it("requires a node and an address unless SkipNodeUpdate names an existing node", async () => {
    const c = new MemoryCatalog();
    await assert.rejects(c.catalogRegister({ Node: "", Address: "1.2.3.4" }), /Must provide node/);
    await assert.rejects(c.catalogRegister({ Node: "n", Address: "" }), /Must provide address/);
    await c.catalogRegister({ Node: "n", Address: "1.2.3.4" });
    await c.catalogRegister({ Node: "n", Address: "", SkipNodeUpdate: true });
    assert.equal(c.nodes.get("n")?.address, "1.2.3.4");
  });

  it("defaults service IDs and check IDs and statuses, and refuses a check of an unknown service", async () => {
    const c = new MemoryCatalog();
    await c.catalogRegister({ Node: "n", Address: "a", Service: { Service: "web" }, Check: { Name: "x" } });
    assert.equal(c.service("n", "web")?.ID, "web");
    assert.equal(c.check("n", "x")?.Status, "critical");
    await assert.rejects(
      c.catalogRegister({ Node: "n", Address: "a", Check: { CheckID: "y", ServiceID: "db" } }),
    );
  });

  it("deregisters a service with its checks, a check alone, or a whole node; unknown nodes are fine", async () => {
    const c = new MemoryCatalog();
    await c.catalogRegister({
      Node: "n",
      Address: "a",
      Service: { Service: "web" },
      Checks: [{ CheckID: "w", ServiceID: "web" }, { CheckID: "node" }],
    });
    await c.catalogDeregister({ Node: "n", ServiceID: "web" });
    assert.equal(c.check("n", "w"), undefined);
    assert.notEqual(c.check("n", "node"), undefined);
    await c.catalogDeregister({ Node: "n", CheckID: "node" });
    assert.equal(c.check("n", "node"), undefined);
    await c.catalogDeregister({ Node: "n" });
    assert.equal((await c.catalogNodeServices("n")).value, null);
    assert.equal(await c.catalogDeregister({ Node: "gone" }), true);
  });
});
