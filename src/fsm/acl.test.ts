import assert from "node:assert/strict";
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  decodeRecord,
  encodeRecord,
  goTimeFromMs,
  goTimeJson,
  goTimeMs,
  readArchive,
  readStateBin,
  type SnapshotRecord,
  type StateBinItem,
} from "../snapshot/index.js";
import { fixture, skipUnlessFixtures } from "../snapshot/testutil.js";
import {
  ACL_BOOTSTRAP_ROW,
  type AclPolicySpec,
  type AclTokenSpec,
  GLOBAL_MANAGEMENT_POLICY_ID,
  TABLE_ACL_POLICIES,
  TABLE_ACL_TOKENS,
} from "./acl.js";
import { decodeCommand, encodeCommand, type KvCommand } from "./command.js";
import { AclError } from "./errors.js";
import { KvStore } from "./kv-store.js";

const HASH = "ab".repeat(32);
const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

function token(accessor: string, secret: string, policies: string[] = []): AclTokenSpec {
  return {
    AccessorID: accessor,
    SecretID: secret,
    Description: `token ${accessor}`,
    Policies: policies.map((ID) => ({ ID, Name: "" })),
    Local: false,
    ExpirationTime: null,
    Hash: HASH,
  };
}

function policy(id: string, name: string, rules = 'key_prefix "" { policy = "read" }'): AclPolicySpec {
  return { ID: id, Name: name, Description: "", Rules: rules, Datacenters: null, Hash: HASH };
}

/** A store with the global-management policy, as the leader's ACL initialization writes it. */
function storeWithManagement(): { s: KvStore; next: () => number } {
  const s = new KvStore();
  let idx = 0;
  const next = (): number => {
    idx += 1;
    return idx;
  };
  assert.equal(
    s.execute(next(), {
      op: "acl-policy-set",
      policy: policy(GLOBAL_MANAGEMENT_POLICY_ID, "global-management", 'acl = "write"'),
    }),
    true,
  );
  return { s, next };
}

describe("ACL commands", () => {
  it("encode and decode to the same command, and refuse trailing bytes", () => {
    const cmds: KvCommand[] = [
      { op: "acl-bootstrap", time: T0, resetIndex: 7, token: token("a", "s", ["p"]) },
      {
        op: "acl-token-set",
        time: T0,
        token: { ...token("a", "s"), Local: true, ExpirationTime: T0 + 60_000 },
      },
      { op: "acl-token-delete", accessor: "a" },
      { op: "acl-policy-set", policy: { ...policy("p", "n"), Datacenters: ["dc1"] } },
      { op: "acl-policy-delete", id: "p" },
    ];
    for (const cmd of cmds) {
      const bytes = encodeCommand(cmd);
      assert.deepStrictEqual(decodeCommand(bytes), cmd);
      assert.throws(() => decodeCommand(Uint8Array.of(...bytes, 0)), { code: "command_decode" });
    }
  });
});

