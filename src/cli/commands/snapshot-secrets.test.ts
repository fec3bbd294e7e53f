/**
 * `snapshot inspect` and `snapshot decode` never print a secret of the archive unless `decode -show-secrets`
 * asks for it: ACL token SecretIDs, peering secrets, the Token of prepared queries and requests, private keys.
 * Checked on an archive built here (records encoded with the Go msgpack writer) and on Consul's all.snap.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { run } from "../../../test/support/cli-harness.js";
import {
  encodeGo,
  type RawRecord,
  type SnapshotRecord,
  writeArchive,
  writeStateBin,
} from "../../snapshot/index.js";
import { fixture, MemorySink, skipUnlessFixtures, withTempDir } from "../../snapshot/testutil.js";

const TOKEN_SECRET = "5b0c6f4e-0d3a-4c55-9d7e-token-secret";
const QUERY_TOKEN = "b8f1d2a0-query-token-2f6e0c1d9a77";
const REGISTER_TOKEN = "c41e9a02-register-token-7d3b5e8f";
const PEERING_ESTABLISH = "e3c7a9d1-peering-establishment";
const PEERING_ACTIVE = "a1b2c3d4-peering-active-stream";
const PEERING_PENDING = "f0e1d2c3-peering-pending-stream";
const PRIVATE_KEY =
  "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIsecretkeymaterial\n-----END EC PRIVATE KEY-----\n";
const SECRETS = [
  TOKEN_SECRET,
  QUERY_TOKEN,
  REGISTER_TOKEN,
  PEERING_ESTABLISH,
  PEERING_ACTIVE,
  PEERING_PENDING,
  PRIVATE_KEY,
];

const PEER_ID = "503f605c-6ac3-1bbc-4518-758e07212491";

/** Length-delimited protobuf fields (wire type 2), each shorter than 128 bytes. */
function protobuf(fields: [number, string | Uint8Array][]): Uint8Array {
  const parts = fields.map(([n, v]) => {
    const bytes = typeof v === "string" ? Buffer.from(v) : Buffer.from(v);
    assert.ok(bytes.length < 128);
    return Buffer.concat([Buffer.of((n << 3) | 2, bytes.length), bytes]);
  });
  return Buffer.concat(parts);
}

/** Raw records as Consul writes them (types from agent/structs/structs.go), bodies in Go's msgpack shapes. */
function records(): (RawRecord | SnapshotRecord)[] {
  const raw = (type: number, body: Parameters<typeof encodeGo>[0]): RawRecord => ({
    type,
    body: encodeGo(body),
  });
  return [
    raw(0, {
      Datacenter: "dc1",
      ID: "065c1172-84a8-0bd1-269c-d24b2d0fb903",
      Node: "node-1",
      Address: "127.0.0.1",
      Token: REGISTER_TOKEN,
      CreateIndex: 3,
      ModifyIndex: 3,
    }),
    {
      kind: "KVS",
      type: 2,
      body: {
        CreateIndex: 4,
        Flags: 0n,
        Key: "app/config",
        LockIndex: 0,
        ModifyIndex: 4,
        Session: "",
        Value: null,
      },
    },
    raw(7, {
      ID: "3a0b2c1d-0000-4000-8000-000000000007",
      Name: "q",
      Token: QUERY_TOKEN,
      Service: { Service: "web" },
    }),
    raw(14, { ID: "fb:50:9b", PrivateKey: PRIVATE_KEY, RootCert: "-----BEGIN CERTIFICATE-----\n" }),
    raw(17, {
      AccessorID: "d56136c7-a3a8-ceac-da70-9bee9755d252",
      SecretID: TOKEN_SECRET,
      Description: "",
      Local: false,
      CreateIndex: 5,
      ModifyIndex: 5,
    }),
    raw(17, {
      AccessorID: "00000000-0000-0000-0000-000000000002",
      SecretID: "",
      CreateIndex: 6,
      ModifyIndex: 6,
    }),
    // Consul writes PeeringSecrets as a protobuf blob (pbpeering.PeeringSecrets: PeerID = 1, establishment = 2
    // {SecretID = 1}, stream = 3 {ActiveSecretID = 1, PendingSecretID = 2}) inside a msgpack string.
    raw(
      40,
      protobuf([
        [1, PEER_ID],
        [2, protobuf([[1, PEERING_ESTABLISH]])],
        [
          3,
          protobuf([
            [1, PEERING_ACTIVE],
            [2, PEERING_PENDING],
          ]),
        ],
      ]),
    ),
  ];
}

async function writeTestArchive(dir: string): Promise<string> {
  const sink = new MemorySink();
  const input = { ID: "2-9-1700000000000", Index: 9, Term: 2, ConfigurationIndex: 1 };
  await writeArchive(sink, input, Readable.from(writeStateBin({ LastIndex: 9 }, records())), { tmpDir: dir });
  const file = join(dir, "secrets.snap");
  await writeFile(file, sink.bytes(), { mode: 0o600 });
  return file;
}

