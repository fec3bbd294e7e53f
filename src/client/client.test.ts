import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { describe, it, type TestContext } from "node:test";
import { startTestAgent, type TestAgent } from "../../test/support/test-agent.js";
import { MemoryServer } from "../api/memory-server.js";
import { SNAPSHOT_CONTENT_TYPE } from "../http/index.js";
import { verifyArchive } from "../snapshot/index.js";
import { ConsulClient } from "./client.js";
import { ApiError, ClientConfigError, ConnectionError, InvalidRequestError } from "./errors.js";
import { parseAddress } from "./transport.js";

/** A client of a test agent (cairn's real HTTP stack over `api`, or a fresh MemoryServer); both closed after. */
async function withAgent(
  t: TestContext,
  config: Record<string, unknown> = {},
  api = new MemoryServer(),
): Promise<[TestAgent, ConsulClient]> {
  const { agent, address } = await startTestAgent(t, { api });
  const client = new ConsulClient({ address, requestTimeoutMs: 5_000, ...config });
  t.after(() => client.close());
  return [agent, client];
}

describe("ConsulClient KV", () => {
  it("round-trips values and flags past 2^53 exactly", async (t) => {
    const [agent, client] = await withAgent(t);
    const flags = 18446744073709551615n;
    assert.equal(await client.kvPut("a/b c?#", Buffer.from("v1"), flags), true);
    assert.ok(agent.requests.at(-1)?.rawUrl.startsWith("/v1/kv/a/b%20c%3F%23?flags=18446744073709551615"));
    const { entry, meta } = await client.kvGet("a/b c?#");
    assert.equal(entry?.flags, flags);
    assert.equal(entry?.value.toString(), "v1");
    assert.equal(entry?.key, "a/b c?#");
    assert.equal(meta.lastIndex, entry?.modifyIndex);
    assert.equal(meta.knownLeader, true);
  });

  it("answers null / [] for missing keys, and refuses a leading slash", async (t) => {
    const [, client] = await withAgent(t);
    assert.equal((await client.kvGet("nope")).entry, null);
    assert.deepEqual((await client.kvList("nope")).entries, []);
    assert.deepEqual((await client.kvKeys("nope", "/")).keys, []);
    assert.equal((await client.kvGetRaw("nope")).value, null);
    await assert.rejects(
      client.kvGet("/x"),
      (e: unknown) =>
        e instanceof InvalidRequestError && e.message === "Invalid key. Key must not begin with a '/': /x",
    );
  });

  it("lists, cuts keys at the separator, reads raw values", async (t) => {
    const [agent, client] = await withAgent(t);
    for (const k of ["web/a", "web/sub/x", "web/sub/y", "webx"]) await agent.put(k, k);
    assert.deepEqual(
      (await client.kvList("web/")).entries.map((e) => e.key),
      ["web/a", "web/sub/x", "web/sub/y"],
    );
    assert.deepEqual((await client.kvKeys("web/", "/")).keys, ["web/a", "web/sub/"]);
    assert.deepEqual((await client.kvKeys("", "")).keys, ["web/a", "web/sub/x", "web/sub/y", "webx"]);
    assert.equal((await client.kvGetRaw("webx")).value?.toString(), "webx");
    assert.equal(agent.requests.at(-1)?.rawUrl, "/v1/kv/webx?raw=");
  });

  it("applies cas, acquire, release and delete like Consul", async (t) => {
    const [agent, client] = await withAgent(t);
    assert.equal(await client.kvPut("k", Buffer.from("1"), 0n, { cas: 0n }), true);
    assert.equal(await client.kvPut("k", Buffer.from("2"), 0n, { cas: 0n }), false);
    const idx = BigInt(agent.entry("k")?.ModifyIndex ?? 0);
    assert.equal(await client.kvPut("k", Buffer.from("3"), 0n, { cas: idx }), true);
    // Real sessions: their ids are random, so the test uses the ones the server returns.
    const s1 = await agent.api.sessionCreate({});
    const s2 = await agent.api.sessionCreate({});
    assert.equal(await client.kvPut("k", Buffer.from("4"), 0n, { acquire: s1 }), true);
    assert.equal(agent.entry("k")?.Session, s1);
    assert.equal(await client.kvPut("k", Buffer.from("5"), 0n, { release: s2 }), false);
    assert.equal(await client.kvPut("k", Buffer.from("5"), 0n, { release: s1 }), true);
    assert.equal(agent.entry("k")?.Session, "");
    assert.equal(await client.kvDelete("k", { cas: 1n }), false);
    assert.equal(agent.value("k")?.toString(), "5");
    await agent.put("p/1", "x");
    await agent.put("p/2", "y");
    assert.equal(await client.kvDelete("p/", { recurse: true }), true);
    assert.equal(agent.requests.at(-1)?.rawUrl, "/v1/kv/p/?recurse=");
    assert.deepEqual(agent.api.store.list("p/").entries, []);
  });

  it("lists sessions with their index", async (t) => {
    const [agent, client] = await withAgent(t);
    assert.deepEqual((await client.sessionList()).sessions, []);
    const a = await client.sessionCreate({ name: "a" });
    const b = await client.sessionCreate({ name: "b", ttl: "10s" });
    const { sessions, meta } = await client.sessionList({ consistent: true });
    assert.deepEqual(sessions.map((s) => s.id).sort(), [a, b].sort());
    assert.deepEqual(sessions.map((s) => s.name).sort(), ["a", "b"]);
    // The list's index is the sessions table's: the one created last.
    assert.equal(meta.lastIndex, sessions.find((s) => s.id === b)?.createIndex);
    assert.equal(agent.requests.at(-1)?.rawUrl, "/v1/session/list?consistent=");
  });

  it("sends the token, datacenter and stale the way Go's api does", async (t) => {
    // A server of dc9, so that the request is answered (cairn serves only its own datacenter).
    const api = new MemoryServer({ datacenter: "dc9" });
    const [agent, client] = await withAgent(t, { token: "secret", datacenter: "dc9", basicAuth: "u:p" }, api);
    assert.equal((await client.kvGet("x", { stale: true })).entry, null);
    const r = agent.requests.at(-1);
    assert.equal(r?.headers["x-consul-token"], "secret");
    assert.equal(r?.headers.authorization, `Basic ${Buffer.from("u:p").toString("base64")}`);
    assert.equal(r?.rawUrl, "/v1/kv/x?stale=&dc=dc9");
  });
});

