import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseSnapshotAgentArgs, SnapshotAgentConfigError } from "./config.js";
import { AZURE_FILE, host, parse, refuses, withFile } from "./config-testutil.js";

const IN = 'config file "/c.json": ';
const LOGIN =
  "login is not supported by cairn (no ACL auth methods yet); give the agent a token instead " +
  "(token, -token, -token-file or CONSUL_HTTP_TOKEN)";
const SYSLOG =
  "syslog is not supported by cairn; it logs to stderr, for the service manager (systemd's journal, Docker, …) " +
  "to collect";
const LEVELS = "the level must be one of trace, debug, info, warn, error";
const LISTEN = 'must be host:port, such as "127.0.0.1:9465", or "" for none';

/** [name, the snapshot_agent object, the exact message]. */
const BAD_FILES: [string, unknown, string][] = [
  [
    "a misspelt key, named in full with its likely spelling",
    { snapshot: { intervall: "1h" } },
    `${IN}"snapshot_agent.snapshot.intervall" is not a config key (did you mean "snapshot_agent.snapshot.interval"?)`,
  ],
  ["an unknown key", { bogus: 1 }, `${IN}"snapshot_agent.bogus" is not a config key`],
  [
    "an unknown key of a store",
    { aws_storage: { s3_buckets: "b" } },
    `${IN}"snapshot_agent.aws_storage.s3_buckets" is not a config key (did you mean "snapshot_agent.aws_storage.s3_bucket"?)`,
  ],
  [
    "an unknown object",
    { s3_storage: { bucket: "b" } },
    `${IN}"snapshot_agent.s3_storage" is not a config key`,
  ],
  [
    "a duration without a unit",
    { snapshot: { interval: "5" } },
    `${IN}"snapshot_agent.snapshot.interval" cannot be "5": a duration needs a unit, such as "5s", "5m" or "5h"`,
  ],
  [
    "a duration as a number",
    { snapshot: { deregister_after: 3600 } },
    `${IN}"snapshot_agent.snapshot.deregister_after" must be a duration string such as "30s", "1h" or "0"`,
  ],
  [
    "a duration that is not Go's",
    { snapshot: { drill_interval: "1 day" } },
    `${IN}"snapshot_agent.snapshot.drill_interval" cannot be "1 day": not a duration (write e.g. "30s", "1h30m" or "0")`,
  ],
  [
    "a negative duration",
    { snapshot: { interval: "-1h" } },
    `${IN}"snapshot_agent.snapshot.interval" cannot be "-1h": must not be negative`,
  ],
  [
    "a negative retain",
    { snapshot: { retain: -1 } },
    `${IN}"snapshot_agent.snapshot.retain" cannot be -1: must not be negative`,
  ],
  [
    "a fractional retain",
    { snapshot: { retain: 1.5 } },
    `${IN}"snapshot_agent.snapshot.retain" must be an integer`,
  ],
  [
    "retain as a string",
    { snapshot: { retain: "30" } },
    `${IN}"snapshot_agent.snapshot.retain" must be an integer`,
  ],
  [
    "a negative retain_daily",
    { snapshot: { retain_daily: -7 } },
    `${IN}"snapshot_agent.snapshot.retain_daily" cannot be -7: must not be negative`,
  ],
  [
    "a negative max_failures",
    { snapshot: { max_failures: -1 } },
    `${IN}"snapshot_agent.snapshot.max_failures" cannot be -1: must be at least 1`,
  ],
  [
    "max_failures 0",
    { snapshot: { max_failures: 0 } },
    `${IN}"snapshot_agent.snapshot.max_failures" cannot be 0: must be at least 1`,
  ],
  [
    "a bool as a string",
    { snapshot: { stale: "true" } },
    `${IN}"snapshot_agent.snapshot.stale" must be a boolean`,
  ],
  [
    "a string as a number",
    { snapshot: { service: 1 } },
    `${IN}"snapshot_agent.snapshot.service" must be a string`,
  ],
  ["a null string", { token: null }, `${IN}"snapshot_agent.token" must be a string`],
  ["an object as a string", { snapshot: "1h" }, `${IN}"snapshot_agent.snapshot" must be an object`],
  ["a key as an object", { listen: { port: 1 } }, `${IN}"snapshot_agent.listen" must be a string`],
  [
    "a login with an auth method",
    { login: { auth_method: "kubernetes", bearer_token_file: "/var/run/token" } },
    `${IN}"snapshot_agent.login.auth_method" cannot be "kubernetes": ${LOGIN}`,
  ],
  [
    "login meta that is not strings",
    { login: { meta: { a: 1 } } },
    `${IN}"snapshot_agent.login.meta" must be an object of strings`,
  ],
  [
    "an unknown log level",
    { log: { level: "verbose" } },
    `${IN}"snapshot_agent.log.level" cannot be "verbose": ${LEVELS}`,
  ],
  [
    "syslog",
    { log: { enable_syslog: true } },
    `${IN}"snapshot_agent.log.enable_syslog" cannot be true: ${SYSLOG}`,
  ],
  [
    "a listen address without a port",
    { listen: "127.0.0.1" },
    `${IN}"snapshot_agent.listen" cannot be "127.0.0.1": ${LISTEN}`,
  ],
  [
    "a listen port out of range",
    { listen: ":70000" },
    `${IN}"snapshot_agent.listen" cannot be ":70000": ${LISTEN}`,
  ],
  [
    "an unknown Azure environment",
    { azure_blob_storage: { ...AZURE_FILE.azure_blob_storage, environment: "AZUREMARS" } },
    `${IN}"snapshot_agent.azure_blob_storage.environment" cannot be "AZUREMARS": the environment must be one of ` +
      "AZUREPUBLICCLOUD, AZURECHINACLOUD, AZUREGERMANCLOUD, AZUREUSGOVERNMENTCLOUD",
  ],
  [
    "an S3 bucket without a region",
    { aws_storage: { s3_bucket: "b" } },
    "snapshot_agent.aws_storage.s3_bucket (-aws-s3-bucket) is set but snapshot_agent.aws_storage.s3_region " +
      "(-aws-s3-region) is not: S3 storage needs a region",
  ],
  [
    "an S3 region without a bucket",
    { aws_storage: { s3_region: "eu-west-1", s3_key_prefix: "p" } },
    "snapshot_agent.aws_storage.s3_region (-aws-s3-region) is set but snapshot_agent.aws_storage.s3_bucket " +
      "(-aws-s3-bucket) is not: S3 storage needs a bucket",
  ],
  [
    "an Azure container without an account name",
    { azure_blob_storage: { container_name: "c", account_key: "k" } },
    "snapshot_agent.azure_blob_storage.container_name (-azure-blob-container-name) is set but " +
      "snapshot_agent.azure_blob_storage.account_name (-azure-blob-account-name) is not: Azure Blob storage " +
      "needs an account name and key",
  ],
  [
    "an Azure container without an account key",
    { azure_blob_storage: { container_name: "c", account_name: "a" } },
    "snapshot_agent.azure_blob_storage.container_name (-azure-blob-container-name) is set but " +
      "snapshot_agent.azure_blob_storage.account_key (-azure-blob-account-key) is not: Azure Blob storage " +
      "needs an account name and key",
  ],
  [
    "an Azure account without a container",
    { azure_blob_storage: { account_name: "a", account_key: "k" } },
    "snapshot_agent.azure_blob_storage.account_name (-azure-blob-account-name) is set but " +
      "snapshot_agent.azure_blob_storage.container_name (-azure-blob-container-name) is not: Azure Blob " +
      "storage needs a container",
  ],
];

