/**
 * Helpers of the snapshot agent's configuration tests (config.test.ts, config-errors.test.ts): a machine without
 * a disk, the defaults in full, and the minimal settings of each remote store.
 */
import assert from "node:assert/strict";
import {
  parseSnapshotAgentArgs,
  type SnapshotAgentConfig,
  SnapshotAgentConfigError,
  type SnapshotAgentHost,
} from "./config.js";

export type Env = Readonly<Record<string, string>>;

export function host(
  files: Record<string, unknown> = {},
  dirs: Record<string, string[]> = {},
): SnapshotAgentHost {
  return {
    readFile(path) {
      const content = files[path];
      if (content === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
      return typeof content === "string" ? content : JSON.stringify(content);
    },
    readDir(path) {
      const names = dirs[path];
      if (names === undefined) throw new Error(`ENOENT: no such file or directory, scandir '${path}'`);
      return [...names];
    },
    tmpdir: () => "/scratch",
  };
}

export const parse = (argv: readonly string[], files: Record<string, unknown> = {}, env: Env = {}) =>
  parseSnapshotAgentArgs(argv, env, host(files));

/** One config file holding `snapshot_agent`. */
export const withFile = (snapshotAgent: unknown, argv: readonly string[] = [], env: Env = {}) =>
  parse(["-config-file=/c.json", ...argv], { "/c.json": { snapshot_agent: snapshotAgent } }, env);

export const DEFAULTS: SnapshotAgentConfig = {
  http: {
    httpAddr: "127.0.0.1:8500",
    useTls: false,
    token: "",
    tokenFile: "",
    basicAuth: "",
    datacenter: "",
    caFile: "",
    caPath: "",
    certFile: "",
    keyFile: "",
    tlsServerName: "",
    tlsSkipVerify: false,
  },
  logLevel: "info",
  logJson: false,
  intervalMs: 3_600_000,
  retention: { retain: 30, hourly: 0, daily: 0, weekly: 0, monthly: 0 },
  stale: false,
  service: "consul-snapshot",
  deregisterAfterMs: 72 * 3_600_000,
  lockKey: "consul-snapshot/lock",
  historyKey: "consul-snapshot/history",
  maxFailures: 3,
  localScratchPath: "/scratch",
  local: { path: "." },
  aws: null,
  azure: null,
  google: null,
  listen: "",
  drillIntervalMs: 0,
  encryptionKeyFile: "",
};

export const S3 = {
  accessKeyId: "",
  secretAccessKey: "",
  sessionToken: "",
  iamEndpoint: "",
  roleArn: "",
  roleSessionName: "",
  webIdentityTokenFile: "",
  stsEndpoint: "",
  region: "eu-west-1",
  bucket: "b",
  keyPrefix: "consul-snapshot",
  endpoint: "",
  serverSideEncryption: false,
  staticSnapshotName: "",
  forcePathStyle: false,
  enableKms: false,
  kmsKey: "",
};
export const S3_FILE = { aws_storage: { s3_bucket: "b", s3_region: "eu-west-1" } };
export const S3_FLAGS = ["-aws-s3-bucket=b", "-aws-s3-region=eu-west-1"];
export const AZURE = {
  accountName: "acct",
  accountKey: "k",
  containerName: "c",
  environment: "AZUREPUBLICCLOUD",
  prefix: "consul-snapshot",
};
export const AZURE_FILE = {
  azure_blob_storage: { account_name: "acct", account_key: "k", container_name: "c" },
};
export const AZURE_FLAGS = [
  "-azure-blob-account-name=acct",
  "-azure-blob-account-key=k",
  "-azure-blob-container-name=c",
];

/** Asserts that parsing refuses with exactly `message` (and whether Go's flag usage would follow it). */
export function refuses(run: () => unknown, message: string, showUsage = false): void {
  assert.throws(run, (e: unknown) => {
    assert.ok(e instanceof SnapshotAgentConfigError, `not a SnapshotAgentConfigError: ${String(e)}`);
    assert.equal(e.message, message);
    assert.equal(e.code, "snapshot_agent_config");
    assert.equal(e.showUsage, showUsage);
    return true;
  });
}