describe("ACL state", () => {
  it("bootstraps once; a second bootstrap names the reset index, which allows one more", () => {
    const { s, next } = storeWithManagement();
    const first = next();
    assert.equal(
      s.execute(first, {
        op: "acl-bootstrap",
        time: T0,
        resetIndex: 0,
        token: token("a1", "s1", [GLOBAL_MANAGEMENT_POLICY_ID]),
      }),
      true,
    );
    assert.equal(s.index.get(ACL_BOOTSTRAP_ROW)?.value, first);
    const again = s.execute(next(), {
      op: "acl-bootstrap",
      time: T0,
      resetIndex: 0,
      token: token("a2", "s2"),
    });
    assert.ok(again instanceof AclError && again.code === "acl_bootstrap_denied");
    assert.equal(again.message, `ACL bootstrap no longer allowed (reset index: ${first})`);
    const wrong = s.execute(next(), {
      op: "acl-bootstrap",
      time: T0,
      resetIndex: 99,
      token: token("a2", "s2"),
    });
    assert.ok(wrong instanceof AclError && wrong.code === "acl_bootstrap_reset");
    assert.equal(wrong.message, `Invalid bootstrap reset index (specified 99, reset index: ${first})`);
    assert.equal(s.aclTokenBySecret("s2").token, null, "refused bootstraps wrote nothing");
    const reset = next();
    assert.equal(
      s.execute(reset, { op: "acl-bootstrap", time: T0, resetIndex: first, token: token("a2", "s2") }),
      true,
    );
    assert.equal(s.index.get(ACL_BOOTSTRAP_ROW)?.value, reset);
    const tok = s.aclTokenBySecret("s1").token;
    assert.equal(tok?.AccessorID, "a1");
    assert.deepEqual(tok?.Policies, [{ ID: GLOBAL_MANAGEMENT_POLICY_ID, Name: "global-management" }]);
    assert.equal(goTimeJson(tok?.CreateTime ?? new Uint8Array()), "2026-01-02T03:04:05.678Z");
  });

  it("refuses Consul's state-store conflicts and changes nothing", () => {
    const { s, next } = storeWithManagement();
    assert.equal(s.execute(next(), { op: "acl-policy-set", policy: policy("p1", "reader") }), true);
    const dup = s.execute(next(), { op: "acl-policy-set", policy: policy("p2", "reader") });
    assert.ok(dup instanceof AclError);
    assert.equal(dup.message, 'A policy with name "reader" already exists');
    const unknown = s.execute(next(), { op: "acl-token-set", time: T0, token: token("a", "s", ["nope"]) });
    assert.ok(unknown instanceof AclError);
    assert.equal(unknown.message, "No such policy with ID: nope");
    const rules = s.execute(next(), {
      op: "acl-policy-set",
      policy: policy(GLOBAL_MANAGEMENT_POLICY_ID, "global-management", ""),
    });
    assert.ok(rules instanceof AclError);
    assert.equal(
      rules.message,
      "Changing the Rules for the builtin global-management policy is not permitted",
    );
    const del = s.execute(next(), { op: "acl-policy-delete", id: GLOBAL_MANAGEMENT_POLICY_ID });
    assert.ok(del instanceof AclError);
    assert.equal(del.message, "Delete operation not permitted on the builtin global-management policy");
    assert.equal(s.aclPolicyList().policies.length, 2);
    assert.equal(s.aclTokenList().tokens.length, 0);
  });

  it("updates keep CreateIndex and CreateTime; renames move the name index; reads show current names", () => {
    const { s, next } = storeWithManagement();
    const pIdx = next();
    s.execute(pIdx, { op: "acl-policy-set", policy: policy("p1", "reader") });
    const created = next();
    assert.equal(s.execute(created, { op: "acl-token-set", time: T0, token: token("a", "s", ["p1"]) }), true);
    const updated = next();
    s.execute(updated, {
      op: "acl-token-set",
      time: T0 + 5000,
      token: { ...token("a", "s", ["p1"]), Description: "new" },
    });
    const tok = s.aclTokenByAccessor("a");
    assert.equal(tok.index, updated);
    assert.equal(tok.token?.CreateIndex, created);
    assert.equal(tok.token?.ModifyIndex, updated);
    assert.equal(tok.token?.Description, "new");
    assert.equal(goTimeMs(tok.token?.CreateTime ?? new Uint8Array()), T0);
    const changed = s.execute(next(), { op: "acl-token-set", time: T0, token: token("a", "other") });
    assert.ok(changed instanceof AclError);
    assert.equal(changed.message, "Changing a tokens SecretID is not permitted");
    s.execute(next(), { op: "acl-policy-set", policy: policy("p1", "renamed") });
    assert.equal(s.aclPolicyByName("reader").policy, null);
    assert.equal(s.aclPolicyByName("renamed").policy?.ID, "p1");
    assert.deepEqual(s.aclTokenByAccessor("a").token?.Policies, [{ ID: "p1", Name: "renamed" }]);
    assert.equal(s.aclTokenList("p1").tokens.length, 1);
    assert.equal(s.aclTokenList(GLOBAL_MANAGEMENT_POLICY_ID).tokens.length, 0);
    const gone = next();
    s.execute(gone, { op: "acl-policy-delete", id: "p1" });
    assert.deepEqual(s.aclTokenByAccessor("a").token?.Policies, [], "a deleted policy's link is not shown");
    assert.equal(s.aclPolicyById("p1").index, gone);
    const tokDel = next();
    assert.equal(s.execute(tokDel, { op: "acl-token-delete", accessor: "a" }), true);
    assert.equal(s.aclTokenBySecret("s").token, null);
    assert.equal(s.aclIndex(TABLE_ACL_TOKENS), tokDel);
    assert.equal(s.aclIndex(TABLE_ACL_POLICIES), gone);
  });

  it("wakes ACL watches and moves the epoch on writes and restores, not on refusals", () => {
    const { s, next } = storeWithManagement();
    let woken = 0;
    s.watchAcl(() => {
      woken += 1;
    });
    const epoch = s.aclEpoch;
    s.execute(next(), { op: "acl-token-set", time: T0, token: token("a", "s", ["nope"]) });
    assert.equal(woken, 0);
    assert.equal(s.aclEpoch, epoch);
    s.execute(next(), { op: "acl-token-set", time: T0, token: token("a", "s") });
    assert.equal(woken, 1);
    assert.ok(s.aclEpoch > epoch);
    s.watchAcl(() => {
      woken += 1;
    });
    const before = s.aclEpoch;
    s.restore(s.snapshot().records());
    assert.equal(woken, 2);
    assert.ok(s.aclEpoch > before);
    assert.equal(s.watchCount, 0);
  });

  it("snapshots tokens (in SecretID order) and policies, and restores them with their indexes", () => {
    const { s, next } = storeWithManagement();
    s.execute(next(), { op: "acl-policy-set", policy: policy("p1", "reader") });
    s.execute(next(), { op: "acl-token-set", time: T0, token: token("a-1", "zz", ["p1"]) });
    const boot = next();
    s.execute(boot, {
      op: "acl-bootstrap",
      time: T0,
      resetIndex: 0,
      token: token("a-2", "aa", [GLOBAL_MANAGEMENT_POLICY_ID]),
    });
    const records = [...s.snapshot().records()];
    const acl = records.map(decodeRecord).filter((r) => r.kind === "ACLToken" || r.kind === "ACLPolicy");
    assert.deepEqual(
      acl.map((r) =>
        r.kind === "ACLToken" ? `t:${r.body.SecretID}` : r.kind === "ACLPolicy" ? `p:${r.body.ID}` : "",
      ),
      ["t:aa", "t:zz", `p:${GLOBAL_MANAGEMENT_POLICY_ID}`, "p:p1"],
    );
    const r = new KvStore();
    r.restore(records);
    assert.equal(r.aclTokenBySecret("zz").token?.AccessorID, "a-1");
    assert.equal(r.aclPolicyByName("reader").policy?.ID, "p1");
    assert.equal(r.index.get(ACL_BOOTSTRAP_ROW)?.value, boot);
    assert.equal(r.aclIndex(TABLE_ACL_TOKENS), boot);
    const again = r.execute(boot + 1, {
      op: "acl-bootstrap",
      time: T0,
      resetIndex: 0,
      token: token("x", "y"),
    });
    assert.ok(
      again instanceof AclError && again.code === "acl_bootstrap_denied",
      "bootstrap state comes from the archive",
    );
    const back = [...r.snapshot().records()];
    assert.deepEqual(
      back.map((x) => Buffer.from(x.body).toString("hex")),
      records.map((x) => Buffer.from(x.body).toString("hex")),
    );
  });
});

