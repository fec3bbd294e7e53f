/**
 * `snapshot list`, and `restore|inspect|decode` of a backup where it is stored, against backups the snapshot
 * agent's own code wrote into a real local store, served by a running datacenter (the real HTTP stack over an
 * in-memory server). Temp files of fetched backups go to a TMPDIR of each test's own, checked empty at its end.
 */
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import {
  agentBackup,
  keyFile,
  privateTmpdir,
  succeeded,
  verifiedColumn,
} from "../../../test/support/agent-backups.js";
import { cliAgent, run } from "../../../test/support/cli-harness.js";
import type { TestAgent } from "../../../test/support/test-agent.js";
import type { MemoryServer } from "../../api/memory-server.js";
import type { Env } from "../../client/index.js";
import { byteSize, verifyArchive } from "../../snapshot/index.js";
import type { BackupOutcome } from "../../snapshot-agent/backup.js";
import { LocalStore } from "../../snapshot-agent/store-local.js";

interface World {
  readonly dir: string;
  readonly store: LocalStore;
  readonly api: MemoryServer;
  readonly agent: TestAgent;
  readonly env: Env;
  readonly address: string;
}

/**
 * A datacenter holding `keys`, an empty backup directory, and a private TMPDIR for the commands' temp files
 * (os.tmpdir() reads it on every call), checked free of fetched backups when the test ends.
 */
async function world(t: TestContext, ...keys: string[]): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), "cairn-list-test-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await privateTmpdir(t);
  const { agent, api, env } = await cliAgent(t);
  for (const k of keys) await api.kvWrite({ op: "set", key: k, value: Buffer.from(`v-${k}`), flags: 0n });
  const store = new LocalStore(join(dir, "backups"));
  return { dir, store, api, agent, env, address: env.CONSUL_HTTP_ADDR as string };
}

function keysOf(api: MemoryServer): string[] {
  return api.store.list("").entries.map((e) => e.Key);
}

function restores(agent: TestAgent): number {
  return agent.requests.filter((r) => r.method === "PUT" && r.path === "/v1/snapshot").length;
}

/** The table row of a backup as `list` prints it, columns padded as columnize pads them. */
function row(b: BackupOutcome, encrypted: string, verified: string, widths: readonly number[]): string {
  const time = new Date(Number(BigInt(b.id) / 1_000_000n)).toISOString().replace(/\.\d+Z$/, "Z");
  const cells = [b.id, time, String(b.index), byteSize(b.bytes), encrypted, verified];
  return cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ");
}

