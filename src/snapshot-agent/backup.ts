/**
 * One backup, start to end: save a snapshot to the scratch path, verified as `snapshot save` does; encrypt it
 * when a key is configured; upload it to every store, retrying with backoff; read each copy back and compare its
 * SHA-256 (a 0-byte, short or different copy is deleted and fails the backup); then apply retention, only in the
 * stores that now hold a verified copy. Never a silent bad backup: anything short of every store verified is a
 * failure, reported with the store and the reason.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ConsulClient } from "../client/index.js";
import { encryptStream } from "../snapshot/index.js";
import { errorText } from "../util/errors.js";
import { VERSION } from "../util/version.js";
import type { RetentionConfig } from "./config-types.js";
import type { AgentMetrics } from "./metrics.js";
import { objectName, parseObjectName, snapshotId } from "./naming.js";
import { planRetention } from "./retention.js";
import { saveVerified } from "./save.js";
import type { BackupMeta, BackupStore } from "./store.js";

/** A store and how the agent writes to it. */
export interface Target {
  readonly store: BackupStore;
  /** S3's `s3_static_snapshot_name`: always this one name, no rotation (versioned buckets keep history). */
  readonly fixedName: string | null;
}

export interface BackupOptions {
  readonly client: ConsulClient;
  readonly targets: readonly Target[];
  readonly scratchDir: string;
  readonly stale: boolean;
  readonly retention: RetentionConfig;
  /** AES-256 key for encryption at rest, or null. */
  readonly encryptionKey: Uint8Array | null;
  readonly now: () => number;
  readonly metrics: AgentMetrics;
  readonly log: (level: "debug" | "info" | "warn" | "error", msg: string) => void;
  /** Upload attempts per store before the store counts as failed (with backoff 1 s, 2 s, 4 s …). */
  readonly uploadAttempts?: number;
}

export interface BackupOutcome {
  /** The snapshot ID (Unix nanoseconds), as Consul's agent logs it. */
  readonly id: string;
  readonly name: string;
  readonly index: bigint;
  /** Bytes and SHA-256 of the stored object (encrypted when a key is set). */
  readonly bytes: number;
  readonly sha256: string;
}

export class BackupError extends Error {
  override name = "BackupError";
}

const UPLOAD_ATTEMPTS_DEFAULT = 3;
const BACKOFF_MS = 1000;

export async function takeBackup(o: BackupOptions): Promise<BackupOutcome> {
  const started = o.now();
  o.metrics.lastAttemptSeconds.set(started / 1000);
  const id = snapshotId(started);
  const encrypted = o.encryptionKey !== null;
  await mkdir(o.scratchDir, { recursive: true, mode: 0o700 });
  const plain = join(o.scratchDir, `consul-${id}.snap.unverified`);
  const sealed = join(o.scratchDir, `consul-${id}.snap.enc.unverified`);
  try {
    const saved = await saveVerified(o.client, plain, { stale: o.stale });
    if ("error" in saved) throw new BackupError(saved.error);
    let file = plain;
    let bytes = saved.bytes;
    let sha256 = saved.sha256;
    if (o.encryptionKey !== null) {
      ({ bytes, sha256 } = await encryptFile(plain, sealed, o.encryptionKey));
      file = sealed;
    }
    const meta: BackupMeta = {
      index: Number(saved.index),
      term: saved.meta.Term,
      size: bytes,
      sha256,
      version: VERSION,
    };
    const name = objectName(id, encrypted);
    const results = await Promise.allSettled(
      o.targets.map((t) => uploadVerified(o, t, t.fixedName ?? name, file, meta)),
    );
    const failed = results.flatMap((r, i) => {
      if (r.status !== "rejected") return [];
      // The stores' own errors name the store; the read-back's do not.
      const label = o.targets[i]?.store.label ?? "";
      const text = errorText(r.reason);
      return [text.includes(label) ? text : `${label}: ${text}`];
    });
    // Retention only where this backup is now verified, and never on a fixed name.
    await Promise.all(
      o.targets.map(async (t, i) => {
        if (results[i]?.status !== "fulfilled" || t.fixedName !== null) return;
        await retain(o, t.store, name).catch((e: unknown) =>
          o.log("warn", `retention in ${t.store.label} failed: ${errorText(e)}`),
        );
      }),
    );
    if (failed.length > 0) throw new BackupError(`upload failed: ${failed.join("; ")}`);
    o.metrics.archiveBytes.set(bytes);
    o.metrics.lastIndex.set(Number(saved.index));
    return { id, name, index: saved.index, bytes, sha256 };
  } finally {
    await rm(plain, { force: true });
    await rm(sealed, { force: true });
  }
}