describe("ACL records in an archive without sessions", () => {
  it("go back between the records Consul writes before them and those after, byte for byte", () => {
    const { s, next } = storeWithManagement();
    s.execute(next(), {
      op: "acl-token-set",
      time: T0,
      token: token("a", "s", [GLOBAL_MANAGEMENT_POLICY_ID]),
    });
    const acl = [...s.snapshot().records()].filter((r) => r.type === 17 || r.type === 19);
    // A coordinate (6) before them and an ACLRole (23) after, as Consul orders them, and one KV entry.
    const coordinate = { type: 6, body: Uint8Array.of(0x90) };
    const role = { type: 23, body: Uint8Array.of(0x80) };
    const kv = encodeRecord({
      kind: "KVS",
      type: 2,
      body: { CreateIndex: 1, Flags: 0n, Key: "k", LockIndex: 0, ModifyIndex: 1, Session: "", Value: null },
    });
    const archive = [coordinate, ...acl, role, kv];
    const r = new KvStore();
    r.restore(archive);
    assert.equal(r.aclTokenBySecret("s").token?.AccessorID, "a");
    const hex = (rs: Iterable<{ type: number; body: Uint8Array }>) =>
      [...rs].filter((x) => x.type !== 16).map((x) => `${x.type}:${Buffer.from(x.body).toString("hex")}`);
    assert.deepEqual(hex(r.snapshot().records()), hex(archive));
  });
});

