import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { MemoryServer } from "../api/memory-server.js";
import { encryptStream, generateKey, verifyArchive } from "../snapshot/index.js";
import { withTempDir } from "../snapshot/testutil.js";
import { checkStoredBackup } from "./backup-check.js";
import {
  BackupKeyRequiredError,
  fetchBackup,
  findBackup,
  listBackups,
  NoBackupsError,
  peek,
  plainArchiveOf,
} from "./backup-read.js";
import type { BackupMeta } from "./store.js";
import { BackupBodyMismatchError, BackupNotFoundError } from "./store-checks.js";
import { LocalStore } from "./store-local.js";
import { LATEST } from "./store-url.js";

const OLD = "consul-1700000000000000000.snap";
const NEW = "consul-1700000060000000000.snap";
const SEALED = "consul-1700000120000000000.snap.enc";

/** A real archive of a state holding `keys`, as `snapshot save` gets it. */
async function archiveOf(...keys: string[]): Promise<Buffer> {
  const api = new MemoryServer();
  for (const k of keys) await api.kvWrite({ op: "set", key: k, value: Buffer.from(k), flags: 0n });
  const parts: Buffer[] = [];
  for await (const c of (await api.snapshotSave(false)).archive) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

async function seal(data: Buffer, key: Uint8Array): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of Readable.from([data]).pipe(encryptStream(key))) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

function metaOf(data: Buffer, index = 7): BackupMeta {
  const sha256 = createHash("sha256").update(data).digest("hex");
  return { index, term: 2, size: data.length, sha256, version: "0.1.0" };
}

async function put(store: LocalStore, name: string, data: Buffer, meta = metaOf(data)): Promise<void> {
  await store.put(name, Readable.from([data]), meta);
}

/** A store in `dir`/store and a scratch dir `dir`/tmp that must be empty after every fetch. */
async function setUp(dir: string): Promise<{ store: LocalStore; tmp: string }> {
  const store = new LocalStore(join(dir, "store"));
  const tmp = join(dir, "tmp");
  await mkdir(tmp);
  return { store, tmp };
}

/** setUp, with a plain archive and its encryption under a new key stored as SEALED. */
async function withSealed(dir: string) {
  const { store, tmp } = await setUp(dir);
  const key = generateKey();
  const plain = await archiveOf("a");
  const sealed = await seal(plain, key);
  await put(store, SEALED, sealed);
  return { store, tmp, key, plain, sealed };
}

describe("listBackups and findBackup", () => {
  it("our backups newest first, anything else left out; latest is the newest; a missing one is named", async () => {
    await withTempDir(async (dir) => {
      const { store } = await setUp(dir);
      await assert.rejects(findBackup(store, LATEST), NoBackupsError);
      const data = await archiveOf("a");
      for (const name of [OLD, SEALED, NEW, "backup.snap", "consul-x.snap", "consul-1.snapshot"]) {
        await put(store, name, data);
      }
      const listed = await listBackups(store);
      assert.deepEqual(
        listed.map((b) => [b.name, b.encrypted, b.time.toISOString()]),
        [
          [SEALED, true, "2023-11-14T22:15:20.000Z"],
          [NEW, false, "2023-11-14T22:14:20.000Z"],
          [OLD, false, "2023-11-14T22:13:20.000Z"],
        ],
      );
      assert.equal((await findBackup(store, LATEST)).name, SEALED);
      const old = await findBackup(store, OLD);
      assert.deepEqual([old.id, old.meta?.index, old.size], [1700000000000000000n, 7, data.length]);
      await assert.rejects(findBackup(store, "consul-1800000000000000000.snap"), BackupNotFoundError);
      await assert.rejects(findBackup(store, "backup.snap"), BackupNotFoundError);
    });
  });
});

