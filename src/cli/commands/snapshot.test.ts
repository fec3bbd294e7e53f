import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { run } from "../../../test/support/cli-harness.js";
import { MemoryServer } from "../../api/memory-server.js";
import type { Env } from "../../client/index.js";
import { createHttpServer } from "../../http/index.js";
import { verifyArchive } from "../../snapshot/index.js";
import { fixture, skipUnlessFixtures, withTempDir } from "../../snapshot/testutil.js";
import { runCli } from "../cli.js";

/** A MemoryServer behind a real node:http server on 127.0.0.1:0; records the requests it answers. */
async function serve(t: TestContext, api: MemoryServer): Promise<{ env: Env; seen: string[] }> {
  const seen: string[] = [];
  const server = createHttpServer(api, {
    bodyBytesMax: 1 << 20,
    countRequest: (route, method, status) => seen.push(`${method} ${route} ${status}`),
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { env: { CONSUL_HTTP_ADDR: `127.0.0.1:${(server.address() as AddressInfo).port}` }, seen };
}

async function withKeys(...keys: string[]): Promise<MemoryServer> {
  const api = new MemoryServer();
  for (const k of keys) {
    await api.kvWrite({ op: "set", key: k, value: Buffer.from(`v-${k}`), flags: 0n });
  }
  return api;
}

/** A twin whose archive is `chunks` and then, when `fail`, an error (the server resets the connection). */
class ScriptedStream extends MemoryServer {
  constructor(
    private readonly chunks: readonly Uint8Array[],
    private readonly fail: boolean,
  ) {
    super();
  }
  override async snapshotSave(stale: boolean) {
    const { meta } = await super.snapshotSave(stale);
    const { chunks, fail } = this;
    async function* archive(): AsyncGenerator<Uint8Array> {
      yield* chunks;
      if (fail) throw new Error("disk gone");
    }
    return { meta, archive: archive() };
  }
}

/** A twin that also tells the archive's size before the body (cairn's X-Cairn-Snapshot-Size). */
class Estimating extends MemoryServer {
  override async snapshotSave(stale: boolean) {
    const { meta, archive } = await super.snapshotSave(stale);
    const parts: Uint8Array[] = [];
    for await (const c of archive) parts.push(c);
    const whole = Buffer.concat(parts);
    async function* again(): AsyncGenerator<Uint8Array> {
      yield whole;
    }
    return { meta, archive: again(), bytesEstimate: whole.length };
  }
}

async function files(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

describe("snapshot save", () => {
  it("downloads, verifies and renames; FILE is 0600 and nothing else is left", async (t) => {
    const api = await withKeys("a", "b");
    const { env } = await serve(t, api);
    await withTempDir(async (dir) => {
      const file = join(dir, "backup.snap");
      const r = await run(["snapshot", "save", file], env);
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, "Saved and verified snapshot to index 2\n", ""]);
      assert.deepEqual(await files(dir), ["backup.snap"]);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.equal((await verifyArchive([await readFile(file)])).Index, 2);
    });
  });

  it("save-name-too-long: a FILE the system cannot name is an error, exit 1, not a rejection", async (t) => {
    const { env } = await serve(t, await withKeys("a"));
    await withTempDir(async (dir) => {
      const file = join(dir, "a".repeat(300));
      const r = await run(["snapshot", "save", file], env);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^Error writing unverified snapshot file: .*name too long/);
      assert.deepEqual(await files(dir), []);
    });
  });

  it("without a leader: Consul's error, exit 1, no files; -stale saves anyway", async (t) => {
    const api = await withKeys("a");
    api.hasLeader = false;
    const { env, seen } = await serve(t, api);
    await withTempDir(async (dir) => {
      const file = join(dir, "backup.snap");
      const r = await run(["snapshot", "save", file], env);
      assert.deepEqual(
        [r.code, r.stdout, r.stderr],
        [1, "", "Error saving snapshot: Unexpected response code: 500 (No cluster leader)\n"],
      );
      assert.deepEqual(await files(dir), []);
      const s = await run(["snapshot", "save", "-stale", file], env);
      assert.deepEqual([s.code, s.stdout, s.stderr], [0, "Saved and verified snapshot to index 1\n", ""]);
      assert.deepEqual(seen, ["GET /v1/snapshot 500", "GET /v1/snapshot 200"]);
    });
  });

  it("the server closing mid-body: exit 1, no FILE and no FILE.unverified", async (t) => {
    const { env } = await serve(t, new ScriptedStream([new Uint8Array(100_000).fill(1)], true));
    await withTempDir(async (dir) => {
      const r = await run(["snapshot", "save", join(dir, "s.snap")], env);
      assert.deepEqual(
        [r.code, r.stdout, r.stderr],
        [1, "", "Error writing unverified snapshot file: unexpected EOF\n"],
      );
      assert.deepEqual(await files(dir), []);
    });
  });

  it("a complete body that is not an archive fails verification; nothing is left", async (t) => {
    const { env } = await serve(t, new ScriptedStream([Buffer.from("hello")], false));
    await withTempDir(async (dir) => {
      const r = await run(["snapshot", "save", join(dir, "s.snap")], env);
      assert.deepEqual(
        [r.code, r.stdout, r.stderr],
        [1, "", "Error verifying snapshot file: failed to decompress snapshot: gzip: invalid header\n"],
      );
      assert.deepEqual(await files(dir), []);
    });
  });

  it("a stale FILE.unverified is replaced, and a refused connection is an error saving", async () => {
    await withTempDir(async (dir) => {
      const file = join(dir, "s.snap");
      await writeFile(`${file}.unverified`, "old");
      const r = await run(["snapshot", "save", file], { CONSUL_HTTP_ADDR: "127.0.0.1:1" });
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr,
        'Error saving snapshot: Get "http://127.0.0.1:1/v1/snapshot": dial tcp 127.0.0.1:1: connect: connection refused\n',
      );
      assert.deepEqual(await files(dir), []);
    });
  });

  it("-append-filename adds version, dc, node and status before the extension", async (t) => {
    const { env } = await serve(t, await withKeys("a"));
    await withTempDir(async (dir) => {
      const r = await run(
        [
          "snapshot",
          "save",
          "-append-filename=version,dc",
          "-append-filename=node,status",
          join(dir, "b.snap"),
        ],
        env,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(await files(dir), ["b-1.21.0-dc1-node1-leader.snap"]);
    });
  });

  it("usage errors as Consul", async () => {
    const cases: [string[], string][] = [
      [["snapshot", "save"], "Missing FILE argument\n"],
      [["snapshot", "save", "a", "b"], "Too many arguments (expected 1, got 2)\n"],
      [["snapshot", "restore"], "Missing FILE argument\n"],
      [["snapshot", "restore", "a", "b", "c"], "Too many arguments (expected 1, got 3)\n"],
      [["snapshot", "inspect"], "Missing FILE argument\n"],
      [["snapshot", "decode", "a", "b"], "Too many arguments (expected 1, got 2)\n"],
    ];
    for (const [argv, stderr] of cases) {
      const r = await run(argv, {});
      assert.deepEqual([r.code, r.stdout, r.stderr], [1, "", stderr], argv.join(" "));
    }
  });

  it("shows a progress bar on stderr only when it is a terminal", async (t) => {
    const { env } = await serve(t, await withKeys("a"));
    await withTempDir(async (dir) => {
      const errChunks: string[] = [];
      const outChunks: string[] = [];
      const stderr = { isTTY: true, write: (c: string | Uint8Array) => errChunks.push(String(c)) };
      const stdout = { write: (c: string | Uint8Array) => outChunks.push(String(c)) };
      const code = await runCli(["snapshot", "save", join(dir, "p.snap")], {
        stdout,
        stderr,
        env,
        readStdin: async () => Buffer.alloc(0),
      });
      assert.equal(code, 0);
      const line = errChunks.join("");
      // cli-progress redraws in place; the last drawing has the whole archive, then the line ends.
      assert.match(line, /Saving snapshot [\d.]+ (B|KiB), [\d.]+ (B|KiB|MiB)\/s\W\[0K/, JSON.stringify(line));
      assert.ok(line.endsWith("\n"), JSON.stringify(line));
      assert.equal(outChunks.join(""), "Saved and verified snapshot to index 1\n");
    });
  });
});

describe("snapshot save progress with the server's size estimate", () => {
  it("draws a bar with share and ETA on a terminal, and stays silent off one", async (t) => {
    const api = new Estimating();
    await api.kvWrite({ op: "set", key: "a", value: Buffer.from("v"), flags: 0n });
    const { env } = await serve(t, api);
    await withTempDir(async (dir) => {
      for (const isTTY of [true, false]) {
        const errChunks: string[] = [];
        const stderr = { isTTY, write: (c: string | Uint8Array) => errChunks.push(String(c)) };
        const stdout = { write: (_c: string | Uint8Array) => true };
        const file = join(dir, `${isTTY}.snap`);
        const code = await runCli(["snapshot", "save", file], {
          stdout,
          stderr,
          env,
          readStdin: async () => Buffer.alloc(0),
        });
        assert.equal(code, 0);
        const text = errChunks.join("");
        if (isTTY)
          assert.match(text, /Saving snapshot \[=+\] 100% [\d.]+ (B|KiB) \/ [\d.]+ (B|KiB), .*ETA 0s/);
        else assert.equal(text, "");
        await verifyArchive([await readFile(file)]);
      }
    });
  });
});

describe("snapshot restore", () => {
  it("uploads a saved file and the keys come back", async (t) => {
    const api = await withKeys("a", "b/c");
    const { env } = await serve(t, api);
    await withTempDir(async (dir) => {
      const file = join(dir, "s.snap");
      assert.equal((await run(["snapshot", "save", file], env)).code, 0);
      await api.kvWrite({ op: "delete-tree", prefix: "" });
      assert.equal(api.store.list("").entries.length, 0);
      const r = await run(["snapshot", "restore", file], env);
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, "Restored snapshot\n", ""]);
      assert.deepEqual(
        api.store.list("").entries.map((e) => e.Key),
        ["a", "b/c"],
      );
    });
  });

  it("a bad or missing file never reaches the server", async (t) => {
    const { env, seen } = await serve(t, await withKeys("a"));
    await withTempDir(async (dir) => {
      const bad = join(dir, "bad.snap");
      await writeFile(bad, "not gzip");
      const r = await run(["snapshot", "restore", bad], env);
      assert.deepEqual(
        [r.code, r.stdout, r.stderr],
        [1, "", "Error verifying snapshot file: failed to decompress snapshot: gzip: invalid header\n"],
      );
      const missing = join(dir, "none.snap");
      const m = await run(["snapshot", "restore", missing], env);
      assert.equal(m.stderr, `Error opening snapshot file: open ${missing}: no such file or directory\n`);
      assert.deepEqual(seen, []);
    });
  });

  it("a file damaged past its first megabytes is cut short while uploading, and nothing changes", async (t) => {
    const api = new MemoryServer();
    // ~3 MB of random values: the archive is stored, not deflated, and spans several of the upload's chunks.
    for (let i = 0; i < 10_000; i++) {
      await api.kvWrite({ op: "set", key: `k/${i}`, value: randomBytes(300), flags: 0n });
    }
    const { env } = await serve(t, api);
    await withTempDir(async (dir) => {
      const file = join(dir, "s.snap");
      assert.equal((await run(["snapshot", "save", file], env)).code, 0);
      const bytes = await readFile(file);
      assert.ok(bytes.length > 2 * 1024 * 1024, `archive of ${bytes.length} bytes`);
      const at = Math.floor(bytes.length * 0.9);
      bytes[at] = (bytes[at] ?? 0) ^ 0x20;
      await writeFile(file, bytes);
      await api.kvWrite({ op: "delete-tree", prefix: "k/1" });
      const left = api.store.list("").entries.length;
      const r = await run(["snapshot", "restore", file], env);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^Error verifying snapshot file: /);
      assert.equal(api.store.list("").entries.length, left, "the servers' state is unchanged");
    });
  });

  it("a server without a leader: Consul's error text", async (t) => {
    const api = await withKeys("a");
    const { env } = await serve(t, api);
    await withTempDir(async (dir) => {
      const file = join(dir, "s.snap");
      assert.equal((await run(["snapshot", "save", file], env)).code, 0);
      api.hasLeader = false;
      const r = await run(["snapshot", "restore", file], env);
      assert.deepEqual(
        [r.code, r.stdout, r.stderr],
        [1, "", "Error restoring snapshot: Unexpected response code: 500 (No cluster leader)\n"],
      );
    });
  });
});