describe("ACL records", () => {
  it("time.Time: Consul's bytes read as the documented instant; our own are UTC", () => {
    const consul = Uint8Array.from(Buffer.from("010000000edd83d5e7068bc418ff10", "hex"));
    assert.equal(goTimeJson(consul), "2024-03-13T13:14:15.109823-04:00");
    assert.equal(goTimeMs(consul), Date.UTC(2024, 2, 13, 17, 14, 15, 109));
    assert.equal(Buffer.from(goTimeFromMs(0)).toString("hex"), "010000000e7791f70000000000ffff");
    assert.equal(goTimeJson(goTimeFromMs(1_500)), "1970-01-01T00:00:01.5Z");
  });

  it("ACLToken and ACLPolicy round-trip through their codecs (property)", () => {
    const text = fc.string({ maxLength: 20 });
    const hash = fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }), { nil: null });
    const ms = fc.integer({ min: 0, max: 4_000_000_000_000 });
    const tok = fc
      .record({
        AccessorID: text,
        SecretID: text,
        Description: text,
        Policies: fc.option(
          fc.array(
            fc.record({ ID: text, Name: text }).map((l) => ({ ...l })),
            { maxLength: 3 },
          ),
          { nil: null },
        ),
        Local: fc.boolean(),
        AuthMethod: text,
        CreateTime: ms.map(goTimeFromMs),
        ExpirationTime: fc.option(ms.map(goTimeFromMs), { nil: null }),
        ExpirationTTL: fc.nat(),
        Hash: hash,
        CreateIndex: fc.nat(),
        ModifyIndex: fc.nat(),
      })
      .map((body): SnapshotRecord => ({ kind: "ACLToken", type: 17, body: { ...body } }));
    const pol = fc
      .record({
        ID: text,
        Name: text,
        Description: text,
        Rules: text,
        Datacenters: fc.option(fc.array(text, { maxLength: 3 }), { nil: null }),
        Hash: hash,
        CreateIndex: fc.nat(),
        ModifyIndex: fc.nat(),
      })
      .map((body): SnapshotRecord => ({ kind: "ACLPolicy", type: 19, body: { ...body } }));
    fc.assert(
      fc.property(fc.oneof(tok, pol), (rec) => {
        const raw = encodeRecord(rec);
        const back = decodeRecord(raw);
        // A token written by cairn carries Consul's zero-valued identity fields; they come back as extra.
        const { extra: _extra, ...body } = back.body as { extra?: unknown };
        assert.deepStrictEqual(body, { ...rec.body });
        assert.deepStrictEqual(encodeRecord(back).body, raw.body);
      }),
    );
  });

  it("a Consul archive's tokens and policies restore and come back byte for byte", {
    skip: skipUnlessFixtures("decode/all.snap"),
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), "cairn-acl-test-"));
    try {
      const a = await readArchive(createReadStream(fixture("decode/all.snap")), { tmpDir: dir });
      const items: StateBinItem[] = [];
      try {
        for await (const item of readStateBin(createReadStream(a.stateBin.path))) items.push(item);
      } finally {
        await a.stateBin.remove();
      }
      const s = new KvStore();
      s.restore(items);
      const root = s.aclTokenBySecret("root").token;
      assert.equal(root?.Description, "Initial Management Token");
      assert.deepEqual(root?.Policies, [{ ID: GLOBAL_MANAGEMENT_POLICY_ID, Name: "global-management" }]);
      assert.equal(s.aclTokenBySecret("anonymous").token?.AccessorID, "00000000-0000-0000-0000-000000000002");
      assert.equal(s.aclPolicyByName("global-management").policy?.ID, GLOBAL_MANAGEMENT_POLICY_ID);
      assert.equal(s.aclTokenList().tokens.length, 3);
      assert.equal(s.aclPolicyList().policies.length, 3);
      assert.equal(s.index.get(ACL_BOOTSTRAP_ROW)?.value, 6);
      const original = items.flatMap((i) =>
        i.kind === "record" && (i.record.type === 17 || i.record.type === 19) ? [i.record] : [],
      );
      const saved = [...s.snapshot().records()].filter((r) => r.type === 17 || r.type === 19);
      assert.deepEqual(saved, original);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
