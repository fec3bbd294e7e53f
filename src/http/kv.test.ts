import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryServer } from "../api/memory-server.js";
import { ProposalDroppedError } from "../util/index.js";
import { handle } from "./router.js";
import { call, chunkedRequest, text } from "./test-util.js";

const JSON_TYPE = "application/json";

describe("GET /v1/kv/<key>", () => {
  it("returns the entry in Consul's field order with the query-meta headers", async () => {
    const api = new MemoryServer();
    assert.equal(text(await call(api, "PUT", "/v1/kv/foo", "bar")), "true");
    const res = await call(api, "GET", "/v1/kv/foo");
    assert.equal(res.status, 200);
    assert.equal(
      text(res),
      '[{"LockIndex":0,"Key":"foo","Flags":0,"Value":"YmFy","CreateIndex":1,"ModifyIndex":1}]',
    );
    assert.deepEqual(res.headers, {
      "X-Consul-Index": "1",
      "X-Consul-KnownLeader": "true",
      "X-Consul-LastContact": "0",
      "X-Consul-Effective-Consistency": "leader",
      "Content-Type": JSON_TYPE,
      "X-Consul-Default-ACL-Policy": "allow",
    });
  });

  it("keeps uint64 flags exact: 18446744073709551615 round-trips as digits", async () => {
    const api = new MemoryServer();
    const put = await call(api, "PUT", "/v1/kv/f?flags=18446744073709551615", "x");
    assert.equal(text(put), "true");
    assert.equal(api.store.get("f").entry?.Flags, 18446744073709551615n);
    const body = text(await call(api, "GET", "/v1/kv/f"));
    assert.match(body, /"Flags":18446744073709551615,/);
  });

  it("answers 404 with an empty body and meta headers (index = table max, never 0)", async () => {
    const api = new MemoryServer();
    let res = await call(api, "GET", "/v1/kv/missing");
    assert.equal(res.status, 404);
    assert.equal(text(res), "");
    assert.equal(res.headers["X-Consul-Index"], "1");
    assert.equal(res.headers["Content-Type"], undefined);
    await call(api, "PUT", "/v1/kv/a", "1");
    await call(api, "PUT", "/v1/kv/b", "2");
    res = await call(api, "GET", "/v1/kv/missing");
    assert.equal(res.headers["X-Consul-Index"], "2");
    assert.equal(res.headers["X-Consul-KnownLeader"], "true");
  });

  it("?raw returns the bytes with the CVE-2020-25864 headers", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/page", "<html>hi</html>");
    const res = await call(api, "GET", "/v1/kv/page?raw");
    assert.equal(res.status, 200);
    assert.ok(res.body instanceof Uint8Array);
    assert.equal(text(res), "<html>hi</html>");
    assert.equal(res.headers["Content-Type"], "text/plain");
    assert.equal(res.headers["X-Content-Type-Options"], "nosniff");
    assert.equal(res.headers["Content-Security-Policy"], "sandbox");
    assert.equal(res.headers["Content-Length"], "15");
    assert.equal(res.headers["X-Consul-Index"], "1");
  });

  it("?raw is ignored with ?recurse, and a null value is an empty raw body", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/empty");
    assert.equal(text(await call(api, "GET", "/v1/kv/empty?raw")), "");
    const res = await call(api, "GET", "/v1/kv/empty?raw&recurse");
    assert.equal(res.headers["Content-Type"], JSON_TYPE);
    assert.equal(
      text(res),
      '[{"LockIndex":0,"Key":"empty","Flags":0,"Value":null,"CreateIndex":1,"ModifyIndex":1}]',
    );
  });

  it("escapes keys as Go's encoder does (<, >, & as \\u003c...)", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/a%3Cb%3E%26c", "v");
    assert.match(text(await call(api, "GET", "/v1/kv/a%3Cb%3E%26c")), /"Key":"a\\u003cb\\u003e\\u0026c"/);
  });

  it("?recurse lists by string prefix in key order; none → 404; ?recurse=false still recurses", async () => {
    const api = new MemoryServer();
    for (const k of ["web/b", "web/a", "webx", "other"]) await call(api, "PUT", `/v1/kv/${k}`, k);
    const res = await call(api, "GET", "/v1/kv/web?recurse=false");
    assert.equal(res.status, 200);
    const keys = (JSON.parse(text(res)) as { Key: string }[]).map((e) => e.Key);
    assert.deepEqual(keys, ["web/a", "web/b", "webx"]);
    assert.equal(res.headers["X-Consul-Index"], "3");
    const none = await call(api, "GET", "/v1/kv/zzz?recurse");
    assert.equal(none.status, 404);
    assert.equal(none.headers["X-Consul-Index"], "4");
    const all = await call(api, "GET", "/v1/kv/?recurse");
    assert.equal((JSON.parse(text(all)) as unknown[]).length, 4);
  });

  it("?keys folds at the separator; `separator` beats `seperator`; root [] but prefix 404", async () => {
    const api = new MemoryServer();
    for (const k of ["web/bar", "web/subdir/x", "web/subdir/y", "web/zed"])
      await call(api, "PUT", `/v1/kv/${k}`, "");
    assert.equal(
      text(await call(api, "GET", "/v1/kv/web/?keys&separator=/")),
      '["web/bar","web/subdir/","web/zed"]',
    );
    assert.equal(
      text(await call(api, "GET", "/v1/kv/web/?keys&seperator=/")),
      '["web/bar","web/subdir/","web/zed"]',
    );
    assert.equal(
      text(await call(api, "GET", "/v1/kv/web/?keys&seperator=/&separator=")),
      '["web/bar","web/subdir/x","web/subdir/y","web/zed"]',
    );
    const missing = await call(api, "GET", "/v1/kv/nope?keys");
    assert.equal(missing.status, 404);
    const empty = new MemoryServer();
    const root = await call(empty, "GET", "/v1/kv/?keys");
    assert.equal(root.status, 200);
    assert.equal(text(root), "[]");
  });

  it("decodes the key after /v1/kv/, %2F and %20 included", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/a%2Fb%20c", "v");
    assert.ok(api.store.get("a/b c").entry !== null);
    assert.equal((await call(api, "GET", "/v1/kv/a/b%20c")).status, 200);
    await call(api, "PUT", "/v1/kv/cfg:x.json", "v");
    assert.ok(api.store.get("cfg:x.json").entry !== null, "permissive keys");
  });

  it("needs a key unless recursing", async () => {
    const api = new MemoryServer();
    for (const [m, t] of [
      ["GET", "/v1/kv/"],
      ["GET", "/v1/kv/?raw"],
      ["PUT", "/v1/kv/"],
      ["DELETE", "/v1/kv/"],
    ] as const) {
      const res = await call(api, m, t, m === "PUT" ? "x" : undefined);
      assert.equal(res.status, 400, `${m} ${t}`);
      assert.equal(text(res), "Missing key name");
      assert.equal(res.headers["Content-Type"], "text/plain; charset=utf-8");
    }
  });
});