describe("snapshot inspect and decode (offline)", () => {
  const goldens: [string[], string][] = [
    [[fixture("inspect", "backup.snap")], "TestSnapshotInspectCommand.golden"],
    [[fixture("inspect", "raw", "state.bin")], "TestSnapshotInspectCommandRaw.golden"],
    [["-kvdetails", fixture("inspect", "backupWithKV.snap")], "TestSnapshotInspectKVDetailsCommand.golden"],
    [
      ["-kvdetails", "-kvdepth", "3", fixture("inspect", "backupWithKV.snap")],
      "TestSnapshotInspectKVDetailsDepthCommand.golden",
    ],
    [
      ["-kvdetails", "-kvdepth", "3", "-kvfilter", "vault/logical", fixture("inspect", "backupWithKV.snap")],
      "TestSnapshotInspectKVDetailsDepthFilterCommand.golden",
    ],
  ];
  for (const [args, golden] of goldens) {
    it(`inspect ${args.slice(0, -1).join(" ")} matches ${golden}`, async () => {
      const r = await run(["snapshot", "inspect", ...args], {});
      assert.deepEqual([r.code, r.stderr], [0, ""]);
      assert.equal(r.stdout, await readFile(fixture("inspect", golden), "utf8"));
    });
  }

  it("inspect -format json and its errors", async () => {
    const json = await run(["snapshot", "inspect", "-format=json", fixture("inspect", "backup.snap")], {});
    assert.equal(json.code, 0);
    assert.equal((JSON.parse(json.stdout) as { Meta: { Index: number } }).Meta.Index, 13);
    assert.match(json.stdout, /^\{\n {3}"Meta": \{\n {6}"ID": "2-13-1602222343947",/);
    const fmt = await run(["snapshot", "inspect", "-format=xml", fixture("inspect", "backup.snap")], {});
    assert.deepEqual(
      [fmt.code, fmt.stderr],
      [1, "Error outputting enhanced snapshot data: Unknown format: xml\n"],
    );
    const missing = await run(["snapshot", "inspect", "/nonexistent/x.snap"], {});
    assert.equal(
      missing.stderr,
      "Error opening snapshot file: open /nonexistent/x.snap: no such file or directory\n",
    );
    const bad = await run(["snapshot", "inspect", fixture("README.md")], {});
    assert.deepEqual(
      [bad.code, bad.stderr],
      [1, "Error reading snapshot: failed to decompress snapshot: gzip: invalid header\n"],
    );
  });

  const decodeCases: [string[], string][] = [
    [["decode", "all.snap"], "all.ce.golden"],
    [["inspect", "backup.snap"], "no-kv.ce.golden"],
    [["inspect", "backupWithKV.snap"], "with-kv.ce.golden"],
  ];
  for (const [file, golden] of decodeCases) {
    const skip = skipUnlessFixtures(file.join("/"), `decode/${golden}`);
    it(`decode ${file.join("/")} prints one JSON line per record after the header line, as many as ${golden}`, {
      skip,
    }, async () => {
      const r = await run(["snapshot", "decode", fixture(...file)], {});
      assert.deepEqual([r.code, r.stderr], [0, ""]);
      const want = (await readFile(fixture("decode", golden), "utf8")).trimEnd().split("\n");
      const got = r.stdout.trimEnd().split("\n");
      assert.equal(got.length, want.length, golden);
      assert.match(got[0] ?? "", /^\{"Data":\{.*\},"Type":"SnapshotHeader"\}$/);
      for (const line of got) JSON.parse(line);
      assert.deepEqual(
        got.map((l) => (JSON.parse(l) as { Type: string }).Type),
        want.map((l) => (JSON.parse(l) as { Type: string }).Type),
      );
    });
  }

  it("decode refuses a file that is not an archive", async () => {
    const bad = await run(["snapshot", "decode", fixture("README.md")], {});
    assert.deepEqual([bad.code, bad.stdout], [1, ""]);
  });
});

describe("snapshot diff", () => {
  /** Saves the twin's state into `file` through the real codec (no HTTP needed). */
  async function saveTo(api: MemoryServer, file: string): Promise<void> {
    const { archive } = await api.snapshotSave(false);
    const chunks: Buffer[] = [];
    for await (const c of archive) chunks.push(Buffer.from(c));
    await writeFile(file, Buffer.concat(chunks));
  }

  it("lists added, removed and changed keys and the record counts that moved", async () => {
    await withTempDir(async (dir) => {
      const api = await withKeys("a", "b", "c", "same");
      const a = join(dir, "a.snap");
      const b = join(dir, "b.snap");
      await saveTo(api, a);
      await api.kvWrite({ op: "set", key: "b", value: Buffer.from("new"), flags: 0n });
      await api.kvWrite({ op: "set", key: "c", value: Buffer.from("v-c"), flags: 5n });
      await api.kvWrite({ op: "delete", key: "a" });
      await api.kvWrite({ op: "set", key: "d\n", value: null, flags: 0n });
      await api.kvWrite({ op: "set", key: "e", value: null, flags: 0n });
      await saveTo(api, b);
      const r = await run(["snapshot", "diff", a, b], {});
      assert.equal(r.stderr, "");
      assert.equal(r.code, 0);
      const lines = r.stdout.split("\n");
      assert.deepEqual(lines.slice(0, 2), [`A: ${a} (index 4, ID 1-4-0)`, `B: ${b} (index 9, ID 1-9-0)`]);
      assert.deepEqual(lines.slice(3, 9), [
        "KV keys: 2 added, 1 removed, 2 changed",
        "- a",
        "~ b (value)",
        "~ c (flags 0 -> 5)",
        '+ "d\\n"',
        "+ e",
      ]);
      assert.equal(lines[10], "Record counts:");
      assert.match(lines[11] ?? "", /^ {2}Type\s+A\s+B\s+Change$/);
      assert.ok(
        lines.some((l) => /^ {2}KVS\s+4\s+5\s+\+1$/.test(l)),
        r.stdout,
      );
      const same = await run(["snapshot", "diff", a, a], {});
      assert.equal(
        same.stdout,
        `A: ${a} (index 4, ID 1-4-0)\nB: ${a} (index 4, ID 1-4-0)\n\nKV keys: 0 added, 0 removed, 0 changed\n\nRecord counts: unchanged\n`,
      );
    });
  });

  it("argument and file errors", async () => {
    assert.deepEqual(await run(["snapshot", "diff", "x"], {}).then((r) => [r.code, r.stderr]), [
      1,
      "Missing FILE argument (expected 2: A B)\n",
    ]);
    assert.deepEqual(await run(["snapshot", "diff", "x", "y", "z"], {}).then((r) => [r.code, r.stderr]), [
      1,
      "Too many arguments (expected 2, got 3)\n",
    ]);
    const missing = await run(["snapshot", "diff", "/nonexistent/a", fixture("inspect", "backup.snap")], {});
    assert.equal(
      missing.stderr,
      "Error opening snapshot file: open /nonexistent/a: no such file or directory\n",
    );
    const bad = await run(["snapshot", "diff", fixture("inspect", "backup.snap"), fixture("README.md")], {});
    assert.equal(
      bad.stderr,
      `Error reading snapshot "${fixture("README.md")}": failed to decompress snapshot: gzip: invalid header\n`,
    );
  });
});
