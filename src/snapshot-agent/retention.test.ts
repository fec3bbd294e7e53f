import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { RetentionConfig } from "./config-types.js";
import { objectName } from "./naming.js";
import { type BackupEntry, planRetention } from "./retention.js";

// Buckets are UTC: run in a zone far from it, so that one taken in local time fails here even on a UTC machine.
// Each test file runs in a process of its own, and Node reads TZ again when it is set.
process.env.TZ = "Asia/Tokyo";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2024, 0, 10, 0, 15);
const NONE: RetentionConfig = { retain: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0 };
type Tier = "hourly" | "daily" | "weekly" | "monthly";

const backup = (ms: number, verified = true, sub = 0): BackupEntry => ({
  name: objectName(BigInt(ms) * 1_000_000n + BigInt(sub), false),
  time: new Date(ms),
  verified,
});
const newestFirst = (bs: readonly BackupEntry[]): BackupEntry[] =>
  [...bs].sort((a, b) => b.time.getTime() - a.time.getTime() || (a.name < b.name ? 1 : -1));
const keptBy = (bs: readonly BackupEntry[], deleted: readonly string[]): Set<string> => {
  const gone = new Set(deleted);
  return new Set(bs.filter((b) => !gone.has(b.name)).map((b) => b.name));
};

/** ISO 8601 week-year and week: the Thursday of a date's week decides both. Independent of retention.ts's buckets. */
function isoWeek(ms: number): string {
  const d = new Date(ms);
  const thursday = Date.UTC(
    d.getUTCFullYear(),
    d.getUTCMonth(),
    d.getUTCDate() - ((d.getUTCDay() + 6) % 7) + 3,
  );
  const year = new Date(thursday).getUTCFullYear();
  return `${year}-W${1 + Math.floor((thursday - Date.UTC(year, 0, 1)) / (7 * DAY))}`;
}
const bucketKey: Record<Tier, (ms: number) => string> = {
  hourly: (ms) => new Date(ms).toISOString().slice(0, 13),
  daily: (ms) => new Date(ms).toISOString().slice(0, 10),
  weekly: isoWeek,
  monthly: (ms) => new Date(ms).toISOString().slice(0, 7),
};

/** What one tier keeps of backups dated up to now: the newest of each of the newest N buckets that hold one. */
function tierPicks(bs: readonly BackupEntry[], tier: Tier, n: number, now: number): string[] {
  const newestOfBucket = new Map<string, BackupEntry>();
  for (const b of newestFirst(bs)) {
    const key = bucketKey[tier](b.time.getTime());
    if (b.time.getTime() <= now && !newestOfBucket.has(key)) newestOfBucket.set(key, b);
  }
  return [...newestOfBucket.values()].slice(0, n).map((b) => b.name);
}

// Backups over ~14 months, many within one hour or one millisecond, some dated after now.
const backupsArb = fc
  .uniqueArray(
    fc.record({
      ms: fc.oneof(
        fc.integer({ min: 0, max: 430 * DAY }),
        fc.integer({ min: 0, max: 3 * HOUR }),
        fc.integer({ min: 0, max: 3 }),
      ),
      sub: fc.integer({ min: 0, max: 999_999 }),
      verified: fc.boolean(),
    }),
    { selector: (r) => `${r.ms}:${r.sub}`, maxLength: 80 },
  )
  .map((rs) => rs.map((r) => backup(T0 + r.ms, r.verified, r.sub)));
/** A listing and the same backups in another order. */
const listingsArb = backupsArb.chain((bs) =>
  fc.tuple(fc.constant(bs), fc.shuffledSubarray(bs, { minLength: bs.length, maxLength: bs.length })),
);
const countArb = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 6 }));
const policyArb = fc.record({
  retain: countArb,
  hourly: countArb,
  daily: countArb,
  weekly: countArb,
  monthly: countArb,
});
const nowArb = fc.integer({ min: -DAY, max: 440 * DAY }).map((ms) => new Date(T0 + ms));