describe("fetchBackup", () => {
  it("a plain backup: the stored bytes, 0600 in a private dir, checked; remove() leaves nothing", async () => {
    await withTempDir(async (dir) => {
      const { store, tmp } = await setUp(dir);
      const data = await archiveOf("a", "b");
      await put(store, NEW, data);
      const got = await fetchBackup(store, await findBackup(store, NEW), { key: null, tmpDir: tmp });
      assert.deepEqual([got.checked, got.decrypted], [true, false]);
      assert.deepEqual(await readFile(got.path), data);
      assert.equal((await stat(got.path)).mode & 0o777, 0o600);
      assert.equal((await stat(join(got.path, ".."))).mode & 0o777, 0o700);
      assert.equal(got.path.endsWith(`/${NEW}`), true);
      await got.remove();
      assert.deepEqual(await readdir(tmp), []);
    });
  });

  it("an encrypted backup is decrypted with the key, by its name or by its content; counted as it arrives", async () => {
    await withTempDir(async (dir) => {
      const { store, tmp, key, plain, sealed } = await withSealed(dir);
      await put(store, NEW, sealed); // encrypted, though its name does not say so
      for (const name of [SEALED, NEW]) {
        let counted = 0;
        const got = await fetchBackup(store, await findBackup(store, name), {
          key,
          tmpDir: tmp,
          onBytes: (n) => {
            counted += n;
          },
        });
        assert.deepEqual([got.decrypted, counted], [true, sealed.length], name);
        assert.deepEqual(await readFile(got.path), plain);
        assert.equal(got.path.endsWith(".snap"), true);
        await verifyArchive([await readFile(got.path)]);
        await got.remove();
      }
      assert.deepEqual(await readdir(tmp), []);
    });
  });

  it("refuses, leaving nothing: no key, a wrong key, bytes that are not the recorded ones, a .snap.enc that is not encrypted", async () => {
    await withTempDir(async (dir) => {
      const { store, tmp, key, plain } = await withSealed(dir);
      const backup = await findBackup(store, SEALED);
      await assert.rejects(fetchBackup(store, backup, { key: null, tmpDir: tmp }), (e: unknown) => {
        assert.ok(e instanceof BackupKeyRequiredError);
        assert.equal(
          e.message,
          `${store.label}/${SEALED} is an encrypted cairn backup: its key is needed to read it`,
        );
        return true;
      });
      await assert.rejects(fetchBackup(store, backup, { key: generateKey(), tmpDir: tmp }), {
        name: "EnvelopeError",
        code: "wrong_key",
      });
      // One byte changed on disk, the recorded size and SHA-256 kept: caught before the file is used.
      const tampered = Buffer.from(plain);
      tampered[tampered.length - 10] = (tampered[tampered.length - 10] ?? 0) ^ 1;
      await put(store, NEW, plain);
      await writeFile(join(store.dir, NEW), tampered);
      await assert.rejects(
        fetchBackup(store, await findBackup(store, NEW), { key: null, tmpDir: tmp }),
        BackupBodyMismatchError,
      );
      await put(store, "consul-1700000180000000000.snap.enc", plain);
      await assert.rejects(
        fetchBackup(store, await findBackup(store, "consul-1700000180000000000.snap.enc"), {
          key,
          tmpDir: tmp,
        }),
        { name: "EnvelopeError", code: "not_encrypted" },
      );
      assert.deepEqual(await readdir(tmp), []);
    });
  });

  it("a backup without recorded metadata is fetched unchecked", async () => {
    await withTempDir(async (dir) => {
      const { store, tmp } = await setUp(dir);
      const data = await archiveOf("a");
      await put(store, OLD, data);
      await rm(join(store.dir, `${OLD}.meta.json`));
      const got = await fetchBackup(store, await findBackup(store, OLD), { key: null, tmpDir: tmp });
      assert.deepEqual([got.checked, (await readFile(got.path)).equals(data)], [false, true]);
      await got.remove();
    });
  });
});

describe("plainArchiveOf", () => {
  it("a plain file is itself; an encrypted one is decrypted into a temp file; a wrong key leaves nothing", async () => {
    await withTempDir(async (dir) => {
      const { tmp } = await setUp(dir);
      const key = generateKey();
      const plain = await archiveOf("a");
      const file = join(dir, "backup.snap");
      await writeFile(file, plain);
      const same = await plainArchiveOf(file, key, { tmpDir: tmp });
      assert.deepEqual([same.path, same.decrypted], [file, false]);
      await same.remove();
      assert.deepEqual((await readFile(file)).equals(plain), true);
      const sealedFile = join(dir, "backup.snap.enc");
      await writeFile(sealedFile, await seal(plain, key));
      const opened = await plainArchiveOf(sealedFile, key, { tmpDir: tmp });
      assert.deepEqual([opened.decrypted, (await readFile(opened.path)).equals(plain)], [true, true]);
      await opened.remove();
      await assert.rejects(plainArchiveOf(sealedFile, generateKey(), { tmpDir: tmp }), { code: "wrong_key" });
      assert.deepEqual(await readdir(tmp), []);
    });
  });
});