describe("ConsulClient errors and bounds", () => {
  it("turns non-2xx into ApiError with Go's message", async (t) => {
    const [agent, client] = await withAgent(t);
    // A server without a leader answers a default-consistency read 500 "No cluster leader".
    agent.api.hasLeader = false;
    await assert.rejects(client.kvGet("a"), (e: unknown) => {
      return (
        e instanceof ApiError &&
        e.status === 500 &&
        e.message === "Unexpected response code: 500 (No cluster leader)"
      );
    });
  });

  it("reports a refused connection as Go does", async () => {
    const server = http.createServer();
    server.listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const port = (server.address() as AddressInfo).port;
    await new Promise((r) => server.close(r));
    const client = new ConsulClient({ address: `127.0.0.1:${port}` });
    try {
      await assert.rejects(client.kvGet("a"), (e: unknown) => {
        const want = `Get "http://127.0.0.1:${port}/v1/kv/a": dial tcp 127.0.0.1:${port}: connect: connection refused`;
        return e instanceof ConnectionError && e.message === want;
      });
    } finally {
      client.close();
    }
  });

  it("bounds a request that gets no answer", async (t) => {
    const server = http.createServer(() => {}); // never answers
    server.listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const port = (server.address() as AddressInfo).port;
    const client = new ConsulClient({ address: `127.0.0.1:${port}`, requestTimeoutMs: 150 });
    t.after(() => client.close());
    await assert.rejects(
      client.statusPeers(),
      (e: unknown) => e instanceof ConnectionError && e.errno === "ETIMEDOUT",
    );
  });

  it("rejects unknown schemes and a missing token file before sending", () => {
    assert.throws(
      () => new ConsulClient({ address: "ftp://x:1" }),
      (e: unknown) => e instanceof ClientConfigError && e.message === "Unknown protocol scheme: ftp",
    );
    assert.throws(
      () => new ConsulClient({ tokenFile: "/nonexistent/tok" }),
      (e: unknown) =>
        e instanceof ClientConfigError &&
        e.message === "Error loading token file: open /nonexistent/tok: no such file or directory",
    );
  });
});

describe("address forms", () => {
  it("parses Consul's address forms", () => {
    assert.deepEqual(
      [
        parseAddress("127.0.0.1:8500", false),
        parseAddress("http://h:1", true),
        parseAddress("https://h:8501/consul/", false),
      ].map((e) => [e.scheme, e.hostname, e.port, e.pathPrefix]),
      [
        ["http", "127.0.0.1", 8500, ""],
        ["https", "h", 1, ""],
        ["https", "h", 8501, "/consul"],
      ],
    );
    assert.equal(parseAddress("unix:///run/c.sock", false).socketPath, "/run/c.sock");
    assert.equal(parseAddress("[::1]:8500", false).hostname, "::1");
    assert.equal(parseAddress("consul.example", false).port, 80);
  });

  it("talks over a unix socket and honours a path prefix", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-client-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const { address } = await startTestAgent(t, { socketPath: join(dir, "c.sock") });
    assert.equal(address, `unix://${join(dir, "c.sock")}`);
    const client = new ConsulClient({ address });
    t.after(() => client.close());
    assert.equal(await client.statusLeader(), "127.0.0.1:8300");
  });

  it("puts a reverse-proxy path prefix in front of every path", async (t) => {
    const { agent, address } = await startTestAgent(t);
    const client = new ConsulClient({ address: `http://${address}/consul/` });
    t.after(() => client.close());
    // The proxy in front of Consul would strip the prefix; cairn's server does not, so answer as the proxy.
    agent.override = (r) => ({
      status: 200,
      body: JSON.stringify(r.path),
      headers: { "content-type": "application/json" },
    });
    assert.equal(await client.statusLeader(), "/consul/v1/status/leader");
  });
});

