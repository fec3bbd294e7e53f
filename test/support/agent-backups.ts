/**
 * Test support: backups written into a store exactly as the snapshot agent writes them (its `takeBackup`: a
 * verified `snapshot save` over HTTP, encryption when a key is given, the upload, the read-back check), and
 * encryption key files as an operator makes them; a TMPDIR of a test's own, to check the CLI leaves no fetched
 * backup behind; and the column of `snapshot list`'s table the tests look at.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { ConsulClient } from "../../src/client/index.js";
import { generateKey } from "../../src/snapshot/index.js";
import { type BackupOutcome, takeBackup } from "../../src/snapshot-agent/backup.js";
import { createAgentMetrics } from "../../src/snapshot-agent/metrics.js";
import type { BackupStore } from "../../src/snapshot-agent/store.js";
import type { RunResult } from "./cli-harness.js";

/** One backup of the datacenter at `address` (`127.0.0.1:port`) into `store`, encrypted with `key` when given. */
export async function agentBackup(
  store: BackupStore,
  address: string,
  key: Uint8Array | null = null,
): Promise<BackupOutcome> {
  const scratch = await mkdtemp(join(tmpdir(), "cairn-agent-scratch-"));
  const client = new ConsulClient({ address });
  try {
    return await takeBackup({
      client,
      targets: [{ store, fixedName: null }],
      scratchDir: scratch,
      stale: false,
      retention: { retain: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0 },
      encryptionKey: key,
      now: Date.now,
      metrics: createAgentMetrics(),
      log: () => {},
      uploadAttempts: 1,
    });
  } finally {
    client.close();
    await rm(scratch, { recursive: true, force: true });
  }
}

/** A new key in a new key file `dir/name` (mode 0600, one line of base64). */
export async function keyFile(dir: string, name = "backup.key"): Promise<{ path: string; key: Buffer }> {
  const key = generateKey();
  const path = join(dir, name);
  await writeFile(path, `${key.toString("base64")}\n`, { mode: 0o600 });
  return { path, key };
}

/**
 * Points TMPDIR (which os.tmpdir() reads on every call) at a new directory for the rest of test `t`; when it ends,
 * restores TMPDIR, asserts no fetched backup (`cairn-backup-*`) is left there, and removes it.
 */
export async function privateTmpdir(t: TestContext): Promise<string> {
  const tmp = await mkdtemp(join(tmpdir(), "cairn-tmpdir-"));
  const before = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  t.after(async () => {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    const left = (await readdir(tmp)).filter((n) => n.startsWith("cairn-backup-"));
    await rm(tmp, { recursive: true, force: true });
    assert.deepEqual(left, [], "fetched backups left in TMPDIR");
  });
  return tmp;
}

/** The last column (Verified) of each line of `snapshot list`'s table, header included. */
export function verifiedColumn(r: RunResult): string[] {
  return r.stdout
    .trimEnd()
    .split("\n")
    .map((l) => l.split(/\s+/).at(-1) ?? "");
}

/** Asserts a command succeeded, showing its stderr when it did not. */
export function succeeded(r: RunResult): void {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
}
