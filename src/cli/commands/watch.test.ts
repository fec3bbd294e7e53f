import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { cliAgent, run } from "../../../test/support/cli-harness.js";
import { goMarshalIndent } from "../go-json.js";

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "cairn-watch-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function lines(file: string): string[] {
  try {
    return readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l !== "");
  } catch {
    return [];
  }
}

/** Waits until `file` has `n` lines; bounded (fails after ~20 s). */
async function untilLines(file: string, n: number): Promise<string[]> {
  for (let i = 0; i < 400; i++) {
    const got = lines(file);
    if (got.length >= n) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${file} never reached ${n} lines: ${JSON.stringify(lines(file))}`);
}

describe("watch", () => {
  it("prints the current result as indented JSON and exits without a handler", async (t) => {
    const { agent, env } = await cliAgent(t);
    await agent.put("k", "v<1>", 7n);
    const r = await run(["watch", "-type", "key", "-key", "k"], env);
    assert.equal(r.code, 0, r.stderr);
    const e = agent.entry("k");
    assert.equal(
      r.stdout,
      `{\n    "Key": "k",\n    "CreateIndex": ${e?.CreateIndex},\n    "ModifyIndex": ${e?.ModifyIndex},\n` +
        `    "LockIndex": 0,\n    "Flags": 7,\n    "Value": "djwxPg==",\n    "Session": ""\n}\n`,
    );
    assert.equal((await run(["watch", "-type", "key", "-key", "none"], env)).stdout, "null\n");
    const prefix = await run(["watch", "-type", "keyprefix", "-prefix", "k"], env);
    assert.match(prefix.stdout, /^\[\n {4}\{\n {8}"Key": "k",/);
  });

  it("runs the handler with each changed result on stdin and CONSUL_INDEX in its env", async (t) => {
    const { agent, env } = await cliAgent(t);
    const dir = tempDir(t);
    const data = join(dir, "data");
    const index = join(dir, "index");
    await agent.put("k", "one");
    const watching = run(
      [
        "watch",
        "-type",
        "key",
        "-key",
        "k",
        `cat >> ${data}; echo >> ${data}; echo $CONSUL_INDEX >> ${index}`,
      ],
      env,
    );
    const first = await untilLines(data, 1);
    assert.equal(JSON.parse(first[0] ?? "").Value, Buffer.from("one").toString("base64"));
    await agent.put("other", "x");
    await agent.put("k", "two");
    const second = await untilLines(data, 2);
    const pair = JSON.parse(second[1] ?? "");
    assert.equal(pair.Value, Buffer.from("two").toString("base64"));
    assert.equal(lines(index)[1], String(pair.ModifyIndex));
    process.emit("SIGTERM");
    const r = await watching;
    assert.equal(r.code, 0, r.stderr);
    // Also wakes the stopped watch's blocking read inside the server, so no timer outlives the test.
    await agent.put("k", "three");
    assert.equal(
      lines(data).length,
      2,
      "neither a write to another key nor one after the stop fires the handler",
    );
  });

  it("stops with exit 1 when the handler fails", async (t) => {
    const { agent, env } = await cliAgent(t);
    await agent.put("k", "v");
    const r = await run(["watch", "-type", "key", "-key", "k", "exit 3"], env);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "Error executing handler: exit status 3\n");
  });

  it("rejects bad types and parameters with Consul's texts", async (t) => {
    const { env } = await cliAgent(t);
    const cases: Array<[string[], string]> = [
      [["watch", "-type", "bogus"], "Unsupported watch type: bogus\n"],
      [["watch", "-type", "key"], "Must specify a single key to watch\n"],
      [["watch", "-type", "keyprefix"], "Must specify a single prefix to watch\n"],
      [["watch", "-type", "service"], "Must specify a single service to watch\n"],
      [["watch", "-type", "services", "-key", "a", "-tag", "t"], "Invalid parameters: [key tag]\n"],
      [["watch", "-type", "checks", "-service", "s", "-state", "any"], "Cannot specify service and state\n"],
      [
        ["watch", "-type", "service", "-service", "s", "-passingonly", "yes"],
        'Failed to parse passingonly flag: strconv.ParseBool: parsing "yes": invalid syntax\n',
      ],
    ];
    for (const [argv, stderr] of cases) {
      const r = await run(argv, env);
      assert.deepEqual([r.code, r.stderr], [1, stderr], argv.join(" "));
    }
    const none = await run(["watch"], env);
    assert.equal(none.code, 1);
    assert.ok(none.stderr.startsWith("Watch type must be specified\n\nUsage: cairn watch"));
  });

  it("watches the catalog views", async (t) => {
    const { env } = await cliAgent(t);
    const r = await run(["watch", "-type", "checks", "-state", "any"], env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Array.isArray(JSON.parse(r.stdout)));
    const s = await run(["watch", "-type", "service", "-service", "nope", "-passingonly", "true"], env);
    assert.deepEqual([s.code, s.stdout], [0, "[]\n"]);
  });
});

describe("goMarshalIndent", () => {
  it("writes Go's MarshalIndent, with HTML-safe strings and exact uint64", () => {
    assert.equal(
      goMarshalIndent({ a: [], b: {}, c: [1n, "<&>"], d: 18446744073709551615n }, "  "),
      '{\n  "a": [],\n  "b": {},\n  "c": [\n    1,\n    "\\u003c\\u0026\\u003e"\n  ],\n  "d": 18446744073709551615\n}',
    );
  });
});
