import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCairn } from "./cluster.js";

/** `cairn tls ca create` and `tls cert create` as a user runs them: a real process in a fresh directory. */
describe("cairn tls ca create / tls cert create", { timeout: 120_000 }, () => {
  let dir: string;
  const cairn = (...args: string[]) => runCairn(args, 20_000, { cwd: dir });
  const cert = (name: string) => new X509Certificate(readFileSync(join(dir, name)));
  const mode = (name: string) => statSync(join(dir, name)).mode & 0o777;
  // Newer Node names the extended key usages extKeyUsage (keyUsage, deprecated there, on Node 20).
  const eku = (c: X509Certificate) => (c as { extKeyUsage?: string[] }).extKeyUsage ?? c.keyUsage;
  const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
  const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "cairn-tls-cli-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses a certificate before there is a CA, with Consul's text", async () => {
    const r = await cairn("tls", "cert", "create", "-server");
    assert.equal(r.code, 1);
    assert.match(r.out, /^Error reading CA: open consul-agent-ca\.pem: no such file or directory$/m);
    assert.deepEqual(readdirSync(dir), []);
  });

  it("creates a CA: Consul's file names, the key 0600, a CA certificate", async () => {
    const r = await cairn("tls", "ca", "create");
    assert.equal(r.code, 0, r.out);
    assert.equal(r.out, "==> Saved consul-agent-ca.pem\n==> Saved consul-agent-ca-key.pem\n");
    assert.equal(mode("consul-agent-ca-key.pem"), 0o600);
    assert.match(
      readFileSync(join(dir, "consul-agent-ca-key.pem"), "utf8"),
      /^-----BEGIN EC PRIVATE KEY-----/,
    );
    const ca = cert("consul-agent-ca.pem");
    assert.equal(ca.ca, true);
    assert.match(ca.subject, /CN=Consul Agent CA \d+/);
    assert.equal(ca.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  });

  it("refuses to overwrite a CA, changing nothing", async () => {
    const before = readFileSync(join(dir, "consul-agent-ca.pem"), "utf8");
    const r = await cairn("tls", "ca", "create");
    assert.equal(r.code, 1);
    assert.equal(r.out, "consul-agent-ca.pem already exists.\n");
    assert.equal(readFileSync(join(dir, "consul-agent-ca.pem"), "utf8"), before);
  });

  it("creates server certificates numbered -0, -1 with Consul's SANs and usages", async () => {
    const first = await cairn("tls", "cert", "create", "-server");
    assert.equal(first.code, 0, first.out);
    assert.match(first.out, /^==> WARNING: Server Certificates grants authority to become a$/m);
    assert.match(first.out, /^==> Using consul-agent-ca\.pem and consul-agent-ca-key\.pem$/m);
    assert.match(first.out, /==> Saved dc1-server-consul-0\.pem\n==> Saved dc1-server-consul-0-key\.pem\n$/);
    const second = await cairn(
      "tls",
      "cert",
      "create",
      "-server",
      "-node",
      "n1",
      "-additional-dnsname",
      "cairn.example",
      "-additional-ipaddress",
      "10.1.2.3",
    );
    assert.equal(second.code, 0, second.out);
    assert.match(second.out, /==> Saved dc1-server-consul-1\.pem\n==> Saved dc1-server-consul-1-key\.pem\n$/);
    const ca = cert("consul-agent-ca.pem");
    const s0 = cert("dc1-server-consul-0.pem");
    assert.ok(s0.verify(ca.publicKey) && s0.checkIssued(ca));
    assert.equal(s0.subject, "CN=server.dc1.consul");
    assert.equal(s0.subjectAltName, "DNS:server.dc1.consul, DNS:localhost, IP Address:127.0.0.1");
    assert.deepEqual(eku(s0), [SERVER_AUTH, CLIENT_AUTH]);
    assert.equal(s0.ca, false);
    assert.equal(
      cert("dc1-server-consul-1.pem").subjectAltName,
      "DNS:cairn.example, DNS:n1.server.dc1.consul, DNS:server.dc1.consul, DNS:localhost, " +
        "IP Address:10.1.2.3, IP Address:127.0.0.1",
    );
    assert.equal(mode("dc1-server-consul-0-key.pem"), 0o600);
    assert.equal(mode("dc1-server-consul-1-key.pem"), 0o600);
  });

  it("creates client and cli certificates, and names by -dc and -domain", async () => {
    const client = await cairn("tls", "cert", "create", "-client");
    assert.equal(client.code, 0, client.out);
    assert.doesNotMatch(client.out, /WARNING/);
    const c0 = cert("dc1-client-consul-0.pem");
    assert.equal(c0.subjectAltName, "DNS:client.dc1.consul, DNS:localhost, IP Address:127.0.0.1");
    assert.deepEqual(eku(c0), [CLIENT_AUTH, SERVER_AUTH]);
    const cli = await cairn("tls", "cert", "create", "-cli");
    assert.equal(cli.code, 0, cli.out);
    assert.equal(cert("dc1-cli-consul-0.pem").subjectAltName, "DNS:cli.dc1.consul, DNS:localhost");
    // A CA of another domain, and a server certificate of another datacenter signed by it.
    assert.equal((await cairn("tls", "ca", "create", "-domain", "cairn")).code, 0);
    const dc2 = await cairn("tls", "cert", "create", "-server", "-dc", "dc2", "-domain", "cairn");
    assert.equal(dc2.code, 0, dc2.out);
    assert.match(dc2.out, /==> Using cairn-agent-ca\.pem and cairn-agent-ca-key\.pem/);
    const s = cert("dc2-server-cairn-0.pem");
    assert.equal(s.subject, "CN=server.dc2.cairn");
    assert.ok(s.checkIssued(cert("cairn-agent-ca.pem")));
  });

  it("refuses bad combinations with Consul's texts, writing nothing", async () => {
    const files = readdirSync(dir).sort();
    const cases: [string[], RegExp][] = [
      [["tls", "cert", "create"], /^Please provide either -server, -client, or -cli$/m],
      [["tls", "cert", "create", "-server", "-client"], /^Please provide either -server, -client, or -cli$/m],
      [["tls", "cert", "create", "-client", "-node", "n1"], /^-node requires -server$/m],
      [["tls", "cert", "create", "-server", "-ca", ""], /^Please provide the ca$/m],
      [
        ["tls", "cert", "create", "-server", "-key", "nope.pem"],
        /^Error reading CA key: open nope\.pem: no such/m,
      ],
      [["tls", "cert", "create", "-server", "-key", "consul-agent-ca.pem"], /unknown PEM block type/],
      [["tls", "cert", "create", "-server", "-additional-ipaddress", "nope"], /invalid IP address: nope/],
      [["tls", "ca", "create", "-days", "0"], /positive number of -days/],
    ];
    for (const [args, want] of cases) {
      const r = await cairn(...args);
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.out}`);
      assert.match(r.out, want, args.join(" "));
    }
    assert.deepEqual(readdirSync(dir).sort(), files);
  });

  it("adds name constraints to a CA when asked", async () => {
    const sub = mkdtempSync(join(dir, "nc-"));
    const r = await runCairn(
      ["tls", "ca", "create", "-name-constraint", "-additional-name-constraint", "x.example"],
      20_000,
      {
        cwd: sub,
      },
    );
    assert.equal(r.code, 0, r.out);
    // A certificate whose name the CA does not permit fails Consul's verification after signing.
    const bad = await runCairn(
      ["tls", "cert", "create", "-server", "-additional-dnsname", "y.other"],
      20_000,
      {
        cwd: sub,
      },
    );
    assert.equal(bad.code, 1, bad.out);
    const good = await runCairn(
      ["tls", "cert", "create", "-server", "-additional-dnsname", "a.x.example"],
      20_000,
      {
        cwd: sub,
      },
    );
    assert.equal(good.code, 0, good.out);
  });
});