describe("query parameters common to reads", () => {
  it("reports the effective consistency", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/k", "v");
    const h = async (q: string) =>
      (await call(api, "GET", `/v1/kv/k${q}`)).headers["X-Consul-Effective-Consistency"];
    assert.equal(await h(""), "leader");
    assert.equal(await h("?stale"), "stale");
    assert.equal(await h("?consistent"), "consistent");
    assert.equal(await h("?max_stale=5s"), "stale");
  });

  it("refuses bad combinations and values with Consul's messages", async () => {
    const api = new MemoryServer();
    const cases: [string, number, string][] = [
      ["/v1/kv/k?stale&consistent", 400, "Cannot specify ?stale with ?consistent, conflicting semantics."],
      ["/v1/kv/k?wait=10", 400, "Invalid wait time"],
      ["/v1/kv/k?wait=abc", 400, "Invalid wait time"],
      ["/v1/kv/k?index=abc", 400, "Invalid index"],
      ["/v1/kv/k?index=-1", 400, "Invalid index"],
      ["/v1/kv/k?index=18446744073709551616", 400, "Invalid index"],
      ["/v1/kv/k?max_stale=x", 400, 'Invalid max_stale value "x"'],
      ["/v1/kv/k?dc=dc2", 500, "No path to datacenter"],
    ];
    for (const [target, status, body] of cases) {
      const res = await call(api, "GET", target);
      assert.equal(res.status, status, target);
      assert.equal(text(res), body, target);
      assert.equal(res.headers["Content-Type"], "text/plain; charset=utf-8");
      assert.equal(res.headers["X-Consul-Default-ACL-Policy"], "allow");
    }
    assert.equal((await call(api, "GET", "/v1/kv/k?dc=dc1")).status, 404);
    assert.equal((await call(api, "PUT", "/v1/kv/k?dc=dc2", "v")).status, 500);
    assert.equal((await call(api, "PUT", "/v1/kv/k?stale&consistent", "v")).status, 400);
  });

  it("?pretty indents by 4 spaces and ends with a newline", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/k?flags=7", "v");
    assert.equal(
      text(await call(api, "GET", "/v1/kv/k?pretty")),
      [
        "[",
        "    {",
        '        "LockIndex": 0,',
        '        "Key": "k",',
        '        "Flags": 7,',
        '        "Value": "dg==",',
        '        "CreateIndex": 1,',
        '        "ModifyIndex": 1',
        "    }",
        "]",
        "",
      ].join("\n"),
    );
    assert.equal(text(await call(api, "PUT", "/v1/kv/k?pretty", "v")), "true\n");
  });

  it("without a leader: writes 500 No cluster leader, stale reads answer with KnownLeader false", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/k", "v");
    api.hasLeader = false;
    const put = await call(api, "PUT", "/v1/kv/k", "w");
    assert.equal(put.status, 500);
    assert.equal(text(put), "No cluster leader");
    assert.equal(put.headers["Content-Type"], "text/plain; charset=utf-8");
    assert.equal((await call(api, "GET", "/v1/kv/k")).status, 500);
    const stale = await call(api, "GET", "/v1/kv/k?stale");
    assert.equal(stale.status, 200);
    assert.equal(stale.headers["X-Consul-KnownLeader"], "false");
  });
});

