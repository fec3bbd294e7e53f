import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { cliAgent, run } from "../../../test/support/cli-harness.js";
import { MemoryServer } from "../../api/memory-server.js";

describe("kv get", () => {
  it("prints the raw value, or Consul's error for a missing key", async (t) => {
    const { agent, env } = await cliAgent(t);
    await agent.put("foo", "bar");
    assert.deepEqual(await run(["kv", "get", "/foo"], env), {
      code: 0,
      stdout: "bar\n",
      stderr: "",
      stdoutBytes: Buffer.from("bar\n"),
    });
    const miss = await run(["kv", "get", "nope"], env);
    assert.deepEqual([miss.code, miss.stdout, miss.stderr], [1, "", "Error! No key exists at: nope\n"]);
  });

  it("keeps binary values byte for byte", async (t) => {
    const { agent, env } = await cliAgent(t);
    const bin = Buffer.from([0xff, 0x00, 0xc3, 0x28, 0x0a]);
    await agent.put("bin", bin);
    const r = await run(["kv", "get", "bin"], env);
    assert.deepEqual(r.stdoutBytes, Buffer.concat([bin, Buffer.from("\n")]));
    assert.equal((await run(["kv", "get", "-base64", "bin"], env)).stdout, `${bin.toString("base64")}\n`);
  });

  it("prints -detailed as Consul's tabwriter block", async (t) => {
    const { agent, env } = await cliAgent(t);
    await agent.put("foo", "bar", 42n);
    const e = agent.entry("foo");
    const r = await run(["kv", "get", "-detailed", "foo"], env);
    const want = [
      `CreateIndex      ${e?.CreateIndex}`,
      "Flags            42",
      "Key              foo",
      "LockIndex        0",
      `ModifyIndex      ${e?.ModifyIndex}`,
      "Session          -",
      "Value            bar",
    ].join("\n");
    assert.equal(r.stdout, `${want}\n`);
  });

  it("lists with -recurse and -keys, and separates -detailed entries with a blank line", async (t) => {
    const { agent, env } = await cliAgent(t);
    for (const k of ["a/1", "a/b/2", "a/b/3"]) await agent.put(k, `v${k}`);
    assert.equal(
      (await run(["kv", "get", "-recurse", "a/"], env)).stdout,
      "a/1:va/1\na/b/2:va/b/2\na/b/3:va/b/3\n",
    );
    assert.equal((await run(["kv", "get", "-keys", "a/"], env)).stdout, "a/1\na/b/\n");
    assert.equal((await run(["kv", "get", "-keys", "-separator=", "a/"], env)).stdout, "a/1\na/b/2\na/b/3\n");
    assert.equal((await run(["kv", "get", "-keys", "-recurse", "a/b"], env)).stdout, "a/b/2\na/b/3\n");
    const detailed = (await run(["kv", "get", "-recurse", "-detailed", "a/b/"], env)).stdout;
    assert.match(detailed, /Value {12}va\/b\/2\n\nCreateIndex/);
    assert.ok(detailed.endsWith("Value            va/b/3\n"));
    assert.equal((await run(["kv", "get", "-recurse", "zzz"], env)).stdout, "");
  });

  it("reports argument errors, HTTP errors and flag errors as Consul", async (t) => {
    const { agent, env } = await cliAgent(t);
    assert.deepEqual(await run(["kv", "get"], env).then((r) => [r.code, r.stderr]), [
      1,
      "Error! Missing KEY argument\n",
    ]);
    assert.deepEqual(await run(["kv", "get", "a", "b"], env).then((r) => [r.code, r.stderr]), [
      1,
      "Too many arguments (expected 1, got 2)\n",
    ]);
    // What a server without a leader answers a default-consistency read.
    agent.api.hasLeader = false;
    const r = await run(["kv", "get", "a"], env);
    assert.deepEqual(
      [r.code, r.stderr],
      [1, "Error querying Consul agent: Unexpected response code: 500 (No cluster leader)\n"],
    );
    const bad = await run(["kv", "get", "-bogus", "a"], env);
    assert.equal(bad.code, 1);
    assert.ok(bad.stderr.startsWith("flag provided but not defined: -bogus\nUsage: cairn kv get"));
    const help = await run(["kv", "get", "-h"], env);
    assert.deepEqual([help.code, help.stderr], [0, ""]);
    assert.match(
      help.stdout,
      /^Usage: cairn kv get[\s\S]*HTTP API Options[\s\S]*-http-addr=<address>[\s\S]*Command Options[\s\S]*-separator=<string>/,
    );
  });

  it("sends -stale, -datacenter and -token the way Consul does", async (t) => {
    // A server of dc2, so that the read is answered (cairn serves only its own datacenter).
    const { agent, env } = await cliAgent(t, { api: new MemoryServer({ datacenter: "dc2" }) });
    await agent.put("a", "1");
    const r = await run(["kv", "get", "-stale", "-datacenter=dc2", "-token=tok", "a"], env);
    assert.deepEqual([r.code, r.stdout], [0, "1\n"]);
    const req = agent.requests.at(-1);
    assert.equal(req?.rawUrl, "/v1/kv/a?stale=&dc=dc2");
    assert.equal(req?.headers["x-consul-token"], "tok");
  });
});

