import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ProbeResult } from "./checks-probe.js";
import { captureOutput } from "./checks-ttl.js";
import { LocalStateError, parseServiceRegistration } from "./defs.js";
import { LocalState } from "./state.js";
import { ManualTimers } from "./timers.js";

function make(probe?: () => ProbeResult) {
  const timers = new ManualTimers();
  const p = async () => probe?.() ?? { status: "passing" as const, output: "ok" };
  const local = new LocalState({
    nodeName: "n1",
    datacenter: "dc1",
    timers,
    persist: null,
    random: () => 0,
    probeHttp: p,
    probeTcp: p,
  });
  let changes = 0;
  local.onChange(() => changes++);
  return { timers, local, changes: () => changes };
}

/** Lets the promises of a probe settle. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

function code(e: unknown): string {
  return e instanceof LocalStateError ? `${e.status} ${e.message}` : String(e);
}

describe("local services and checks: Consul's defaults", () => {
  it("IDs default to the name; one check is service:<id>, several are service:<id>:<n>; checks start critical", async () => {
    const { local } = make();
    await local.registerServiceJson({ Name: "web", Port: 80, Check: { TTL: "10s" } }, false);
    assert.deepEqual(local.service("web")?.Weights, { Passing: 1, Warning: 1 });
    const c = local.check("service:web");
    assert.equal(c?.Status, "critical");
    assert.equal(c?.Name, "Service 'web' check");
    assert.equal(c?.ServiceName, "web");
    assert.equal(c?.Type, "ttl");
    await local.registerServiceJson(
      {
        name: "db",
        id: "db1",
        check: { ttl: "5s" },
        checks: [
          { http: "http://x/", interval: "10s" },
          { TCP: "x:1", Interval: 1e10 },
        ],
      },
      false,
    );
    assert.deepEqual(
      local
        .checks()
        .filter((x) => x.ServiceID === "db1")
        .map((x) => [x.CheckID, x.Type, x.Interval]),
      [
        ["service:db1:1", "ttl", ""],
        ["service:db1:2", "http", "10s"],
        ["service:db1:3", "tcp", "10s"],
      ],
    );
  });

  it("refuses bad input with Consul's texts and changes nothing", async () => {
    const { local } = make();
    const bad: [Record<string, unknown>, string][] = [
      [{}, "400 Missing service name"],
      [{ Name: "a", Address: "0.0.0.0" }, "400 Invalid service address"],
      [{ Name: "a", Address: "[::]" }, "400 Invalid service address"],
      [{ Name: "a", Weights: { Passing: 0 } }, "400 Invalid Weights: Passing must be greater than 0"],
      [
        { Name: "a", Meta: { "consul-x": "1" } },
        "400 Invalid Service Meta: Couldn't load metadata pair ('consul-x', '1'): Key prefix 'consul-' is reserved for internal use",
      ],
      [
        { Name: "a", Meta: { "a b": "1" } },
        "400 Invalid Service Meta: Couldn't load metadata pair ('a b', '1'): Key contains invalid characters",
      ],
      [
        { Name: "a", Kind: "connect-proxy" },
        '400 Invalid service kind "connect-proxy": cairn registers typical services only',
      ],
      [
        { Name: "a", Check: { Interval: "10s" } },
        "400 Must provide TTL or Script/DockerContainerID/HTTP/TCP and Interval",
      ],
      [
        { Name: "a", Check: { HTTP: "http://x" } },
        "400 Must provide TTL or Script/DockerContainerID/HTTP/TCP and Interval",
      ],
      [
        { Name: "a", Check: { TTL: "1s", Status: "up" } },
        "400 Status for checks must 'passing', 'warning', 'critical'",
      ],
      [{ Name: "a", Check: { TTL: "1x" } }, '400 Request decode failed: time: invalid duration "1x"'],
    ];
    for (const [body, want] of bad) {
      await assert.rejects(local.registerServiceJson(body, false), (e) => code(e) === want);
    }
    await assert.rejects(local.registerCheckJson({ TTL: "1s" }), (e) => code(e) === "400 Missing check name");
    await assert.rejects(
      local.registerCheckJson({ Name: "c", TTL: "1s", Status: "x" }),
      (e) => code(e) === "400 Bad check status",
    );
    await assert.rejects(
      local.registerCheckJson({ Name: "c", TTL: "1s", ServiceID: "nope" }),
      (e) => code(e) === '400 ServiceID "nope" does not exist',
    );
    await assert.rejects(local.deregisterService("x"), (e) => code(e) === '404 Unknown service ID "x"');
    assert.deepEqual([local.services(), local.checks()], [[], []]);
  });

  it("re-registration keeps a check's status and output; replace-existing-checks drops the missing ones", async () => {
    const { local } = make();
    await local.registerServiceJson(
      {
        Name: "web",
        Checks: [
          { CheckID: "a", TTL: "10s" },
          { CheckID: "b", TTL: "10s" },
        ],
      },
      false,
    );
    await local.updateTtl("a", "passing", "fine");
    await local.registerServiceJson(
      { Name: "web", Tags: ["v2"], Checks: [{ CheckID: "a", TTL: "10s" }] },
      false,
    );
    assert.equal(local.check("a")?.Status, "passing");
    assert.equal(local.check("a")?.Output, "fine");
    assert.deepEqual(local.check("a")?.ServiceTags, ["v2"]);
    assert.notEqual(local.check("b"), undefined, "kept without replace-existing-checks");
    await local.registerServiceJson({ Name: "web", Checks: [{ CheckID: "a", TTL: "10s" }] }, true);
    assert.equal(local.check("b"), undefined);
  });
});

describe("TTL checks", () => {
  it("expire to critical with Consul's outputs; each update restarts the TTL", async () => {
    const { local, timers } = make();
    await local.registerCheckJson({ Name: "t", TTL: "10s" });
    timers.advance(10_000);
    assert.deepEqual([local.check("t")?.Status, local.check("t")?.Output], ["critical", "TTL expired"]);
    await local.updateTtl("t", "passing", "all good");
    timers.advance(9_000);
    await local.updateTtl("t", "warning", "slow");
    timers.advance(9_000);
    assert.equal(local.check("t")?.Status, "warning");
    timers.advance(1_000);
    assert.deepEqual(
      [local.check("t")?.Status, local.check("t")?.Output],
      ["critical", "TTL expired (last output before timeout follows): slow"],
    );
  });

  it("cut outputs over 4 KiB and refuse non-TTL and unknown checks with Consul's texts", async () => {
    const { local } = make();
    await local.registerCheckJson({ Name: "t", TTL: "10s" });
    await local.updateTtl("t", "passing", "x".repeat(5000));
    assert.equal(local.check("t")?.Output, `${"x".repeat(4096)} ... (captured 4096 of 5000 bytes)`);
    assert.equal(captureOutput("short"), "short");
    await local.registerCheckJson({ Name: "h", HTTP: "http://127.0.0.1:1/", Interval: "10s" });
    await assert.rejects(
      local.updateTtl("h", "passing", ""),
      (e) => code(e) === '500 CheckID "h" does not have associated TTL',
    );
    await assert.rejects(
      local.updateTtl("zz", "passing", ""),
      (e) => code(e) === '404 Unknown check ID "zz". Ensure that the check ID is passed, not the check name.',
    );
  });
});

describe("interval checks, maintenance, the reaper, shutdown", () => {
  it("run the probe after the stagger and then every interval, and stop cleanly", async () => {
    let n = 0;
    const { local, timers } = make(() => ({
      status: ++n % 2 === 1 ? "passing" : "warning",
      output: `run ${n}`,
    }));
    await local.registerCheckJson({ Name: "h", HTTP: "http://x/", Interval: "5s" });
    timers.advance(0);
    await settle();
    assert.deepEqual([local.check("h")?.Status, local.check("h")?.Output], ["passing", "run 1"]);
    timers.advance(5_000);
    await settle();
    assert.deepEqual([local.check("h")?.Status, local.check("h")?.Output], ["warning", "run 2"]);
    local.stop();
    assert.equal(timers.size, 0, "no timer left after stop");
  });

  it("SuccessBeforePassing and FailuresBeforeCritical hold a status change until enough results agree", async () => {
    const results: ProbeResult["status"][] = [
      "passing",
      "passing",
      "critical",
      "passing",
      "critical",
      "critical",
    ];
    let n = 0;
    const { local, timers } = make(() => ({ status: results[n++] ?? "passing", output: `run ${n}` }));
    await local.registerCheckJson({
      Name: "t",
      TCP: "x:1",
      Interval: "1s",
      SuccessBeforePassing: 2,
      FailuresBeforeCritical: 2,
    });
    const seen: string[] = [];
    for (let i = 0; i < results.length; i++) {
      timers.advance(i === 0 ? 0 : 1000);
      await settle();
      seen.push(`${local.check("t")?.Status}`);
    }
    assert.deepEqual(seen, ["critical", "passing", "passing", "passing", "passing", "critical"]);
    local.stop();
  });

  it("FailuresBeforeWarning turns a failing check warning before it turns critical", async () => {
    const { local, timers } = make(() => ({ status: "critical", output: "down" }));
    await local.registerCheckJson({
      Name: "t",
      TCP: "x:1",
      Interval: "1s",
      Status: "passing",
      FailuresBeforeWarning: 1,
      FailuresBeforeCritical: 3,
    });
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      timers.advance(i === 0 ? 0 : 1000);
      await settle();
      seen.push(`${local.check("t")?.Status}`);
    }
    assert.deepEqual(seen, ["warning", "warning", "critical"]);
    local.stop();
  });

  it("maintenance adds and removes critical checks with Consul's IDs and default notes", async () => {
    const { local } = make();
    await local.registerServiceJson({ Name: "web" }, false);
    await local.serviceMaintenance("web", true, "");
    const m = local.check("_service_maintenance:web");
    assert.equal(m?.Status, "critical");
    assert.match(m?.Notes ?? "", /^Maintenance mode is enabled for this service, but no reason was provided/);
    await local.nodeMaintenance(true, "patching");
    assert.equal(local.check("_node_maintenance")?.Notes, "patching");
    await local.nodeMaintenance(false, "");
    await local.serviceMaintenance("web", false, "");
    assert.deepEqual(local.checks(), []);
    await assert.rejects(
      local.serviceMaintenance("db", true, ""),
      (e) => code(e) === '404 Unknown service ID "db"',
    );
  });

  it("deregisters a service whose check stays critical past DeregisterCriticalServiceAfter (at least 1 min)", async () => {
    const { local, timers } = make();
    await local.registerServiceJson(
      { Name: "web", Check: { TTL: "10s", DeregisterCriticalServiceAfter: "30s" } },
      false,
    );
    local.startReaper();
    timers.advance(30_000);
    await settle();
    assert.notEqual(local.service("web"), undefined, "30s is raised to the 1 min minimum");
    timers.advance(60_000);
    await settle();
    assert.equal(local.service("web"), undefined);
    assert.equal(local.check("service:web"), undefined);
    local.stop();
  });

  it("a config-file registration parses as the API one", () => {
    const reg = parseServiceRegistration({
      name: "api",
      port: 9,
      enable_tag_override: true,
      tagged_addresses: { lan: { address: "10.0.0.1", port: 9 } },
    });
    assert.equal(reg.service.EnableTagOverride, true);
    assert.deepEqual(reg.service.TaggedAddresses, { lan: { Address: "10.0.0.1", Port: 9 } });
  });
});
