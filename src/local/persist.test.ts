import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { readDefinitions } from "./config.js";
import { parseServiceRegistration } from "./defs.js";
import { idHash, LocalPersist, LocalPersistError } from "./persist.js";
import { LocalState } from "./state.js";
import { ManualTimers } from "./timers.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "cairn-local-"));
  dirs.push(d);
  return d;
}

function agent(dir: string, startMs: number) {
  const timers = new ManualTimers(startMs);
  const local = new LocalState({
    nodeName: "n1",
    datacenter: "dc1",
    timers,
    persist: new LocalPersist(dir),
    random: () => 0,
  });
  return { local, timers };
}

const T0 = 1_700_000_000_000;

describe("persistence of API registrations in the data dir (Consul's layout)", () => {
  it("writes services/<md5>, checks/<md5> and checks/state/<md5> in Consul's shapes", async () => {
    const dir = tempDir();
    const { local } = agent(dir, T0);
    await local.registerServiceJson(
      { Name: "web", Port: 80, Check: { CheckID: "web-ttl", TTL: "30s" } },
      false,
    );
    await local.updateTtl("web-ttl", "passing", "up");
    const svc = JSON.parse(readFileSync(join(dir, "services", idHash("web")), "utf8"));
    assert.equal(idHash("web"), "2567a5ec9705eb7ac2c984033e06189d");
    assert.deepEqual(Object.keys(svc), ["Token", "Service", "Source"]);
    assert.equal(svc.Service.Service, "web");
    const chk = JSON.parse(readFileSync(join(dir, "checks", idHash("web-ttl")), "utf8"));
    assert.deepEqual(Object.keys(chk), ["Check", "ChkType", "Token", "Source"]);
    assert.equal(chk.ChkType.TTL, 30e9, "durations as integer nanoseconds");
    const st = JSON.parse(readFileSync(join(dir, "checks", "state", idHash("web-ttl")), "utf8"));
    assert.deepEqual(st, { CheckID: "web-ttl", Output: "up", Status: "passing", Expires: T0 / 1000 + 30 });
    local.stop();
  });

  it("a restart within the TTL keeps the TTL state; after it the check starts critical", async () => {
    const dir = tempDir();
    const a = agent(dir, T0);
    await a.local.registerServiceJson({ Name: "web", Check: { TTL: "30s" } }, false);
    await a.local.registerCheckJson({ Name: "node-ttl", TTL: "30s" });
    await a.local.updateTtl("service:web", "passing", "up");
    await a.local.updateTtl("node-ttl", "warning", "meh");
    a.local.stop();
    const b = agent(dir, T0 + 10_000);
    await b.local.load();
    assert.deepEqual(b.local.service("web")?.Service, "web");
    assert.deepEqual(
      [b.local.check("service:web")?.Status, b.local.check("service:web")?.Output],
      ["passing", "up"],
    );
    assert.equal(b.local.check("node-ttl")?.Status, "warning");
    b.timers.advance(30_000);
    assert.equal(
      b.local.check("service:web")?.Output,
      "TTL expired (last output before timeout follows): up",
    );
    b.local.stop();
    const c = agent(dir, T0 + 60_000);
    await c.local.load();
    assert.deepEqual(
      [c.local.check("node-ttl")?.Status, c.local.check("node-ttl")?.Output],
      ["critical", ""],
    );
    c.local.stop();
  });

  it("deletes the files on deregistration, skips temp files, and lets config-file definitions win", async () => {
    const dir = tempDir();
    const a = agent(dir, T0);
    await a.local.registerServiceJson({ Name: "web", Check: { TTL: "30s" } }, false);
    await a.local.registerServiceJson({ Name: "db", Check: { TTL: "30s" } }, false);
    await a.local.updateTtl("service:db", "passing", "");
    await a.local.deregisterService("db");
    assert.equal(existsSync(join(dir, "services", idHash("db"))), false);
    assert.equal(existsSync(join(dir, "checks", idHash("service:db"))), false);
    assert.equal(existsSync(join(dir, "checks", "state", idHash("service:db"))), false);
    a.local.stop();
    writeFileSync(join(dir, "services", "abc.tmp"), "{half");
    const b = agent(dir, T0);
    await b.local.addService(parseServiceRegistration({ Name: "web", Port: 9 }), { persist: false });
    await b.local.load();
    assert.equal(b.local.service("web")?.Port, 9);
    assert.deepEqual(
      readdirSync(join(dir, "services")),
      ["abc.tmp"],
      "the persisted copy of a config service is purged",
    );
    assert.equal(
      b.local.check("service:web")?.Status,
      "critical",
      "a persisted check of a live service comes back",
    );
    b.local.stop();
  });

  it("refuses a corrupt file with its path", async () => {
    const dir = tempDir();
    const a = agent(dir, T0);
    await a.local.registerServiceJson({ Name: "web" }, false);
    writeFileSync(join(dir, "services", idHash("web")), "{not json");
    const b = agent(dir, T0);
    await assert.rejects(
      b.local.load(),
      (e) => e instanceof LocalPersistError && e.message.includes(idHash("web")),
    );
  });

  it("keeps each registration's ACL token in its 0600 file and gets it back after a restart", async () => {
    const dir = tempDir();
    const a = agent(dir, T0);
    await a.local.registerServiceJson(
      { Name: "web", Check: { CheckID: "web-ttl", TTL: "30s" } },
      false,
      "svc-tok",
    );
    await a.local.registerServiceJson({ Name: "db" }, false);
    await a.local.registerCheckJson({ Name: "disk", TTL: "30s" }, "chk-tok");
    await a.local.serviceMaintenance("web", true, "");
    await a.local.updateTtl("web-ttl", "passing", "up");
    const file = (sub: string, id: string) => join(dir, sub, idHash(id));
    assert.equal(JSON.parse(readFileSync(file("services", "web"), "utf8")).Token, "svc-tok");
    assert.equal(JSON.parse(readFileSync(file("services", "db"), "utf8")).Token, "");
    assert.equal(JSON.parse(readFileSync(file("checks", "web-ttl"), "utf8")).Token, "svc-tok");
    assert.equal(JSON.parse(readFileSync(file("checks", "disk"), "utf8")).Token, "chk-tok");
    const maint = JSON.parse(readFileSync(file("checks", "_service_maintenance:web"), "utf8"));
    assert.equal(maint.Token, "svc-tok", "service maintenance without a token takes the service's");
    for (const path of [
      file("services", "web"),
      file("checks", "web-ttl"),
      file("checks", "disk"),
      file("checks/state", "web-ttl"),
    ])
      assert.equal(statSync(path).mode & 0o777, 0o600, `${path} holds a secret: 0600`);
    a.local.stop();
    const b = agent(dir, T0);
    await b.local.load();
    assert.deepEqual(
      [b.local.serviceToken("web"), b.local.serviceToken("db"), b.local.checkToken("web-ttl")],
      ["svc-tok", "", "svc-tok"],
    );
    assert.equal(b.local.checkToken("disk"), "chk-tok");
    assert.equal(b.local.checkToken("_service_maintenance:web"), "svc-tok");
    assert.equal(JSON.stringify(b.local.checks()).includes("tok"), false, "never shown by the reads");
    b.local.stop();
  });

  it("loads files without a Token (older cairn, Consul's with null) and refuses a Token that is not a string", async () => {
    const dir = tempDir();
    const a = agent(dir, T0);
    await a.local.registerServiceJson({ Name: "web" }, false, "t");
    a.local.stop();
    const path = join(dir, "services", idHash("web"));
    const doc = JSON.parse(readFileSync(path, "utf8"));
    writeFileSync(path, JSON.stringify({ ...doc, Token: null }));
    const b = agent(dir, T0);
    await b.local.load();
    assert.equal(b.local.serviceToken("web"), "");
    b.local.stop();
    writeFileSync(path, JSON.stringify({ ...doc, Token: 7 }));
    const c = agent(dir, T0);
    await assert.rejects(
      c.local.load(),
      (e) => e instanceof LocalPersistError && /bad Token 7/.test(e.message),
    );
    c.local.stop();
  });

  it("a config file's service token is kept for the service and its checks, and not persisted", async () => {
    const dir = tempDir();
    const defs = readDefinitions({ service: { name: "web", token: "cfg-tok", check: { ttl: "30s" } } });
    assert.throws(() => readDefinitions({ service: { name: "x", token: 1 } }), /"token" must be a string/);
    const a = agent(dir, T0);
    for (const s of defs.services) await a.local.addService(s, { persist: false });
    assert.deepEqual(
      [a.local.serviceToken("web"), a.local.checkToken("service:web")],
      ["cfg-tok", "cfg-tok"],
    );
    assert.equal(existsSync(join(dir, "services")), false);
    a.local.stop();
  });
});
