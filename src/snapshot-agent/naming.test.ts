import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { IdSequence, objectName, parseObjectName, snapshotId } from "./naming.js";

const MAX_ID = 10n ** 20n - 1n;

describe("snapshotId", () => {
  it("is the time in nanoseconds: 19 digits in our era", () => {
    const id = snapshotId(Date.UTC(2016, 10, 17, 5, 21, 13, 448), new IdSequence());
    assert.equal(id, "1479360073448000000");
  });

  it("strictly increases within one millisecond and when the clock steps back", () => {
    const seq = new IdSequence();
    const ms = 1_700_000_000_123;
    assert.deepEqual(
      [ms, ms, ms, ms - 5000, ms + 1].map((t) => snapshotId(t, seq)),
      [
        "1700000000123000000",
        "1700000000123000001",
        "1700000000123000002",
        "1700000000123000003",
        "1700000000124000000",
      ],
    );
  });

  it("strictly increases for any run of clock readings, never below the clock", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 4_102_444_800_000 }), { minLength: 1, maxLength: 60 }),
        (times) => {
          const seq = new IdSequence();
          let prev = -1n;
          for (const t of times) {
            const id = BigInt(snapshotId(t, seq));
            assert.ok(id > prev, `${id} after ${prev}`);
            assert.ok(id >= BigInt(t) * 1_000_000n);
            prev = id;
          }
        },
      ),
    );
  });

  it("strictly increases across calls sharing the process's sequence", () => {
    const ids = Array.from({ length: 500 }, () => BigInt(snapshotId(Date.now())));
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!);
  });

  it("refuses a time that is not a whole number of ms in range, and issues nothing", () => {
    const seq = new IdSequence();
    for (const bad of [Number.NaN, -1, 1.5, Number.POSITIVE_INFINITY, 1e14 + 1]) {
      assert.throws(() => snapshotId(bad, seq), RangeError);
    }
    assert.equal(snapshotId(5, seq), "5000000");
  });
});

describe("objectName and parseObjectName", () => {
  it("names a backup as Consul does, with .enc when encrypted", () => {
    assert.equal(objectName("1479360073448728784", false), "consul-1479360073448728784.snap");
    assert.equal(objectName(1479360073448728784n, true), "consul-1479360073448728784.snap.enc");
    assert.deepEqual(parseObjectName("consul-1479360073448728784.snap"), {
      id: 1479360073448728784n,
      time: new Date("2016-11-17T05:21:13.448Z"),
      encrypted: false,
    });
    assert.equal(parseObjectName("consul-1479360073448728784.snap.enc")?.encrypted, true);
  });

  it("refuses an ID that is not 1 to 20 decimal digits", () => {
    for (const bad of ["", "12a", "-1", " 1", "1".repeat(21), -1n, MAX_ID + 1n]) {
      assert.throws(() => objectName(bad, false), RangeError);
    }
  });

  it("round-trips every ID", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX_ID }), fc.boolean(), (id, encrypted) => {
        const name = objectName(id, encrypted);
        assert.deepEqual(parseObjectName(name), {
          id,
          time: new Date(Number(id / 1_000_000n)),
          encrypted,
        });
      }),
    );
  });

  it("does not claim names the agent did not write", () => {
    const foreign = [
      "",
      "consul-.snap",
      "consul-1.snap.tmp",
      "consul-1.snap.enc.enc",
      "consul-1.snap.sha256",
      ".consul-1.snap.tmp-4f2a",
      "consul-snapshot/consul-1.snap",
      "Consul-1.snap",
      "consul-1.SNAP",
      "consul-+1.snap",
      "consul-1.5.snap",
      "consul-1e5.snap",
      `consul-${"1".repeat(21)}.snap`,
      "consul-1.snap\n",
      " consul-1.snap",
      "consul-١٢.snap",
      "backup.snap",
    ];
    for (const name of foreign) assert.equal(parseObjectName(name), null, JSON.stringify(name));
  });

  it("does not claim an agent's name with anything before or after it", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: MAX_ID }),
        fc.boolean(),
        fc.string({ minLength: 1 }),
        fc.boolean(),
        (id, encrypted, extra, before) => {
          const name = objectName(id, encrypted);
          const changed = before ? extra + name : name + extra;
          const isEncryptedForm = !before && !encrypted && extra === ".enc";
          assert.equal(parseObjectName(changed) !== null, isEncryptedForm, JSON.stringify(changed));
        },
      ),
    );
  });
});
