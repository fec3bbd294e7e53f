/**
 * Backup object names, as Consul's snapshot agent writes them (docs/consul-compat.md §6.4): `consul-<id>.snap`,
 * where the ID is the Unix time in nanoseconds; cairn adds `.snap.enc` for encrypted backups. The store adds its
 * own prefix. Retention only deletes names that parse here, so nothing else in a bucket or directory is touched:
 * temp files, sidecars, a static S3 name, other tools' objects.
 */

const NS_PER_MS = 1_000_000n;
/** 20 digits: enough for any time a Date can hold up to the year 5138; Consul's IDs have 19 until 2286. */
const MAX_ID = 10n ** 20n - 1n;
const MAX_NOW_MS = Number(MAX_ID / NS_PER_MS);
const NAME = /^consul-(\d{1,20})\.snap(\.enc)?$/;
const ID = /^\d{1,20}$/;

/**
 * The IDs issued so far in one sequence. IDs come from the wall clock in ms × 10⁶, raised to one past the last
 * ID when that is not larger (several backups within one millisecond, or the clock stepped back).
 *
 * Why not `process.hrtime.bigint()` offset from a wall-clock anchor: its nanoseconds are not more true, since the
 * anchor only has ms, and the monotonic clock drifts away from the wall clock over a daemon's months of uptime
 * (NTP slews one and not the other), so IDs would slowly stop saying when a backup was taken, and retention reads
 * a backup's time from its ID. The counter keeps IDs in the order they were issued. After the clock steps back,
 * they stay just above the last ID until the clock catches up, so a backup never looks older than one taken
 * before it.
 */
export class IdSequence {
  #last = -1n;

  next(nowMs: number): string {
    if (!Number.isSafeInteger(nowMs) || nowMs < 0 || nowMs > MAX_NOW_MS) {
      throw new RangeError(
        `snapshot ID: the time must be a whole number of ms from 0 to ${MAX_NOW_MS}: ${nowMs}`,
      );
    }
    const fromClock = BigInt(nowMs) * NS_PER_MS;
    const id = fromClock > this.#last ? fromClock : this.#last + 1n;
    if (id > MAX_ID) throw new RangeError(`snapshot ID: past ${MAX_ID}`);
    this.#last = id;
    return id.toString();
  }
}

/** One sequence per process: its IDs strictly increase whichever code asks for one. */
const processIds = new IdSequence();

/** A new snapshot ID (19 decimal digits in our era) for a backup taken at `nowMs` (Date.now()). */
export function snapshotId(nowMs: number, seq: IdSequence = processIds): string {
  return seq.next(nowMs);
}

/** The object name of backup `id`, relative to the store's prefix. */
export function objectName(id: string | bigint, encrypted: boolean): string {
  const ok = typeof id === "bigint" ? id >= 0n && id <= MAX_ID : ID.test(id);
  if (!ok) throw new RangeError(`snapshot ID must be 1 to 20 decimal digits: ${String(id)}`);
  return `consul-${id}.snap${encrypted ? ".enc" : ""}`;
}

export interface ParsedName {
  readonly id: bigint;
  /** When the backup was taken (the ID in ms, rounded down). */
  readonly time: Date;
  readonly encrypted: boolean;
}

/** The ID, time and encryption of a backup's object name; null for any name the agent did not write. */
export function parseObjectName(name: string): ParsedName | null {
  const m = NAME.exec(name);
  if (m === null) return null;
  const id = BigInt(m[1]!);
  return { id, time: new Date(Number(id / NS_PER_MS)), encrypted: m[2] !== undefined };
}