describe("snapshot streams", () => {
  /** Streams a snapshot into a sink; the index and the bytes the sink got. */
  async function save(client: ConsulClient): Promise<{ index: bigint; bytes: Buffer }> {
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on("data", (c: Buffer) => chunks.push(c));
    const { index } = await client.snapshotSave(sink);
    return { index, bytes: Buffer.concat(chunks) };
  }

  it("saves into a sink with the index, restores from a stream", async (t) => {
    const [agent, client] = await withAgent(t);
    // An incompressible value, so that the archive is large and arrives in many chunks.
    const big = randomBytes(300_000);
    await agent.put("big", big);
    await agent.put("small", "s");
    const { index, bytes } = await save(client);
    assert.equal(index, BigInt(agent.api.index));
    assert.ok(bytes.length > 300_000, String(bytes.length));
    assert.equal((await verifyArchive([bytes])).Index, agent.api.index);
    await agent.api.kvWrite({ op: "delete-tree", prefix: "" });
    assert.equal(agent.entry("big"), null);
    const cut = 1000;
    await client.snapshotRestore(Readable.from([bytes.subarray(0, cut), bytes.subarray(cut)]));
    assert.deepEqual(agent.value("big"), big);
    assert.equal(agent.value("small")?.toString(), "s");
  });

  it("keeps an X-Consul-Index past 2^53 exact", async (t) => {
    // No cairn log gets this far, so the answer is canned: Consul's index is a uint64.
    const [agent, client] = await withAgent(t);
    const archive = Buffer.alloc(1000, 7);
    agent.override = () => ({
      status: 200,
      body: archive,
      headers: { "Content-Type": SNAPSHOT_CONTENT_TYPE, "X-Consul-Index": "9007199254740993" },
    });
    const { index, bytes } = await save(client);
    assert.equal(index, 9007199254740993n);
    assert.deepEqual(bytes, archive);
  });

  it("does not write an error body into the sink", async (t) => {
    const [agent, client] = await withAgent(t);
    // cairn has no ACLs yet, so never a 403: canned.
    agent.override = () => ({ status: 403, body: "Permission denied" });
    const sink = new PassThrough();
    let wrote = 0;
    sink.on("data", (c: Buffer) => {
      wrote += c.byteLength;
    });
    await assert.rejects(client.snapshotSave(sink), /Unexpected response code: 403 \(Permission denied\)/);
    assert.equal(wrote, 0);
  });
});

describe("TLS", () => {
  it("verifies the server with -ca-file and presents a client certificate", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-tls-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const f = (n: string): string => join(dir, n);
    const ssl = (...args: string[]): void => {
      execFileSync("openssl", args, { stdio: "ignore" });
    };
    ssl(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=test-ca",
      "-keyout",
      f("ca.key"),
      "-out",
      f("ca.pem"),
    );
    for (const [name, cn] of [
      ["server", "localhost"],
      ["client", "client"],
    ] as const) {
      ssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        `/CN=${cn}`,
        "-keyout",
        f(`${name}.key`),
        "-out",
        f(`${name}.csr`),
      );
      writeFileSync(f(`${name}.ext`), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
      ssl(
        "x509",
        "-req",
        "-in",
        f(`${name}.csr`),
        "-CA",
        f("ca.pem"),
        "-CAkey",
        f("ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        f(`${name}.ext`),
        "-out",
        f(`${name}.pem`),
      );
    }
    const tls = {
      key: readFileSync(f("server.key")),
      cert: readFileSync(f("server.pem")),
      ca: readFileSync(f("ca.pem")),
      requestCert: true,
      rejectUnauthorized: true,
    };
    const { address } = await startTestAgent(t, { tls });
    assert.match(address, /^https:\/\/127\.0\.0\.1:\d+$/);
    const client = new ConsulClient({
      address,
      tls: {
        caFile: f("ca.pem"),
        certFile: f("client.pem"),
        keyFile: f("client.key"),
        serverName: "localhost:8501",
      },
    });
    const noCert = new ConsulClient({ address, tls: { caFile: f("ca.pem") }, requestTimeoutMs: 2_000 });
    const noCa = new ConsulClient({ address, requestTimeoutMs: 2_000 });
    t.after(() => {
      client.close();
      noCert.close();
      noCa.close();
    });
    assert.equal(await client.statusLeader(), "127.0.0.1:8300");
    await assert.rejects(noCert.statusLeader(), ConnectionError);
    await assert.rejects(noCa.statusLeader(), ConnectionError);
    assert.throws(
      () => new ConsulClient({ address, tls: { certFile: f("client.pem") } }),
      /both client cert and client key must be provided/,
    );
  });
});
