import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { connect, createServer } from "node:tls";
import { generateCa, generateCert, TlsGenerateError, writeTlsSetup } from "./tls-generate.js";

describe("tls-generate", () => {
  it("writes a CA, a server and a client certificate that complete a mutual TLS handshake", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "cairn-tlsgen-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const f = await writeTlsSetup(dir, { datacenter: "dc7", domain: "cairn" });
    assert.deepEqual(readdirSync(dir).sort(), [
      "cairn-agent-ca-key.pem",
      "cairn-agent-ca.pem",
      "dc7-client-cairn-0-key.pem",
      "dc7-client-cairn-0.pem",
      "dc7-server-cairn-0-key.pem",
      "dc7-server-cairn-0.pem",
    ]);
    for (const key of [f.caKeyFile, f.keyFile, f.clientKeyFile])
      assert.equal(statSync(key).mode & 0o777, 0o600);
    const read = (p: string) => readFileSync(p);
    const server = createServer({
      ca: read(f.caFile),
      cert: read(f.certFile),
      key: read(f.keyFile),
      requestCert: true,
      rejectUnauthorized: true,
    });
    server.on("secureConnection", (s) => s.end("hello"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => server.close());
    const port = (server.address() as { port: number }).port;
    const got = await new Promise<string>((resolve, reject) => {
      const c = connect({
        host: "127.0.0.1",
        port,
        servername: "server.dc7.cairn",
        ca: read(f.caFile),
        cert: read(f.clientCertFile),
        key: read(f.clientKeyFile),
      });
      let text = "";
      c.on("data", (d: Buffer) => {
        text += d.toString();
      });
      c.on("end", () => resolve(text));
      c.on("error", reject);
    });
    assert.equal(got, "hello");
    // A second setup in the same directory refuses and changes nothing.
    const before = readFileSync(f.caFile, "utf8");
    await assert.rejects(writeTlsSetup(dir, { datacenter: "dc7", domain: "cairn" }), /already exists\.$/);
    assert.equal(readFileSync(f.caFile, "utf8"), before);
    assert.equal(readdirSync(dir).length, 6);
  });

  it("refuses a CA key or certificate that is not what Consul reads, with Consul's texts", async () => {
    const ca = await generateCa({ days: 1 });
    const base = { kind: "server", datacenter: "dc1", domain: "consul", days: 1 } as const;
    await assert.rejects(generateCert({ ...base, ca: { certPem: ca.certPem, keyPem: "junk" } }), {
      name: "TlsGenerateError",
      message: "no PEM-encoded data found",
    });
    await assert.rejects(generateCert({ ...base, ca: { certPem: ca.certPem, keyPem: ca.certPem } }), {
      message: "unknown PEM block type for signing key: CERTIFICATE",
    });
    await assert.rejects(generateCert({ ...base, ca: { certPem: ca.keyPem, keyPem: ca.keyPem } }), {
      message: "first PEM-block should be CERTIFICATE type",
    });
    // A key that is not the CA's: the certificate would not verify against the CA, so none is made.
    const other = await generateCa({ days: 1 });
    await assert.rejects(
      generateCert({ ...base, ca: { certPem: ca.certPem, keyPem: other.keyPem } }),
      (e: unknown) => e instanceof TlsGenerateError && /unknown authority/.test(e.message),
    );
    const ok = await generateCert({ ...base, ca });
    assert.ok(new X509Certificate(ok.certPem).checkIssued(new X509Certificate(ca.certPem)));
  });
});
