import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { generateCa, generateCert, type PemPair } from "../util/tls-generate.js";
import { parseAgentArgs } from "./config.js";
import { check, DD, F, fakeHost, type World } from "./config-testutil.js";

let ca: PemPair;
let server: PemPair;
let other: PemPair;

before(async () => {
  ca = await generateCa({ days: 1 });
  server = await generateCert({ kind: "server", datacenter: "dc1", domain: "consul", days: 1, ca });
  const otherCa = await generateCa({ days: 1 });
  other = await generateCert({ kind: "server", datacenter: "dc1", domain: "consul", days: 1, ca: otherCa });
});

/** A config file plus the PEM files it names. */
function world(config: unknown, extra: Record<string, string> = {}): World {
  return {
    files: {
      "/f.json": JSON.stringify(config),
      "/tls/ca.pem": ca.certPem,
      "/tls/server.pem": server.certPem,
      "/tls/server-key.pem": server.keyPem,
      "/tls/other-key.pem": other.keyPem,
      ...extra,
    },
    dirs: { "/tls/cas": ["a.pem", "README"] },
  };
}

const files = { ca_file: "/tls/ca.pem", cert_file: "/tls/server.pem", key_file: "/tls/server-key.pem" };

describe("agent tls config", () => {
  it("is off by default: no https port, no verification", () => {
    const cfg = parseAgentArgs(DD, {}, fakeHost({}));
    assert.equal(cfg.httpsPort, -1);
    assert.equal(cfg.tls.https.pair, undefined);
    assert.equal(cfg.tls.internalRpc.verifyIncoming, false);
    assert.equal(cfg.tls.internalRpc.verifyOutgoing, false);
  });

  it("applies tls.defaults to https and internal_rpc, each overridable key by key", () => {
    const cfg = parseAgentArgs(
      [...DD, ...F],
      {},
      fakeHost(
        world({
          ports: { https: 8501 },
          tls: {
            defaults: { ...files, verify_incoming: true, verify_outgoing: true },
            https: { verify_incoming: false },
            internal_rpc: { verify_server_hostname: true },
          },
        }),
      ),
    );
    assert.equal(cfg.httpsPort, 8501);
    assert.equal(cfg.tls.https.verifyIncoming, false);
    assert.equal(cfg.tls.https.pair?.cert, server.certPem);
    assert.equal(cfg.tls.internalRpc.verifyIncoming, true);
    assert.equal(cfg.tls.internalRpc.verifyServerHostname, true);
    assert.deepEqual(cfg.tls.internalRpc.ca, [ca.certPem]);
  });

  it("verify_server_hostname implies verify_outgoing; ca_path reads the certificates of a directory", () => {
    const cfg = parseAgentArgs(
      [...DD, ...F],
      {},
      fakeHost(
        world(
          {
            tls: {
              defaults: { ca_path: "/tls/cas", cert_file: files.cert_file, key_file: files.key_file },
              internal_rpc: { verify_server_hostname: true },
            },
          },
          { "/tls/cas/a.pem": ca.certPem },
        ),
      ),
    );
    assert.equal(cfg.tls.internalRpc.verifyOutgoing, true);
    assert.deepEqual(cfg.tls.internalRpc.ca, [ca.certPem]);
  });

  it("merges tls keys over config files instead of replacing the stanza", () => {
    const w: World = {
      files: {
        ...world({}).files,
        "/a.json": JSON.stringify({ tls: { defaults: files } }),
        "/b.json": JSON.stringify({ tls: { https: { verify_incoming: true } } }),
      },
    };
    const cfg = parseAgentArgs([...DD, "-config-file=/a.json", "-config-file=/b.json"], {}, fakeHost(w));
    assert.equal(cfg.tls.https.verifyIncoming, true);
    assert.equal(cfg.tls.https.caFile, "/tls/ca.pem");
  });

  it("reads Consul's legacy top-level keys where the tls stanza leaves a key unset", () => {
    const cfg = parseAgentArgs(
      [...DD, ...F],
      {},
      fakeHost(
        world({
          ...files,
          verify_outgoing: true,
          verify_server_hostname: true,
          verify_incoming_https: true,
          verify_incoming_rpc: false,
          tls: { internal_rpc: { verify_incoming: true } },
        }),
      ),
    );
    assert.equal(cfg.tls.https.verifyIncoming, true);
    assert.equal(cfg.tls.https.caFile, "/tls/ca.pem");
    assert.equal(cfg.tls.internalRpc.verifyIncoming, true, "the stanza's key beats verify_incoming_rpc");
    assert.equal(cfg.tls.internalRpc.verifyServerHostname, true);
    assert.equal(cfg.tls.internalRpc.verifyOutgoing, true);
  });

  const bad: [string, unknown, string][] = [
    [
      "verify_incoming without a CA",
      { tls: { defaults: { cert_file: files.cert_file, key_file: files.key_file, verify_incoming: true } } },
      "tls.https: VerifyIncoming set, and no CA certificate provided!",
    ],
    [
      "verify_incoming without a certificate",
      { tls: { https: { ca_file: files.ca_file, verify_incoming: true } } },
      "tls.https: VerifyIncoming set, and no Cert/Key pair provided!",
    ],
    [
      "verify_outgoing without a CA",
      { tls: { internal_rpc: { verify_outgoing: true } } },
      "tls.internal_rpc: VerifyOutgoing set, and no CA certificate provided!",
    ],
    [
      "a key that is not the certificate's",
      { tls: { defaults: { cert_file: files.cert_file, key_file: "/tls/other-key.pem" } } },
      "tls.https: Failed to load cert/key pair: tls: private key does not match public key",
    ],
    [
      "a missing file",
      { tls: { defaults: { ca_file: "/tls/nope.pem" } } },
      "tls.https.ca_file: cannot read /tls/nope.pem: ENOENT: no such file or directory, open '/tls/nope.pem'",
    ],
    [
      "a CA file that is not a certificate",
      { tls: { defaults: { ca_file: "/tls/server-key.pem" } } },
      "tls.https.ca_file: /tls/server-key.pem is not a PEM certificate",
    ],
    [
      "a certificate without its key",
      { tls: { defaults: { cert_file: files.cert_file } } },
      "tls.https: cert_file and key_file must be set together",
    ],
    [
      "an https port without a certificate",
      { ports: { https: 8501 } },
      "ports.https is set, and no Cert/Key pair provided! (set tls.defaults or tls.https cert_file and key_file)",
    ],
    [
      "internal RPC verification without a certificate",
      { tls: { defaults: { ca_file: files.ca_file }, internal_rpc: { verify_outgoing: true } } },
      "tls.internal_rpc: verify_incoming or verify_outgoing is set, and no Cert/Key pair provided! " +
        "(servers speak mutual TLS to each other: set cert_file and key_file)",
    ],
    [
      "a misspelt key",
      { tls: { defaults: { verify_incomming: true } } },
      `config file "/f.json": "tls.defaults.verify_incomming" is not a config key (did you mean "tls.defaults.verify_incoming"?)`,
    ],
  ];
  for (const [name, config, err] of bad) {
    it(`refuses ${name}`, () => {
      if (name === "a CA file that is not a certificate") {
        // node:crypto's own parse error follows; the part cairn writes is what matters.
        assert.throws(
          () => parseAgentArgs([...DD, ...F], {}, fakeHost(world(config))),
          (e: unknown) => String((e as Error).message).startsWith(err),
        );
        return;
      }
      check({ name, argv: [...DD, ...F], world: world(config), err });
    });
  }
});
