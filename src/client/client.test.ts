import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { describe, it, type TestContext } from "node:test";
import { ConsulClient } from "./client.js";
import { ApiError, ClientConfigError, ConnectionError, InvalidRequestError } from "./errors.js";
import { FakeConsul } from "./testing.js";
import { parseAddress } from "./transport.js";

async function withFake(
  t: TestContext,
  config: Record<string, unknown> = {},
): Promise<[FakeConsul, ConsulClient]> {
  const fake = new FakeConsul();
  const address = await fake.start();
  const client = new ConsulClient({ address, requestTimeoutMs: 5_000, ...config });
  t.after(async () => {
    client.close();
    await fake.close();
  });
  return [fake, client];
}

describe("ConsulClient KV", () => {
  it("round-trips values and flags past 2^53 exactly", async (t) => {
    const [fake, client] = await withFake(t);
    const flags = 18446744073709551615n;
    assert.equal(await client.kvPut("a/b c?#", Buffer.from("v1"), flags), true);
    assert.ok(fake.requests.at(-1)?.rawUrl.startsWith("/v1/kv/a/b%20c%3F%23?flags=18446744073709551615"));
    const { entry, meta } = await client.kvGet("a/b c?#");
    assert.equal(entry?.flags, flags);
    assert.equal(entry?.value.toString(), "v1");
    assert.equal(entry?.key, "a/b c?#");
    assert.equal(meta.lastIndex, entry?.modifyIndex);
    assert.equal(meta.knownLeader, true);
  });

  it("answers null / [] for missing keys, and refuses a leading slash", async (t) => {
    const [, client] = await withFake(t);
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
    const [fake, client] = await withFake(t);
    for (const k of ["web/a", "web/sub/x", "web/sub/y", "webx"]) fake.put(k, k);
    assert.deepEqual(
      (await client.kvList("web/")).entries.map((e) => e.key),
      ["web/a", "web/sub/x", "web/sub/y"],
    );
    assert.deepEqual((await client.kvKeys("web/", "/")).keys, ["web/a", "web/sub/"]);
    assert.deepEqual((await client.kvKeys("", "")).keys, ["web/a", "web/sub/x", "web/sub/y", "webx"]);
    assert.equal((await client.kvGetRaw("webx")).value?.toString(), "webx");
    assert.equal(fake.requests.at(-1)?.rawUrl, "/v1/kv/webx?raw=");
  });

  it("applies cas, acquire, release and delete like Consul", async (t) => {
    const [fake, client] = await withFake(t);
    assert.equal(await client.kvPut("k", Buffer.from("1"), 0n, { cas: 0n }), true);
    assert.equal(await client.kvPut("k", Buffer.from("2"), 0n, { cas: 0n }), false);
    const idx = fake.kv.get("k")?.modifyIndex ?? 0n;
    assert.equal(await client.kvPut("k", Buffer.from("3"), 0n, { cas: idx }), true);
    fake.sessions.add("s1");
    assert.equal(await client.kvPut("k", Buffer.from("4"), 0n, { acquire: "s1" }), true);
    assert.equal(fake.kv.get("k")?.session, "s1");
    assert.equal(await client.kvPut("k", Buffer.from("5"), 0n, { release: "s2" }), false);
    assert.equal(await client.kvPut("k", Buffer.from("5"), 0n, { release: "s1" }), true);
    assert.equal(await client.kvDelete("k", { cas: 1n }), false);
    fake.put("p/1", "x");
    fake.put("p/2", "y");
    assert.equal(await client.kvDelete("p/", { recurse: true }), true);
    assert.equal(fake.requests.at(-1)?.rawUrl, "/v1/kv/p/?recurse=");
    assert.equal(fake.kv.has("p/1") || fake.kv.has("p/2"), false);
  });

  it("sends the token, datacenter and stale the way Go's api does", async (t) => {
    const [fake, client] = await withFake(t, { token: "secret", datacenter: "dc9", basicAuth: "u:p" });
    await client.kvGet("x", { stale: true });
    const r = fake.requests.at(-1);
    assert.equal(r?.headers["x-consul-token"], "secret");
    assert.equal(r?.headers.authorization, `Basic ${Buffer.from("u:p").toString("base64")}`);
    assert.equal(r?.rawUrl, "/v1/kv/x?stale=&dc=dc9");
  });
});

describe("ConsulClient errors and bounds", () => {
  it("turns non-2xx into ApiError with Go's message", async (t) => {
    const [fake, client] = await withFake(t);
    fake.override = () => ({ status: 500, body: "No cluster leader\n" });
    await assert.rejects(client.statusLeader(), (e: unknown) => {
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
    const fake = new FakeConsul();
    const address = await fake.start({ socketPath: join(dir, "c.sock") });
    const client = new ConsulClient({ address });
    t.after(async () => {
      client.close();
      await fake.close();
      rmSync(dir, { recursive: true, force: true });
    });
    assert.equal(await client.statusLeader(), "127.0.0.1:8300");
  });

  it("puts a reverse-proxy path prefix in front of every path", async (t) => {
    const fake = new FakeConsul();
    const address = await fake.start();
    const client = new ConsulClient({ address: `http://${address}/consul/` });
    t.after(async () => {
      client.close();
      await fake.close();
    });
    fake.override = (r) => ({
      status: 200,
      body: JSON.stringify(r.path),
      headers: { "content-type": "application/json" },
    });
    assert.equal(await client.statusLeader(), "/consul/v1/status/leader");
  });
});

describe("snapshot streams", () => {
  it("saves into a sink with the index, restores from a stream", async (t) => {
    const [fake, client] = await withFake(t);
    fake.snapshot = Buffer.alloc(300_000, 7);
    fake.snapshotIndex = 9007199254740993n;
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on("data", (c: Buffer) => chunks.push(c));
    const { index } = await client.snapshotSave(sink);
    assert.equal(index, 9007199254740993n);
    assert.deepEqual(Buffer.concat(chunks), fake.snapshot);
    await client.snapshotRestore(Readable.from([Buffer.from("abc"), Buffer.from("def")]));
    assert.equal(fake.restored?.toString(), "abcdef");
  });

  it("does not write an error body into the sink", async (t) => {
    const [fake, client] = await withFake(t);
    fake.override = () => ({ status: 403, body: "Permission denied" });
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
    const fake = new FakeConsul();
    const tls = {
      key: readFileSync(f("server.key")),
      cert: readFileSync(f("server.pem")),
      ca: readFileSync(f("ca.pem")),
      requestCert: true,
      rejectUnauthorized: true,
    };
    const address = await fake.start({ tls });
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
    t.after(async () => {
      client.close();
      noCert.close();
      noCa.close();
      await fake.close();
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