/** [argv, the exact message, whether Go's flag usage follows]. */
const BAD_FLAGS: [readonly string[], string, boolean][] = [
  [["-interval=5"], 'invalid value "5" for flag -interval: parse error', true],
  [["-retain=x"], 'invalid value "x" for flag -retain: parse error', true],
  [["-intervall=1h"], "flag provided but not defined: -intervall", true],
  [["-retain"], "flag needs an argument: -retain", true],
  [["-interval=1h", "extra"], "Too many arguments (expected 0, got 1)", true],
  [["-retain=-1"], "-retain must not be negative", false],
  [["-retain-monthly", "-3"], "-retain-monthly must not be negative", false],
  [["-max-failures=0"], "-max-failures must be at least 1", false],
  [["-interval=-1m"], "-interval must not be negative", false],
  [["-deregister-after=-1s"], "-deregister-after must not be negative", false],
  [["-log-level=verbose"], `-log-level cannot be "verbose": ${LEVELS}`, false],
  [["-login-auth-method=k8s"], `-login-auth-method cannot be "k8s": ${LOGIN}`, false],
  [["-login-meta=novalue"], '-login-meta cannot be "novalue": must be key=value', false],
  [["-syslog"], `-syslog cannot be true: ${SYSLOG}`, false],
  [["-listen=9465"], `-listen cannot be "9465": ${LISTEN}`, false],
  [
    ["-azure-blob-environment=mars"],
    '-azure-blob-environment cannot be "mars": the environment must be one of AZUREPUBLICCLOUD, AZURECHINACLOUD, ' +
      "AZUREGERMANCLOUD, AZUREUSGOVERNMENTCLOUD",
    false,
  ],
  [
    ["-aws-s3-bucket=b"],
    "snapshot_agent.aws_storage.s3_bucket (-aws-s3-bucket) is set but snapshot_agent.aws_storage.s3_region " +
      "(-aws-s3-region) is not: S3 storage needs a region",
    false,
  ],
  [
    ["-azure-blob-container-name=c"],
    "snapshot_agent.azure_blob_storage.container_name (-azure-blob-container-name) is set but " +
      "snapshot_agent.azure_blob_storage.account_name (-azure-blob-account-name) is not: Azure Blob storage " +
      "needs an account name and key",
    false,
  ],
  [
    ["-http-addr=ftp://10.0.0.1:21"],
    'the HTTP address "ftp://10.0.0.1:21" cannot be used: Unknown protocol scheme: ftp',
    false,
  ],
];