describe("kv put", () => {
  it("writes literal, @file and stdin data", async (t) => {
    const { agent, env } = await cliAgent(t);
    const dir = mkdtempSync(join(tmpdir(), "cairn-kv-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "f"), "from file");
    assert.deepEqual(await run(["kv", "put", "a", "lit"], env), {
      code: 0,
      stdout: "Success! Data written to: a\n",
      stderr: "",
      stdoutBytes: Buffer.from("Success! Data written to: a\n"),
    });
    await run(["kv", "put", "b", `@${join(dir, "f")}`], env);
    await run(["kv", "put", "c", "-"], env, "from stdin");
    await run(["kv", "put", "d", "-x"], env);
    await run(["kv", "put", "e"], env);
    await run(["kv", "put", "-base64", "f", "aGk="], env);
    const got = ["a", "b", "c", "d", "e", "f"].map((k) => agent.value(k)?.toString());
    assert.deepEqual(got, ["lit", "from file", "from stdin", "-x", "", "hi"]);
    const missing = await run(["kv", "put", "g", "@/nonexistent/x"], env);
    assert.deepEqual(
      [missing.code, missing.stderr],
      [1, "Error! Failed to read file: open /nonexistent/x: no such file or directory\n"],
    );
  });

  it("keeps -flags past 2^53 exact through put and get", async (t) => {
    const { agent, env } = await cliAgent(t);
    await run(["kv", "put", "-flags=18446744073709551615", "big", "v"], env);
    assert.equal(agent.entry("big")?.Flags, 18446744073709551615n);
    assert.match(
      (await run(["kv", "get", "-detailed", "big"], env)).stdout,
      /^Flags {12}18446744073709551615$/m,
    );
  });

  it("reports cas, lock and argument failures with Consul's texts", async (t) => {
    const { agent, env } = await cliAgent(t);
    await agent.put("k", "v");
    // k is held by another session, so an acquire with s1 fails as Consul's does (true only for the holder).
    const s1 = await agent.api.sessionCreate({});
    const holder = await agent.api.sessionCreate({});
    await agent.api.kvWrite({ op: "acquire", key: "k", value: null, flags: 0n, session: holder });
    const cases: Array<[string[], number, string, string]> = [
      [
        ["kv", "put", "-cas", "-modify-index=999", "k", "x"],
        1,
        "",
        "Error! Did not write to k: CAS failed\n",
      ],
      [
        ["kv", "put", "-cas", "k", "x"],
        1,
        "",
        "Error! Did not write to k: CAS performed with index=0 and key already exists.\n",
      ],
      [["kv", "put", "-cas", "new", "x"], 0, "Success! Data written to: new\n", ""],
      [
        ["kv", "put", "-acquire", "k"],
        1,
        "",
        "Error! Missing -session (required with -acquire and -release)\n",
      ],
      [["kv", "put", "-acquire", `-session=${s1}`, "k"], 1, "", "Error! Did not acquire lock\n"],
      [["kv", "put"], 1, "", "Error! Missing KEY argument\n"],
      [["kv", "put", "a", "b", "c"], 1, "", "Error! Too many arguments (expected 1 or 2, got 3)\n"],
      [["kv", "put", "-flags=-1", "k"], 1, "", 'invalid value "-1" for flag -flags: parse error\n'],
      [
        ["kv", "put", "-base64", "k", "!!"],
        1,
        "",
        "Error! Cannot base 64 decode data: illegal base64 data at input byte 0\n",
      ],
    ];
    for (const [argv, code, stdout, stderr] of cases) {
      const r = await run(argv, env);
      assert.deepEqual(
        [r.code, r.stdout, r.stderr.split("Usage:")[0]],
        [code, stdout, stderr],
        argv.join(" "),
      );
    }
    await agent.api.kvWrite({ op: "release", key: "k", value: null, flags: 0n, session: holder });
    assert.equal(
      (await run(["kv", "put", "-acquire", `-session=${s1}`, "k", "v"], env)).stdout,
      "Success! Lock acquired on: k\n",
    );
    assert.equal(agent.entry("k")?.Session, s1);
    assert.equal(
      (await run(["kv", "put", "-release", `-session=${s1}`, "k", "v"], env)).stdout,
      "Success! Lock released on: k\n",
    );
    assert.equal(
      (await run(["kv", "put", "-release", `-session=${s1}`, "k", "v"], env)).stderr,
      "Error! Did not release lock\n",
    );
  });
});

describe("kv delete", () => {
  it("deletes a key, a prefix, and checks cas", async (t) => {
    const { agent, env } = await cliAgent(t);
    for (const k of ["a", "p/1", "p/2"]) await agent.put(k, "v");
    assert.equal((await run(["kv", "delete", "a"], env)).stdout, "Success! Deleted key: a\n");
    assert.equal(
      (await run(["kv", "delete", "-recurse", "p/"], env)).stdout,
      "Success! Deleted keys with prefix: p/\n",
    );
    assert.deepEqual(agent.api.store.list("").entries, []);
    await agent.put("c", "v");
    const idx = agent.entry("c")?.ModifyIndex ?? 0;
    assert.equal(
      (await run(["kv", "delete", "-cas", "-modify-index=1", "c"], env)).stderr,
      "Error! Did not delete key c: CAS failed\n",
    );
    assert.equal(
      (await run(["kv", "delete", "-cas", `-modify-index=${idx}`, "c"], env)).stdout,
      "Success! Deleted key: c\n",
    );
  });

  it("refuses contradictory arguments before sending anything", async (t) => {
    const { agent, env } = await cliAgent(t);
    const cases: Array<[string[], string]> = [
      [["kv", "delete"], "Error! Missing KEY argument\n"],
      [
        ["kv", "delete", "-cas", "k"],
        "Cannot delete a key that does not exist. Provide a -modify-index greater than than 0.\n",
      ],
      [["kv", "delete", "-modify-index=3", "k"], "Cannot specify -modify-index without -cas!\n"],
      [
        ["kv", "delete", "-recurse", "-cas", "-modify-index=3", "k"],
        "Cannot specify both -cas and -recurse!\n",
      ],
    ];
    for (const [argv, stderr] of cases) {
      const r = await run(argv, env);
      assert.deepEqual([r.code, r.stderr], [1, stderr], argv.join(" "));
    }
    assert.equal(agent.requests.length, 0);
  });

  it("prints Consul's connection error when no agent answers", async (t) => {
    const { agent, env } = await cliAgent(t);
    await agent.close();
    const r = await run(["kv", "delete", "k"], env);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^Error deleting key k: Delete "http:\/\/127\.0\.0\.1:\d+\/v1\/kv\/k": dial tcp 127\.0\.0\.1:\d+: connect: connection refused\n$/,
    );
  });
});
