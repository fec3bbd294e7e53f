/**
 * Which backups to delete after a save: Consul's `retain` (the newest N) and cairn's grandfather-father-son tiers
 * (the newest backup of each of the last N hours, days, ISO weeks, months). A backup is kept when any rule keeps
 * it. Two more rules beat the others:
 * - the newest verified backup is kept, so a run of failed verifications cannot leave a store without a backup
 *   known to restore. An unverified backup gets no protection: the rules keep or delete it like any other, so an
 *   older one goes as soon as it falls out of every rule;
 * - a backup dated after `now` is kept: the clock that dated it (another agent's, or ours before it stepped back)
 *   is ahead of ours, and deleting on the word of a clock that runs behind could delete the newest backups.
 *   The rules apply to it once `now` passes its time.
 *
 * Pure: no I/O and no clock; the time comes in as `now`, so a plan is the same for the same input in any order.
 */
import type { RetentionConfig } from "./config-types.js";

export interface BackupEntry {
  /** The object's name; unique (only names that parsed as the agent's, see naming.ts). */
  readonly name: string;
  /** When it was taken: the time in its name. */
  readonly time: Date;
  /** Whether the agent read it back and found it a sound archive. */
  readonly verified: boolean;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** A tier, and the UTC bucket a time falls in: numbers that rise with time, equal within one bucket. */
const TIERS: readonly (readonly ["hourly" | "daily" | "weekly" | "monthly", (ms: number) => number])[] = [
  ["hourly", (ms) => Math.floor(ms / HOUR_MS)],
  ["daily", (ms) => Math.floor(ms / DAY_MS)],
  // ISO weeks run Monday to Sunday. 1970-01-01 was a Thursday, so day + 3 puts every Monday on a multiple of 7:
  // the same buckets as ISO week numbers, without the week-year arithmetic.
  ["weekly", (ms) => Math.floor((Math.floor(ms / DAY_MS) + 3) / 7)],
  [
    "monthly",
    (ms) => {
      const d = new Date(ms);
      return d.getUTCFullYear() * 12 + d.getUTCMonth();
    },
  ],
];

/**
 * The names to delete, oldest first. `retain` 0 keeps all when no tier is set (Consul's meaning); with a tier set
 * it only turns the count rule off, since keeping all would leave the tiers nothing to do. Each tier counts the
 * last N buckets that hold a backup, as restic's and borg's `--keep-hourly N` do, not the last N calendar
 * buckets: a month of outage does not age every backup out of a daily tier.
 */
export function planRetention(backups: readonly BackupEntry[], policy: RetentionConfig, now: Date): string[] {
  check(backups, policy, now);
  const tiers = TIERS.filter(([tier]) => policy[tier] > 0);
  if (policy.retain === 0 && tiers.length === 0) return [];

  // Ties in time (one millisecond) are broken by name, so that the plan never depends on the listing's order.
  const newestFirst = [...backups].sort(
    (a, b) => b.time.getTime() - a.time.getTime() || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0),
  );
  const keep = new Set(newestFirst.slice(0, policy.retain).map((b) => b.name));
  const newestVerified = newestFirst.find((b) => b.verified);
  if (newestVerified !== undefined) keep.add(newestVerified.name);

  const nowMs = now.getTime();
  const past = newestFirst.filter((b) => b.time.getTime() <= nowMs);
  for (const b of newestFirst) if (b.time.getTime() > nowMs) keep.add(b.name);
  for (const [tier, bucketOf] of tiers) {
    // Newest first, so the first backup met in a bucket is its newest, and buckets come one after another.
    let buckets = 0;
    let current: number | undefined;
    for (const b of past) {
      const bucket = bucketOf(b.time.getTime());
      if (bucket === current) continue;
      if (buckets === policy[tier]) break;
      buckets++;
      current = bucket;
      keep.add(b.name);
    }
  }
  return newestFirst
    .filter((b) => !keep.has(b.name))
    .reverse()
    .map((b) => b.name);
}

/** Throws on input that would make a plan meaningless, before anything is decided. */
function check(backups: readonly BackupEntry[], policy: RetentionConfig, now: Date): void {
  for (const key of ["retain", "hourly", "daily", "weekly", "monthly"] as const) {
    const n = policy[key];
    if (!Number.isSafeInteger(n) || n < 0)
      throw new RangeError(`retention: ${key} must be a whole number ≥ 0: ${n}`);
  }
  if (Number.isNaN(now.getTime())) throw new RangeError("retention: now is an invalid date");
  const names = new Set<string>();
  for (const b of backups) {
    if (Number.isNaN(b.time.getTime())) throw new RangeError(`retention: ${b.name} has an invalid time`);
    // A name listed twice could carry two verdicts; deleting it would be right for one and wrong for the other.
    if (names.has(b.name)) throw new RangeError(`retention: ${b.name} is listed twice`);
    names.add(b.name);
  }
}