describe("snapshot list", () => {
  it("lists the agent's backups newest first, as Consul's tables, whatever the form of DEST; others are left out", async (t) => {
    const w = await world(t, "a");
    const first = await agentBackup(w.store, w.address);
    await w.api.kvWrite({ op: "set", key: "b", value: Buffer.from("v"), flags: 0n });
    const second = await agentBackup(w.store, w.address);
    await writeFile(join(w.store.dir, "notes.txt"), "not a backup");
    await writeFile(join(w.store.dir, "consul-snapshot.snap"), "not ours either");
    const sizeWidth = Math.max(4, byteSize(first.bytes).length, byteSize(second.bytes).length);
    const widths = [19, 20, 5, sizeWidth, 9];
    const header = [
      "ID".padEnd(19),
      "Time".padEnd(20),
      "Index",
      "Size".padEnd(sizeWidth),
      "Encrypted",
      "Verified",
    ];
    const expected = [header.join("  "), row(second, "no", "yes", widths), row(first, "no", "yes", widths)];
    for (const dest of [w.store.dir, `${w.store.dir}/`, `file://${w.store.dir}`]) {
      const r = await run(["snapshot", "list", dest], w.env);
      succeeded(r);
      assert.deepEqual([r.stdout, r.stderr], [`${expected.join("\n")}\n`, ""], dest);
    }
    const latest = await run(["snapshot", "list", `${w.store.dir}/latest`], w.env);
    assert.equal(latest.stdout, `${expected.slice(0, 2).join("\n")}\n`);
    const one = await run(["snapshot", "list", join(w.store.dir, first.name)], w.env);
    assert.equal(one.stdout.split("\n")[1], expected[2]);
  });

  it("-format json gives every field", async (t) => {
    const w = await world(t, "a");
    const b = await agentBackup(w.store, w.address);
    const r = await run(["snapshot", "list", "-format=json", w.store.dir], w.env);
    succeeded(r);
    assert.deepEqual(JSON.parse(r.stdout), [
      {
        ID: b.id,
        Name: b.name,
        Time: new Date(Number(BigInt(b.id) / 1_000_000n)).toISOString(),
        Index: Number(b.index),
        Term: 1,
        Size: b.bytes,
        SHA256: b.sha256,
        Version: "0.1.0",
        Encrypted: false,
        Verified: "yes",
        Problems: null,
      },
    ]);
    assert.match(r.stdout, /^\[\n {4}\{\n {8}"ID": "\d{19}",\n/);
  });

  it("-verify reads each backup back: ok, or MISMATCH with the reason and exit 1", async (t) => {
    const w = await world(t, "a");
    const first = await agentBackup(w.store, w.address);
    const second = await agentBackup(w.store, w.address);
    const good = await run(["snapshot", "list", "-verify", w.store.dir], w.env);
    succeeded(good);
    assert.deepEqual(verifiedColumn(good), ["Verified", "ok", "ok"]);
    // One byte of the older backup changes on disk; its recorded size and SHA-256 stay.
    const path = join(w.store.dir, first.name);
    const bytes = await readFile(path);
    bytes[bytes.length - 12] = (bytes[bytes.length - 12] ?? 0) ^ 0x40;
    await writeFile(path, bytes);
    const plain = await run(["snapshot", "list", w.store.dir], w.env);
    assert.deepEqual(
      verifiedColumn(plain),
      ["Verified", "yes", "yes"],
      "without -verify only the recorded metadata is looked at",
    );
    const bad = await run(["snapshot", "list", "-verify", w.store.dir], w.env);
    assert.equal(bad.code, 1);
    assert.deepEqual(
      bad.stdout
        .trimEnd()
        .split("\n")
        .map((l) =>
          l
            .split(/\s+/)
            .slice(0, 1)
            .concat(l.split(/\s+/).at(-1) ?? ""),
        ),
      [
        ["ID", "Verified"],
        [second.id, "ok"],
        [first.id, "MISMATCH"],
      ],
    );
    const lines = bad.stderr.trimEnd().split("\n");
    assert.match(
      lines[0] ?? "",
      new RegExp(
        `^${first.name}: reads ${first.bytes} bytes with sha256 [0-9a-f]{64}; recorded: ${first.bytes} bytes with sha256 ${first.sha256}$`,
      ),
    );
    assert.equal(lines.at(-1), `Error verifying backups: 1 of 2 in local:${w.store.dir} are not sound`);
  });

  it("encrypted backups: -verify checks their bytes, and with -decrypt-key-file their archive too", async (t) => {
    const w = await world(t, "a");
    const { path: keyPath, key } = await keyFile(w.dir);
    const { path: otherKey } = await keyFile(w.dir, "other.key");
    const b = await agentBackup(w.store, w.address, key);
    assert.match(b.name, /\.snap\.enc$/);
    const listed = await run(["snapshot", "list", w.store.dir], w.env);
    assert.match(listed.stdout.split("\n")[1] ?? "", /\s+yes\s+yes$/);
    for (const args of [["-verify"], ["-verify", "-decrypt-key-file", keyPath]]) {
      const r = await run(["snapshot", "list", ...args, w.store.dir], w.env);
      succeeded(r);
      assert.match(r.stdout.split("\n")[1] ?? "", /\s+yes\s+ok$/, args.join(" "));
    }
    const wrong = await run(
      ["snapshot", "list", "-verify", "-decrypt-key-file", otherKey, w.store.dir],
      w.env,
    );
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout.split("\n")[1] ?? "", /\s+yes\s+FAILED$/);
    assert.match(
      wrong.stderr,
      new RegExp(`^${b.name.replace(/\./g, "\\.")}: encrypted backup was encrypted with a different key`),
    );
  });

  it("errors: no DEST, a bad URL, a missing directory (not created), a bad format, a key without -verify; an empty store", async (t) => {
    const w = await world(t);
    const cases: [string[], string][] = [
      [[], "Missing DEST argument\n"],
      [["a", "b"], "Too many arguments (expected 1, got 2)\n"],
      [
        ["s3://bucket/p"],
        'Error opening backup store: store URL "s3://bucket/p": no region: add ?region=… or set AWS_REGION\n',
      ],
      [
        ["http://host/x"],
        'Error opening backup store: store URL "http://host/x": unsupported scheme "http://" (expected a directory, file://, s3://, azure:// or gs://)\n',
      ],
      [
        [join(w.dir, "none")],
        `Error opening backup store: backup directory ${join(w.dir, "none")}: no such directory\n`,
      ],
      [["-format=xml", w.dir], "Unknown format: xml\n"],
      [
        ["-decrypt-key-file", "k", w.dir],
        "-decrypt-key-file is used by -verify, to verify encrypted backups: add -verify\n",
      ],
      [
        ["-verify", "-decrypt-key-file", join(w.dir, "nokey"), w.dir],
        `Error reading decryption key: encryption key file "${join(w.dir, "nokey")}" does not exist\n`,
      ],
    ];
    for (const [args, stderr] of cases) {
      const r = await run(["snapshot", "list", ...args], w.env);
      assert.deepEqual([r.code, r.stdout, r.stderr], [1, "", stderr], args.join(" "));
    }
    assert.deepEqual(await readdir(w.dir), [], "nothing was created");
    await mkdir(w.store.dir);
    const empty = await run(["snapshot", "list", w.store.dir], w.env);
    assert.deepEqual(
      [empty.code, empty.stdout, empty.stderr],
      [0, "", `No backups in local:${w.store.dir}\n`],
    );
    const json = await run(["snapshot", "list", "-format", "json", w.store.dir], w.env);
    assert.deepEqual([json.code, json.stdout], [0, "[]\n"]);
    const none = await run(["snapshot", "list", `${w.store.dir}/latest`], w.env);
    assert.deepEqual(
      [none.code, none.stderr],
      [1, `Error listing backups: no backups in local:${w.store.dir}\n`],
    );
  });
});

describe("snapshot inspect, decode and restore of a stored backup", () => {
  it("inspect and decode read a stored backup as they read the file", async (t) => {
    const w = await world(t, "a", "b/c");
    const b = await agentBackup(w.store, w.address);
    const file = join(w.store.dir, b.name);
    const fromFile = await run(["snapshot", "inspect", file], w.env);
    succeeded(fromFile);
    const fetched = `Fetched ${b.name} (${byteSize(b.bytes)}) from local:${w.store.dir}\n`;
    for (const dest of [`file://${w.store.dir}/latest`, `file://${file}`, `${w.store.dir}/latest`]) {
      const r = await run(["snapshot", "inspect", dest], w.env);
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, fromFile.stdout, fetched], dest);
    }
    const decodedFile = await run(["snapshot", "decode", file], w.env);
    const decoded = await run(["snapshot", "decode", `file://${w.store.dir}/latest`], w.env);
    assert.deepEqual([decoded.code, decoded.stdout], [0, decodedFile.stdout]);
    assert.ok(decoded.stdout.includes('"Key":"b/c"'));
  });

  it("restore of the latest backup into a running datacenter brings its keys back", async (t) => {
    const w = await world(t, "a", "b/c");
    await agentBackup(w.store, w.address);
    await w.api.kvWrite({ op: "delete-tree", prefix: "" });
    await w.api.kvWrite({ op: "set", key: "later", value: Buffer.from("x"), flags: 0n });
    const r = await run(["snapshot", "restore", `file://${w.store.dir}/latest`], w.env);
    succeeded(r);
    assert.equal(r.stdout, "Restored snapshot\n");
    assert.deepEqual(keysOf(w.api), ["a", "b/c"]);
    assert.equal(restores(w.agent), 1);
  });

  it("a damaged stored backup is refused before anything reaches the servers", async (t) => {
    const w = await world(t, "a");
    const b = await agentBackup(w.store, w.address);
    const path = join(w.store.dir, b.name);
    const bytes = await readFile(path);
    bytes[bytes.length - 12] = (bytes[bytes.length - 12] ?? 0) ^ 0x40;
    await writeFile(path, bytes);
    const r = await run(["snapshot", "restore", `${w.store.dir}/latest`], w.env);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `^Error fetching backup: the body of backup "${b.name}" has sha256 [0-9a-f]{64}, its metadata says ${b.sha256}\n$`,
      ),
    );
    assert.equal(restores(w.agent), 0);
  });

  it("bad sources: a store without a backup named, a missing backup, an empty store; plain paths as before", async (t) => {
    const w = await world(t, "a");
    await mkdir(w.store.dir);
    const dest = `file://${w.store.dir}`;
    const missing = "consul-1700000000000000000.snap";
    const cases: [string, string][] = [
      [
        dest,
        `Error opening backup store: ${dest} names a store, not a backup: end it in "latest" or in a backup's name (cairn snapshot list ${dest})\n`,
      ],
      [`${dest}/latest`, `Error fetching backup: no backups in local:${w.store.dir}\n`],
      [`${dest}/${missing}`, `Error fetching backup: no backup named "${missing}" in local:${w.store.dir}\n`],
      [
        "gs://bucket/p?zone=x",
        'Error opening backup store: store URL "gs://bucket/p?zone=x": unknown query parameter "zone" (expected "endpoint")\n',
      ],
      [
        join(w.dir, "nothing.snap"),
        `Error opening snapshot file: open ${join(w.dir, "nothing.snap")}: no such file or directory\n`,
      ],
    ];
    for (const [arg, stderr] of cases) {
      for (const cmd of ["restore", "inspect"]) {
        const r = await run(["snapshot", cmd, arg], w.env);
        assert.deepEqual([r.code, r.stdout, r.stderr], [1, "", stderr], `${cmd} ${arg}`);
      }
    }
    assert.equal(restores(w.agent), 0);
  });
});