/** Every output of the read-only commands that must hold no secret. */
function redactedRuns(file: string): string[][] {
  return [
    ["snapshot", "inspect", file],
    ["snapshot", "inspect", "-format=json", file],
    ["snapshot", "inspect", "-kvdetails", file],
    ["snapshot", "inspect", "-kvdetails", "-kvdepth", "1", "-format=json", file],
    ["snapshot", "decode", file],
    ["snapshot", "decode", "-show-secrets=false", file],
  ];
}

async function assertNoSecret(argv: string[], secrets: readonly string[]): Promise<string> {
  const r = await run(argv, {});
  assert.deepEqual([r.code, r.stderr], [0, ""], argv.join(" "));
  for (const s of secrets)
    assert.ok(!r.stdout.includes(s), `${argv.join(" ")} printed the secret ${JSON.stringify(s)}`);
  return r.stdout;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every [field, value] pair of string values in the decoded lines, at any depth. */
function stringFields(stdout: string): [string, string][] {
  const found: [string, string][] = [];
  const walk = (v: Json, key: string): void => {
    if (typeof v === "string") found.push([key, v]);
    else if (Array.isArray(v)) for (const x of v) walk(x, key);
    else if (v !== null && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  for (const line of stdout.trimEnd().split("\n")) walk(JSON.parse(line) as Json, "");
  return found;
}

describe("snapshot inspect and decode keep an archive's secrets", () => {
  it("an archive with an ACL token, peering secrets, tokens and a private key: none printed by default", async () => {
    await withTempDir(async (dir) => {
      const file = await writeTestArchive(dir);
      for (const argv of redactedRuns(file)) await assertNoSecret(argv, SECRETS);

      const decoded = stringFields((await run(["snapshot", "decode", file], {})).stdout);
      const hidden = decoded.filter(([, v]) => v === "<hidden>").map(([k]) => k);
      assert.deepEqual(hidden.sort(), ["Data", "PrivateKey", "SecretID", "Token", "Token"]);
      const peering = (await run(["snapshot", "decode", file], {})).stdout
        .split("\n")
        .filter((l) => l.includes("PeeringSecret"));
      assert.deepEqual(
        peering,
        ['{"Data":"\\u003chidden\\u003e","Type":"PeeringSecret"}'],
        "the protobuf blob is hidden whole (Go's encoder escapes < and >)",
      );
      // An empty SecretID says "none" and stays empty; other fields print as they are.
      assert.ok(decoded.some(([k, v]) => k === "SecretID" && v === ""));
      assert.ok(decoded.some(([k, v]) => k === "AccessorID" && v === "d56136c7-a3a8-ceac-da70-9bee9755d252"));
      assert.ok(decoded.some(([k, v]) => k === "RootCert" && v.startsWith("-----BEGIN CERTIFICATE")));

      const shown = await run(["snapshot", "decode", "-show-secrets", file], {});
      assert.equal(shown.code, 0);
      const values = new Set(stringFields(shown.stdout).map(([, v]) => v));
      for (const s of [TOKEN_SECRET, QUERY_TOKEN, REGISTER_TOKEN, PRIVATE_KEY])
        assert.ok(values.has(s), `-show-secrets prints ${JSON.stringify(s)}`);
      for (const s of [PEERING_ESTABLISH, PEERING_ACTIVE, PEERING_PENDING])
        assert.ok(shown.stdout.includes(s), `-show-secrets prints the peering blob with ${s}`);
    });
  });

  it("Consul's all.snap: decode prints none of its SecretIDs, peering secrets, tokens or keys", {
    skip: skipUnlessFixtures("decode/all.snap"),
  }, async () => {
    const file = fixture("decode", "all.snap");
    const shown = await run(["snapshot", "decode", "-show-secrets", file], {});
    assert.equal(shown.code, 0);
    const secretFields = ["SecretID", "Token", "PrivateKey"];
    const secrets = stringFields(shown.stdout)
      .filter(([k, v]) => secretFields.includes(k) && v !== "")
      .map(([, v]) => v);
    // The peering's stream secret is inside the PeeringSecret protobuf blob.
    secrets.push("cda5e0b8-be51-5b62-a89d-8546f9c48da9");
    assert.ok(shown.stdout.includes("cda5e0b8-be51-5b62-a89d-8546f9c48da9"));
    // The fixture's three tokens (one of them "root", the initial management token), its peering's stream
    // secret, the prepared query's token and the CA provider's private key.
    for (const known of [
      "a4794332-5fe2-51e1-3a78-47c684bd181c",
      "root",
      "cda5e0b8-be51-5b62-a89d-8546f9c48da9",
    ])
      assert.ok(secrets.includes(known), known);
    const byDefault = await run(["snapshot", "decode", file], {});
    assert.equal(byDefault.code, 0);
    const printed = stringFields(byDefault.stdout).map(([, v]) => v);
    for (const s of secrets)
      assert.ok(!printed.includes(s), `decode printed the secret ${JSON.stringify(s)}`);
    // Secrets long enough not to occur by chance are not anywhere in the text either ("root" is in
    // "connect-ca-roots", a table name).
    const long = secrets.filter((s) => s.length >= 8);
    for (const argv of redactedRuns(file)) await assertNoSecret(argv, long);
  });
});