describe("checkStoredBackup", () => {
  it("ok for sound backups: plain, encrypted with the key (archive verified too) and without (bytes only)", async () => {
    await withTempDir(async (dir) => {
      const { store } = await setUp(dir);
      const key = generateKey();
      const plain = await archiveOf("a", "b");
      const sealed = await seal(plain, key);
      await put(store, NEW, plain);
      await put(store, SEALED, sealed);
      const ok = { status: "ok", problems: [] };
      const check = async (name: string, k: Uint8Array | null) => {
        const { status, problems } = await checkStoredBackup(store, await findBackup(store, name), k);
        return { status, problems };
      };
      assert.deepEqual(await check(NEW, null), ok);
      assert.deepEqual(await check(NEW, key), ok);
      assert.deepEqual(await check(SEALED, key), ok);
      assert.deepEqual(await check(SEALED, null), ok);
      const full = await checkStoredBackup(store, await findBackup(store, SEALED), key);
      assert.deepEqual([full.size, full.sha256], [sealed.length, metaOf(sealed).sha256]);
      const wrong = await check(SEALED, generateKey());
      assert.equal(wrong.status, "failed");
      assert.match(wrong.problems[0] ?? "", /^encrypted backup was encrypted with a different key/);
    });
  });

  it("MISMATCH for changed bytes, failed for a bad archive, unchecked when nothing can be checked", async () => {
    await withTempDir(async (dir) => {
      const { store } = await setUp(dir);
      const plain = await archiveOf("a");
      await put(store, NEW, plain);
      const tampered = Buffer.from(plain);
      tampered[20] = (tampered[20] ?? 0) ^ 0xff;
      await writeFile(join(store.dir, NEW), tampered);
      const mismatch = await checkStoredBackup(store, await findBackup(store, NEW), null);
      assert.equal(mismatch.status, "mismatch");
      assert.match(
        mismatch.problems[0] ?? "",
        new RegExp(
          `^reads ${plain.length} bytes with sha256 [0-9a-f]{64}; recorded: ${plain.length} bytes with sha256 ${metaOf(plain).sha256}$`,
        ),
      );
      // Recorded faithfully, but not an archive: the bytes match, the archive does not verify.
      const junk = Buffer.from("not an archive at all");
      await put(store, OLD, junk);
      const bad = await checkStoredBackup(store, await findBackup(store, OLD), null);
      assert.deepEqual(bad.status, "failed");
      assert.deepEqual(bad.problems, ["failed to decompress snapshot: gzip: invalid header"]);
      // Encrypted, nothing recorded and no key: nothing to check against.
      await put(store, SEALED, await seal(plain, generateKey()));
      await rm(join(store.dir, `${SEALED}.meta.json`));
      assert.equal(
        (await checkStoredBackup(store, await findBackup(store, SEALED), null)).status,
        "unchecked",
      );
      // Gone since it was listed: the read fails.
      const listed = await findBackup(store, NEW);
      await store.delete(NEW);
      const gone = await checkStoredBackup(store, listed, null);
      assert.equal(gone.status, "failed");
      assert.match(gone.problems[0] ?? "", /^read: no backup named/);
    });
  });

  it("a large archive flows through the check with backpressure, in one read", async () => {
    await withTempDir(async (dir) => {
      const { store } = await setUp(dir);
      const keys = Array.from({ length: 3000 }, (_, i) => `k/${i}/${"x".repeat(200)}`);
      const plain = await archiveOf(...keys);
      await put(store, NEW, plain);
      const r = await checkStoredBackup(store, await findBackup(store, NEW), null);
      assert.deepEqual([r.status, r.size], ["ok", plain.length]);
    });
  });
});

describe("peek", () => {
  it("gives the first bytes however the source is cut, and all of it after", async () => {
    const data = Buffer.from("CAIRNENC and the rest");
    for (const cut of [1, 3, 8, 100]) {
      const pieces = [];
      for (let i = 0; i < data.length; i += cut) pieces.push(data.subarray(i, i + cut));
      const { head, rest } = await peek(Readable.from(pieces), 8);
      const all: Buffer[] = [];
      for await (const c of rest) all.push(c as Buffer);
      assert.deepEqual(
        [head.toString(), Buffer.concat(all).toString()],
        ["CAIRNENC", data.toString()],
        `cut ${cut}`,
      );
    }
    const short = await peek(Readable.from([Buffer.from("abc")]), 8);
    assert.equal(short.head.toString(), "abc");
  });
});