describe("PUT /v1/kv/<key>", () => {
  it("replaces flags (absent flags reset them to 0) and stores an empty body as null", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/k?flags=42", "v");
    await call(api, "PUT", "/v1/kv/k", "");
    const e = api.store.get("k").entry;
    assert.equal(e?.Flags, 0n);
    assert.equal(e?.Value, null);
    assert.equal(e?.CreateIndex, 1);
    assert.equal(e?.ModifyIndex, 2);
  });

  it("refuses bad integers with Go's strconv text and Consul's 500 (kvs_endpoint.go returns the error)", async () => {
    const api = new MemoryServer();
    const cases: [string, string][] = [
      ["/v1/kv/k?flags=abc", 'strconv.ParseUint: parsing "abc": invalid syntax'],
      ["/v1/kv/k?flags", 'strconv.ParseUint: parsing "": invalid syntax'],
      ["/v1/kv/k?flags=-1", 'strconv.ParseUint: parsing "-1": invalid syntax'],
      ["/v1/kv/k?flags=0x10", 'strconv.ParseUint: parsing "0x10": invalid syntax'],
      [
        "/v1/kv/k?flags=18446744073709551616",
        'strconv.ParseUint: parsing "18446744073709551616": value out of range',
      ],
      ["/v1/kv/k?cas=1.5", 'strconv.ParseUint: parsing "1.5": invalid syntax'],
    ];
    for (const [target, body] of cases) {
      const res = await call(api, "PUT", target, "v");
      assert.equal(res.status, 500, target);
      assert.equal(text(res), body, target);
    }
    assert.equal(api.writes.length, 0);
  });

  it("cas=0 writes only if absent; cas=N only if ModifyIndex is N", async () => {
    const api = new MemoryServer();
    assert.equal(text(await call(api, "PUT", "/v1/kv/k?cas=0", "a")), "true");
    assert.equal(text(await call(api, "PUT", "/v1/kv/k?cas=0", "b")), "false");
    assert.equal(text(await call(api, "PUT", "/v1/kv/k?cas=7", "b")), "false");
    assert.equal(text(await call(api, "PUT", "/v1/kv/k?cas=1", "b")), "true");
    assert.equal(Buffer.from(api.store.get("k").entry?.Value ?? []).toString(), "b");
  });

  it("more than one of cas/acquire/release → 400 Conflicting flags echoing the sorted query", async () => {
    const api = new MemoryServer();
    const res = await call(api, "PUT", "/v1/kv/k?release=s%201&cas=1&acquire=x", "v");
    assert.equal(res.status, 400);
    assert.equal(text(res), "Conflicting flags: acquire=x&cas=1&release=s+1\n");
  });

  it("acquire and release a lock; Session sits before CreateIndex, as Go's DirEntry has it", async () => {
    const api = new MemoryServer();
    const sid = await api.sessionCreate({}); // index 1
    assert.equal(text(await call(api, "PUT", `/v1/kv/lock?acquire=${sid}`, "me")), "true");
    assert.equal(
      text(await call(api, "GET", "/v1/kv/lock")),
      `[{"LockIndex":1,"Key":"lock","Flags":0,"Value":"bWU=","Session":"${sid}","CreateIndex":2,"ModifyIndex":2}]`,
    );
    const other = await api.sessionCreate({});
    assert.equal(text(await call(api, "PUT", `/v1/kv/lock?acquire=${other}`, "x")), "false");
    assert.equal(text(await call(api, "PUT", `/v1/kv/lock?release=${other}`, "x")), "false");
    assert.equal(text(await call(api, "PUT", `/v1/kv/lock?release=${sid}`, "x")), "true");
    assert.doesNotMatch(text(await call(api, "GET", "/v1/kv/lock")), /Session/);
  });

  it("acquire with an unknown session → 500 with the store's message, as Consul's kvsLockTxn", async () => {
    const api = new MemoryServer();
    const res = await call(api, "PUT", "/v1/kv/lock?acquire=nope", "x");
    assert.equal(res.status, 500);
    assert.equal(text(res), 'invalid session "nope"');
  });

  it("refuses a value over kv_max_value_size with 413, by Content-Length and while streaming", async () => {
    const api = new MemoryServer({ kvValueBytesMax: 10 });
    const docs = "https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size";
    const res = await call(api, "PUT", "/v1/kv/big", "01234567890");
    assert.equal(res.status, 413);
    assert.equal(text(res), `Request body(11 bytes) too large, max size: 10 bytes. See ${docs}.`);
    assert.equal((await call(api, "PUT", "/v1/kv/ok", "0123456789")).status, 200);
    const chunks = [Buffer.from("012345"), Buffer.from("6789ab")];
    const streamed = await handle(chunkedRequest("PUT", "/v1/kv/big", chunks), api);
    assert.equal(streamed.status, 413);
    assert.equal(text(streamed), `Request body(12 bytes) too large, max size: 10 bytes. See ${docs}.`);
    assert.equal(api.store.get("big").entry, null);
  });

  it("a key past the store's limit is a 413, as a value past kv_max_value_size", async () => {
    const api = new MemoryServer();
    const res = await call(api, "PUT", `/v1/kv/${"k".repeat(64 * 1024 + 1)}`, "v");
    assert.equal(res.status, 413);
    assert.match(text(res), /exceed the limit/);
  });
});