describe("encrypted backups (.snap.enc)", () => {
  it("restore with the right key brings the keys back; a wrong key or no key restores nothing", async (t) => {
    const w = await world(t, "a", "b/c");
    const { path: keyPath, key } = await keyFile(w.dir);
    const { path: otherKey } = await keyFile(w.dir, "other.key");
    const b = await agentBackup(w.store, w.address, key);
    await w.api.kvWrite({ op: "delete-tree", prefix: "" });
    await w.api.kvWrite({ op: "set", key: "later", value: Buffer.from("x"), flags: 0n });
    const latest = `file://${w.store.dir}/latest`;

    const noKey = await run(["snapshot", "restore", latest], w.env);
    assert.deepEqual(
      [noKey.code, noKey.stderr],
      [
        1,
        `Error reading backup: local:${w.store.dir}/${b.name} is an encrypted cairn backup: pass -decrypt-key-file FILE with its key\n`,
      ],
    );
    const wrong = await run(["snapshot", "restore", "-decrypt-key-file", otherKey, latest], w.env);
    assert.equal(wrong.code, 1);
    assert.match(
      wrong.stderr,
      /^Error decrypting backup: encrypted backup was encrypted with a different key \(key id [0-9a-f]{16}, this key [0-9a-f]{16}\)/,
    );
    assert.deepEqual([keysOf(w.api), restores(w.agent)], [["later"], 0]);

    const right = await run(["snapshot", "restore", "-decrypt-key-file", keyPath, latest], w.env);
    succeeded(right);
    assert.deepEqual(
      [right.stdout, keysOf(w.api), restores(w.agent)],
      ["Restored snapshot\n", ["a", "b/c"], 1],
    );
  });

  it("a .snap.enc file: inspect without the key names the flag; with it, inspect, decode and restore work", async (t) => {
    const w = await world(t, "a");
    const { path: keyPath, key } = await keyFile(w.dir);
    const b = await agentBackup(w.store, w.address, key);
    const file = join(w.store.dir, b.name);
    const noKey = await run(["snapshot", "inspect", file], w.env);
    assert.deepEqual(
      [noKey.code, noKey.stderr],
      [
        1,
        "Error reading snapshot: failed to decompress snapshot: this is an encrypted cairn backup: use -decrypt-key-file\n",
      ],
    );
    const restoreNoKey = await run(["snapshot", "restore", file], w.env);
    assert.deepEqual(
      [restoreNoKey.code, restoreNoKey.stderr],
      [
        1,
        "Error verifying snapshot file: failed to decompress snapshot: this is an encrypted cairn backup: use -decrypt-key-file\n",
      ],
    );
    const inspected = await run(["snapshot", "inspect", "-decrypt-key-file", keyPath, file], w.env);
    succeeded(inspected);
    assert.match(inspected.stdout, new RegExp(`^ ID\\s+\\S+\\n Size\\s+\\d+\\n Index\\s+${b.index}\\n`));
    assert.equal(inspected.stderr, "");
    const decoded = await run(["snapshot", "decode", "-decrypt-key-file", keyPath, file], w.env);
    succeeded(decoded);
    assert.match(decoded.stdout, /"Key":"a"/);
    await w.api.kvWrite({ op: "delete-tree", prefix: "" });
    const restored = await run(["snapshot", "restore", "-decrypt-key-file", keyPath, file], w.env);
    succeeded(restored);
    assert.deepEqual(keysOf(w.api), ["a"]);
    // A plain file with the flag is read as it is.
    const plain = join(w.dir, "plain.snap");
    const saved = await run(["snapshot", "save", plain], w.env);
    succeeded(saved);
    await verifyArchive([await readFile(plain)]);
    const plainInspect = await run(["snapshot", "inspect", "-decrypt-key-file", keyPath, plain], w.env);
    succeeded(plainInspect);
  });

  it("a bad key file is refused before anything is read", async (t) => {
    const w = await world(t, "a");
    const bad = join(w.dir, "bad.key");
    await writeFile(bad, `${Buffer.from("short").toString("base64")}\n`, { mode: 0o600 });
    const r = await run(["snapshot", "restore", "-decrypt-key-file", bad, `${w.store.dir}/latest`], w.env);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^Error reading decryption key: encryption key file ".*bad\.key" holds 5 bytes, not 32/,
    );
    assert.equal(restores(w.agent), 0);
  });
});
