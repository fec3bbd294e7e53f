import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Consul from "consul";
import { generateCa, generateCert, type TlsSetupFiles, writeTlsSetup } from "../src/util/tls-generate.js";
import { Cluster, freePort, runCairn } from "./cluster.js";

/**
 * The HTTPS API of a real agent with verify_incoming, against certificates made by cairn's own `tls` code: the
 * handshake refuses a client without a certificate, or with one from another CA; the cairn CLI (flags and
 * CONSUL_* variables), the npm consul client and curl get through with the right ones.
 */
describe("HTTPS with verify_incoming", { timeout: 120_000 }, () => {
  let dir: string;
  let files: TlsSetupFiles;
  let cluster: Cluster;
  let httpsPort: number;
  let addr: string;
  /** A client certificate and key from another CA, and that CA. */
  const stranger = { cert: "", key: "", ca: "" };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "cairn-https-"));
    files = await writeTlsSetup(dir);
    const otherCa = await generateCa({ days: 1 });
    const other = await generateCert({
      kind: "client",
      datacenter: "dc1",
      domain: "consul",
      days: 1,
      ca: otherCa,
    });
    stranger.cert = join(dir, "other-client.pem");
    stranger.key = join(dir, "other-client-key.pem");
    stranger.ca = join(dir, "other-ca.pem");
    writeFileSync(stranger.cert, other.certPem);
    writeFileSync(stranger.key, other.keyPem, { mode: 0o600 });
    writeFileSync(stranger.ca, otherCa.certPem);
    httpsPort = await freePort();
    addr = `https://127.0.0.1:${httpsPort}`;
    const config = join(dir, "tls.json");
    writeFileSync(
      config,
      JSON.stringify({
        ports: { https: httpsPort },
        tls: {
          defaults: {
            ca_file: files.caFile,
            cert_file: files.certFile,
            key_file: files.keyFile,
            verify_incoming: true,
            verify_outgoing: true,
          },
          internal_rpc: { verify_server_hostname: true },
        },
      }),
    );
    cluster = await Cluster.start(1, 1, ["-config-file", config]);
    await cluster.leader();
  });

  after(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** GET over HTTPS with node:https; resolves the status, rejects with the TLS error. */
  function get(path: string, o: https.RequestOptions): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = https.request(`${addr}${path}`, { ...o, agent: false, timeout: 10_000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", reject);
      req.end();
    });
  }
  const pem = (f: string): Buffer => readFileSync(f);

  it("answers a client with a certificate from the CA", async () => {
    const status = await get("/v1/status/leader", {
      ca: pem(files.caFile),
      cert: pem(files.clientCertFile),
      key: pem(files.clientKeyFile),
    });
    assert.equal(status, 200);
  });

  it("refuses at the handshake a client without a certificate", async () => {
    await assert.rejects(get("/v1/status/leader", { ca: pem(files.caFile) }), tlsRefusal);
  });

  it("refuses at the handshake a client whose certificate is from another CA", async () => {
    await assert.rejects(
      get("/v1/status/leader", { ca: pem(files.caFile), cert: pem(stranger.cert), key: pem(stranger.key) }),
      tlsRefusal,
    );
  });

  it("is refused by a client that verifies another server name, and a client trusting another CA", async () => {
    const client = { cert: pem(files.clientCertFile), key: pem(files.clientKeyFile) };
    await assert.rejects(
      get("/v1/status/leader", { ...client, ca: pem(files.caFile), servername: "server.dc2.consul" }),
      (e: unknown) => (e as { code?: string }).code === "ERR_TLS_CERT_ALTNAME_INVALID",
    );
    await assert.rejects(get("/v1/status/leader", { ...client, ca: pem(stranger.ca) }), (e: unknown) =>
      /self.signed|unable to verify|UNABLE_TO_VERIFY/i.test(String((e as Error).message)),
    );
  });

  it("serves the cairn CLI with -ca-file -client-cert -client-key and an https:// -http-addr", async () => {
    const tlsFlags = [
      "-ca-file",
      files.caFile,
      "-client-cert",
      files.clientCertFile,
      "-client-key",
      files.clientKeyFile,
    ];
    const put = await runCairn(["kv", "put", "-http-addr", addr, ...tlsFlags, "tls/cli", "flags"]);
    assert.equal(put.code, 0, put.out);
    const got = await runCairn(["kv", "get", "-http-addr", addr, ...tlsFlags, "tls/cli"]);
    assert.equal(got.out, "flags\n");
    const noCert = await runCairn(["kv", "get", "-http-addr", addr, "-ca-file", files.caFile, "tls/cli"]);
    assert.equal(noCert.code, 1, noCert.out);
    // -tls-server-name is checked against the certificate: server.dc1.consul is in it, server.dc2.consul is not.
    const getAs = (name: string) =>
      runCairn(["kv", "get", "-http-addr", addr, ...tlsFlags, "-tls-server-name", name, "tls/cli"]);
    assert.equal((await getAs("server.dc1.consul")).out, "flags\n");
    const misnamed = await getAs("server.dc2.consul");
    assert.equal(misnamed.code, 1, misnamed.out);
  });

  it("serves the cairn CLI configured by CONSUL_* variables, CONSUL_HTTP_SSL included", async () => {
    const env = {
      ...process.env,
      CONSUL_HTTP_ADDR: `127.0.0.1:${httpsPort}`,
      CONSUL_HTTP_SSL: "true",
      CONSUL_CACERT: files.caFile,
      CONSUL_CLIENT_CERT: files.clientCertFile,
      CONSUL_CLIENT_KEY: files.clientKeyFile,
    };
    const put = await runCairn(["kv", "put", "tls/env", "vars"], 20_000, { env });
    assert.equal(put.code, 0, put.out);
    const got = await runCairn(["kv", "get", "tls/env"], 20_000, { env });
    assert.equal(got.out, "vars\n");
    const { CONSUL_CLIENT_CERT: _c, CONSUL_CLIENT_KEY: _k, ...withoutCert } = env;
    const refused = await runCairn(["kv", "get", "tls/env"], 20_000, { env: withoutCert });
    assert.equal(refused.code, 1, refused.out);
  });

  it("serves the npm consul client with a client certificate, and refuses it without one", async () => {
    const agent = new https.Agent({
      ca: pem(files.caFile),
      cert: pem(files.clientCertFile),
      key: pem(files.clientKeyFile),
    });
    const consul = new Consul({ host: "127.0.0.1", port: httpsPort, secure: true, agent });
    try {
      assert.equal(await consul.kv.set("tls/npm", "client"), true);
      assert.equal(((await consul.kv.get("tls/npm")) as { Value: string }).Value, "client");
    } finally {
      consul.destroy();
    }
    const bare = new https.Agent({ ca: pem(files.caFile) });
    const refused = new Consul({ host: "127.0.0.1", port: httpsPort, secure: true, agent: bare });
    try {
      await assert.rejects(refused.kv.get("tls/npm"));
    } finally {
      refused.destroy();
    }
  });

  it("serves curl with --cacert --cert --key, and refuses curl without a certificate", async () => {
    const ok = await curl([
      "--cacert",
      files.caFile,
      "--cert",
      files.clientCertFile,
      "--key",
      files.clientKeyFile,
      `${addr}/v1/kv/tls/npm?raw`,
    ]);
    assert.equal(ok.code, 0, ok.err);
    assert.equal(ok.out, "client");
    const refused = await curl(["--cacert", files.caFile, `${addr}/v1/kv/tls/npm?raw`]);
    assert.notEqual(refused.code, 0);
    assert.equal(refused.out, "");
  });
});

/** What a client sees when the server refuses its certificate at the handshake (TLS 1.3 alerts or a reset). */
function tlsRefusal(e: unknown): boolean {
  const code = String((e as { code?: unknown }).code ?? "");
  const msg = String((e as Error).message ?? "");
  return /ERR_SSL|ECONNRESET|EPIPE/.test(code) || /alert|socket hang up|certificate/i.test(msg);
}

function curl(args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile("curl", ["-sS", "--max-time", "10", ...args], (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ code, out: stdout, err: stderr });
    });
  });
}