describe("DELETE /v1/kv/<key>", () => {
  it("is idempotent, and ?recurse deletes a prefix (the empty one: everything)", async () => {
    const api = new MemoryServer();
    for (const k of ["a/1", "a/2", "b"]) await call(api, "PUT", `/v1/kv/${k}`, "v");
    assert.equal(text(await call(api, "DELETE", "/v1/kv/nothing")), "true");
    assert.equal(text(await call(api, "DELETE", "/v1/kv/a/?recurse=true")), "true");
    assert.deepEqual(api.store.keys("").keys, ["b"]);
    assert.equal(text(await call(api, "DELETE", "/v1/kv/?recurse")), "true");
    assert.deepEqual(api.store.keys("").keys, []);
  });

  it("?cas=N deletes only at that ModifyIndex; cas=0 never deletes an existing key", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/k", "v");
    assert.equal(text(await call(api, "DELETE", "/v1/kv/k?cas=0")), "false");
    assert.equal(text(await call(api, "DELETE", "/v1/kv/k?cas=9")), "false");
    assert.equal(text(await call(api, "DELETE", "/v1/kv/k?cas=1")), "true");
    assert.equal(api.store.get("k").entry, null);
  });

  it("?recurse with ?cas conflicts", async () => {
    const api = new MemoryServer();
    const res = await call(api, "DELETE", "/v1/kv/k?recurse&cas=1");
    assert.equal(res.status, 400);
    assert.equal(text(res), "Conflicting flags: cas=1&recurse=\n");
  });

  it("moves the prefix index forward (tombstones), so list watchers see deletes", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/p/a", "v");
    await call(api, "PUT", "/v1/kv/p/b", "v");
    await call(api, "DELETE", "/v1/kv/p/b");
    const res = await call(api, "GET", "/v1/kv/p/?recurse");
    assert.equal(res.headers["X-Consul-Index"], "3");
  });
});

describe("parameters cairn accepts and ignores, and server errors", () => {
  it("accepts ?leader, ?token, ?ns and ?partition without changing the answer", async () => {
    const api = new MemoryServer();
    await call(api, "PUT", "/v1/kv/k?token=secret", "v");
    const res = await call(api, "GET", "/v1/kv/k?leader&token=secret&ns=default&partition=default");
    assert.equal(res.status, 200);
    assert.equal(res.headers["X-Consul-Effective-Consistency"], "leader");
  });

  it("a dropped proposal is a 500 with its message; nothing is written", async () => {
    const api = new MemoryServer();
    api.failNext = new ProposalDroppedError("leadership lost while committing log");
    const res = await call(api, "PUT", "/v1/kv/k", "v");
    assert.equal(res.status, 500);
    assert.equal(text(res), "leadership lost while committing log");
    assert.equal(api.store.get("k").entry, null);
  });
});