describe("snapshot agent config: refuses a bad file", () => {
  for (const [name, object, message] of BAD_FILES) it(name, () => refuses(() => withFile(object), message));

  it("refuses a snapshot_agent that is not an object", () => {
    refuses(() => withFile([1]), `${IN}"snapshot_agent" must be an object`);
  });

  it("refuses a half-configured store even when a flag completes the other half of another", () => {
    refuses(
      () => withFile({ aws_storage: { s3_region: "r" } }, ["-gcs-bucket=g"]),
      "snapshot_agent.aws_storage.s3_region (-aws-s3-region) is set but snapshot_agent.aws_storage.s3_bucket " +
        "(-aws-s3-bucket) is not: S3 storage needs a bucket",
    );
  });

  it("lets a flag complete a store a file began", () => {
    const c = withFile({ aws_storage: { s3_bucket: "b" } }, ["-aws-s3-region=r"]);
    assert.deepEqual([c.aws?.bucket, c.aws?.region], ["b", "r"]);
  });

  it("refuses HCL by name, given or in a dir", () => {
    const hcl = (f: string) =>
      `cannot read config file "${f}": HCL is not supported yet; write the configuration as JSON`;
    refuses(() => parse(["-config-file=/c.hcl"]), hcl("/c.hcl"));
    refuses(
      () => parseSnapshotAgentArgs(["-config-dir=/d"], {}, host({}, { "/d": ["a.json", "z.hcl"] })),
      hcl("/d/z.hcl"),
    );
  });

  it("names the line and column of malformed JSON (V8's reason after them varies between Node versions)", () => {
    assert.throws(
      () =>
        parse(["-config-file=/c.json"], { "/c.json": '{\n  "snapshot_agent": {\n    "retain" 3\n  }\n}' }),
      (e: unknown) =>
        e instanceof SnapshotAgentConfigError &&
        e.message.startsWith('invalid JSON in config file "/c.json": line 3, column 14: '),
    );
  });

  it("refuses a missing file or dir", () => {
    refuses(
      () => parse(["-config-file=/nope.json"]),
      "cannot read config file \"/nope.json\": ENOENT: no such file or directory, open '/nope.json'",
    );
    refuses(
      () => parse(["-config-dir=/nope"]),
      "cannot read config dir \"/nope\": ENOENT: no such file or directory, scandir '/nope'",
    );
  });

  it("refuses config files none of which has a snapshot_agent object, as Consul does", () => {
    refuses(
      () => parse(["-config-file=/a.json"], { "/a.json": { snapshotagent: { snapshot: {} } } }),
      'none of the config files has a "snapshot_agent" object (read: /a.json); the snapshot agent\'s settings go ' +
        "inside it",
    );
    refuses(
      () => parseSnapshotAgentArgs(["-config-dir=/d"], {}, host({}, { "/d": ["README"] })),
      'the config dirs given hold no .json file; the snapshot agent needs one with a "snapshot_agent" object',
    );
  });
});

describe("snapshot agent config: refuses a bad flag", () => {
  for (const [argv, message, showUsage] of BAD_FLAGS) {
    it(argv.join(" "), () => refuses(() => parse(argv), message, showUsage));
  }
});