/** Encrypts `from` into `to`, hashing the sealed bytes on the way. */
async function encryptFile(
  from: string,
  to: string,
  key: Uint8Array,
): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash("sha256");
  let bytes = 0;
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  await pipeline(
    createReadStream(from),
    encryptStream(key),
    count,
    createWriteStream(to, { mode: 0o600, flags: "wx" }),
  );
  return { bytes, sha256: hash.digest("hex") };
}

/** Uploads with retries, then reads the copy back: size and SHA-256 must match, or the copy is deleted. */
async function uploadVerified(
  o: BackupOptions,
  t: Target,
  name: string,
  file: string,
  meta: BackupMeta,
): Promise<void> {
  const attempts = o.uploadAttempts ?? UPLOAD_ATTEMPTS_DEFAULT;
  const label = t.store.label;
  let last: unknown = null;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const t0 = o.now();
    try {
      await t.store.put(name, createReadStream(file), meta);
      await readBack(t.store, name, meta);
      o.metrics.uploadSeconds.observe({ store: label }, (o.now() - t0) / 1000);
      o.metrics.uploadBytes.inc({ store: label }, meta.size);
      return;
    } catch (e) {
      last = e;
      o.metrics.uploadFailures.inc({ store: label });
      await t.store.delete(name).catch(() => undefined);
      o.log(
        "warn",
        `upload of ${name} to ${label} failed (attempt ${attempt} of ${attempts}): ${errorText(e)}`,
      );
      if (attempt < attempts) await sleep(BACKOFF_MS * 2 ** (attempt - 1));
    }
  }
  throw last instanceof Error ? last : new Error(String(last));
}

async function readBack(store: BackupStore, name: string, meta: BackupMeta): Promise<void> {
  const head = await store.head(name);
  if (head === null) throw new BackupError(`read-back: ${name} is missing after the upload`);
  if (head.size !== meta.size)
    throw new BackupError(`read-back: ${name} has ${head.size} bytes, ${meta.size} were sent`);
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of await store.get(name)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  const got = hash.digest("hex");
  if (bytes !== meta.size || got !== meta.sha256) {
    throw new BackupError(
      `read-back: ${name} reads ${bytes} bytes with sha256 ${got}, expected ${meta.size} bytes with ${meta.sha256}`,
    );
  }
}

/**
 * Deletes what the retention policy no longer keeps, among the objects named as ours. `justVerified` is the
 * backup this run read back: it counts as verified whatever the listing says (an S3 listing carries no
 * metadata), so the newest verified backup is always protected.
 */
async function retain(o: BackupOptions, store: BackupStore, justVerified: string): Promise<void> {
  const ours = (await store.list("consul-")).flatMap((obj) => {
    const parsed = parseObjectName(obj.name);
    if (parsed === null) return [];
    const verified = obj.name === justVerified || (obj.meta !== undefined && obj.meta.size === obj.size);
    return [{ name: obj.name, time: parsed.time, verified }];
  });
  for (const name of planRetention(ours, o.retention, new Date(o.now()))) {
    await store.delete(name);
    o.metrics.retentionDeletions.inc({ store: store.label });
    o.log("info", `retention: deleted ${name} from ${store.label}`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