describe("planRetention: invariants", () => {
  it("never deletes the newest verified backup", () => {
    fc.assert(
      fc.property(backupsArb, policyArb, nowArb, (bs, policy, now) => {
        const newestVerified = newestFirst(bs).find((b) => b.verified);
        if (newestVerified !== undefined)
          assert.ok(!planRetention(bs, policy, now).includes(newestVerified.name));
      }),
    );
  });

  it("deletes nothing with retain 0 and no tier", () => {
    fc.assert(
      fc.property(backupsArb, nowArb, (bs, now) => assert.deepEqual(planRetention(bs, NONE, now), [])),
    );
  });

  it("returns only names it was given, each once, oldest first", () => {
    fc.assert(
      fc.property(backupsArb, policyArb, nowArb, (bs, policy, now) => {
        const deleted = planRetention(bs, policy, now);
        const order = newestFirst(bs)
          .reverse()
          .map((b) => b.name);
        assert.deepEqual(
          deleted,
          order.filter((name) => deleted.includes(name)),
        );
        assert.equal(new Set(deleted).size, deleted.length);
      }),
    );
  });

  it("gives the same plan for the same now, whatever the order of the listing", () => {
    fc.assert(
      fc.property(listingsArb, policyArb, nowArb, ([bs, shuffled], policy, now) => {
        assert.deepEqual(planRetention(shuffled, policy, now), planRetention(bs, policy, now));
        assert.deepEqual(planRetention(bs, policy, now), planRetention(bs, policy, now));
      }),
    );
  });

  it("keeps at least the newest `retain`", () => {
    fc.assert(
      fc.property(backupsArb, policyArb, nowArb, (bs, policy, now) => {
        const kept = keptBy(bs, planRetention(bs, policy, now));
        for (const b of newestFirst(bs).slice(0, policy.retain)) assert.ok(kept.has(b.name), b.name);
      }),
    );
  });

  it("a lone tier keeps exactly the newest of each of the last N buckets with backups (and what is after now)", () => {
    const tierArb = fc.constantFrom<Tier>("hourly", "daily", "weekly", "monthly");
    fc.assert(
      fc.property(backupsArb, tierArb, fc.integer({ min: 1, max: 8 }), nowArb, (bs, tier, n, now) => {
        // Unverified, so the newest-verified rule adds nothing to what the tier keeps.
        const unverified = bs.map((b) => ({ ...b, verified: false }));
        const kept = keptBy(unverified, planRetention(unverified, { ...NONE, [tier]: n }, now));
        const future = unverified.filter((b) => b.time > now).map((b) => b.name);
        assert.deepEqual(kept, new Set([...tierPicks(unverified, tier, n, now.getTime()), ...future]));
      }),
    );
  });

  it("keeps exactly the union of the rules", () => {
    fc.assert(
      fc.property(backupsArb, policyArb, nowArb, (bs, policy, now) => {
        const kept = keptBy(bs, planRetention(bs, policy, now));
        const tiers: Tier[] = ["hourly", "daily", "weekly", "monthly"];
        const all = tiers.every((t) => policy[t] === 0) && policy.retain === 0;
        const want = all
          ? bs.map((b) => b.name)
          : [
              ...newestFirst(bs)
                .slice(0, policy.retain)
                .map((b) => b.name),
              ...newestFirst(bs)
                .filter((b) => b.verified)
                .slice(0, 1)
                .map((b) => b.name),
              ...bs.filter((b) => b.time > now).map((b) => b.name),
              ...tiers.flatMap((t) => tierPicks(bs, t, policy[t], now.getTime())),
            ];
        assert.deepEqual(kept, new Set(want));
      }),
    );
  });
});

describe("planRetention: examples", () => {
  it("hourly backups over 90 days with retain 24, daily 7, weekly 4, monthly 3", () => {
    // 2024-01-10T00:15Z to 2024-04-08T23:15Z, on the quarter hour; 2024-04-08 is a Monday, 2024 a leap year.
    const bs = Array.from({ length: 90 * 24 }, (_, i) => backup(T0 + i * HOUR));
    assert.equal(bs.at(-1)!.time.toISOString(), "2024-04-08T23:15:00.000Z");
    const policy = { retain: 24, hourly: 0, daily: 7, weekly: 4, monthly: 3 };
    const kept = keptBy(bs, planRetention(bs, policy, new Date("2024-04-08T23:40:00Z")));
    const want = [
      // retain 24: all of 2024-04-08 (also that day, that week and that month's newest)
      ...Array.from({ length: 24 }, (_, h) => `2024-04-08T${String(h).padStart(2, "0")}:15:00.000Z`),
      // daily 7: the six days before
      ...["02", "03", "04", "05", "06", "07"].map((d) => `2024-04-${d}T23:15:00.000Z`),
      // weekly 4: the Sundays ending the ISO weeks of Mar 25–31 and Mar 18–24 (Apr 1–7 is Apr 7's already)
      "2024-03-31T23:15:00.000Z", // also March's newest
      "2024-03-24T23:15:00.000Z",
      // monthly 3: February's newest, a leap day
      "2024-02-29T23:15:00.000Z",
    ];
    assert.deepEqual(
      [...kept].map((name) => bs.find((b) => b.name === name)!.time.toISOString()).sort(),
      want.sort(),
    );
  });

  it("counts only buckets holding a backup: an outage does not age backups out of a tier", () => {
    const days = [0, 1, 2, 40, 41].map((d) => backup(T0 + d * DAY));
    const deleted = planRetention(days, { ...NONE, daily: 3 }, new Date(T0 + 60 * DAY));
    assert.deepEqual(deleted, [days[0]!.name, days[1]!.name]);
  });

  it("keeps the newest verified backup beyond retain, and deletes older unverified ones like any other", () => {
    const [oldUnverified, oldVerified, verified, newest] = [
      backup(T0, false),
      backup(T0 + HOUR, true),
      backup(T0 + 2 * HOUR, true),
      backup(T0 + 3 * HOUR, false),
    ];
    const all = [oldUnverified!, oldVerified!, verified!, newest!];
    assert.deepEqual(planRetention(all, { ...NONE, retain: 1 }, new Date(T0 + DAY)), [
      oldUnverified!.name,
      oldVerified!.name,
    ]);
  });

  it("keeps a backup dated after now, whatever the policy", () => {
    const bs = [backup(T0), backup(T0 + HOUR), backup(T0 + 2 * HOUR)];
    // retain 1 keeps the newest; the one an hour after now is kept beside it
    assert.deepEqual(planRetention(bs, { ...NONE, retain: 1 }, new Date(T0 + 30 * 60_000)), [bs[0]!.name]);
    assert.deepEqual(planRetention(bs, { ...NONE, hourly: 1 }, new Date(T0 + 90 * 60_000)), [bs[0]!.name]);
  });

  it("refuses a bad policy, time or listing", () => {
    const bs = [backup(T0), backup(T0 + HOUR)];
    const now = new Date(T0 + DAY);
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => planRetention(bs, { ...NONE, weekly: bad }, now), /weekly must be a whole number/);
    }
    assert.throws(
      () => planRetention(bs, { ...NONE, retain: 1 }, new Date(Number.NaN)),
      /now is an invalid date/,
    );
    assert.throws(() => planRetention([...bs, bs[0]!], { ...NONE, retain: 1 }, now), /listed twice/);
    assert.throws(
      () => planRetention([{ ...bs[0]!, time: new Date("x") }], { ...NONE, retain: 1 }, now),
      /invalid time/,
    );
  });
});
