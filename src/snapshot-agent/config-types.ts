/**
 * The snapshot agent's configuration, resolved: Consul Enterprise's `snapshot_agent` object and flags
 * (docs/consul-compat.md §6.3) with defaults applied, plus cairn's additions (marked). Durations in ms.
 */

import { ConfigError } from "../util/errors.js";

/** A bad flag, config file or value. `showUsage` is true for command-line syntax errors, as Go's flag prints. */
export class SnapshotAgentConfigError extends ConfigError {
  readonly code = "snapshot_agent_config";
  override name = "SnapshotAgentConfigError";
}

/**
 * Where the agent's server is and how to authenticate: flag > `snapshot_agent` key > CAIRN_* > CONSUL_* variable >
 * default (client/http-flags.ts). `clientConfigOf` (config.ts) turns it into the client's configuration.
 */
export interface HttpConnection {
  /** `http_addr` / -http-addr / CONSUL_HTTP_ADDR [127.0.0.1:8500]; may carry a scheme (https://, unix://). */
  readonly httpAddr: string;
  /** CONSUL_HTTP_SSL: TLS even for an address without `https://`. */
  readonly useTls: boolean;
  readonly token: string;
  /** -token-file / CONSUL_HTTP_TOKEN_FILE: read when the client is made; its token, when not empty, wins. */
  readonly tokenFile: string;
  /** CONSUL_HTTP_AUTH, `user:pass` ("" = none). */
  readonly basicAuth: string;
  readonly datacenter: string;
  readonly caFile: string;
  readonly caPath: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly tlsServerName: string;
  /** CONSUL_HTTP_SSL_VERIFY=false. */
  readonly tlsSkipVerify: boolean;
}

export interface LocalStorageConfig {
  readonly path: string;
}

export interface AwsStorageConfig {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly iamEndpoint: string;
  readonly roleArn: string;
  readonly roleSessionName: string;
  readonly webIdentityTokenFile: string;
  readonly stsEndpoint: string;
  readonly region: string;
  readonly bucket: string;
  /** [consul-snapshot] */
  readonly keyPrefix: string;
  /** `s3_endpoint`, or AWS_S3_ENDPOINT; "" = AWS. */
  readonly endpoint: string;
  readonly serverSideEncryption: boolean;
  readonly staticSnapshotName: string;
  readonly forcePathStyle: boolean;
  readonly enableKms: boolean;
  readonly kmsKey: string;
}

export interface AzureStorageConfig {
  readonly accountName: string;
  readonly accountKey: string;
  readonly containerName: string;
  /** [AZUREPUBLICCLOUD] */
  readonly environment: string;
  /** cairn: a key prefix inside the container [consul-snapshot]. */
  readonly prefix: string;
}

export interface GoogleStorageConfig {
  readonly bucket: string;
  /** cairn: a key prefix inside the bucket [consul-snapshot]. */
  readonly prefix: string;
}

export interface RetentionConfig {
  /** `retain` [30]: the newest N; 0 keeps all. */
  readonly retain: number;
  /** cairn: keep the newest backup of each of the last N hours/days/weeks/months besides `retain` (0: none). */
  readonly hourly: number;
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
}

export interface SnapshotAgentConfig {
  readonly http: HttpConnection;
  readonly logLevel: "trace" | "debug" | "info" | "warn" | "error";
  readonly logJson: boolean;
  /** `interval` [1h]; 0 = one shot. */
  readonly intervalMs: number;
  readonly retention: RetentionConfig;
  readonly stale: boolean;
  /** [consul-snapshot] */
  readonly service: string;
  /** [72h]; 0 = never. */
  readonly deregisterAfterMs: number;
  /** [consul-snapshot/lock] */
  readonly lockKey: string;
  /** cairn: [consul-snapshot/history]; the backup summary the web UI reads (history.ts). */
  readonly historyKey: string;
  /** [3] */
  readonly maxFailures: number;
  /** [the system temp directory] */
  readonly localScratchPath: string;
  /** Set unless a remote store is configured (Consul: local storage is the default, off with any remote one). */
  readonly local: LocalStorageConfig | null;
  readonly aws: AwsStorageConfig | null;
  readonly azure: AzureStorageConfig | null;
  readonly google: GoogleStorageConfig | null;
  /** cairn: `listen` / -listen: the agent's own HTTP listener for /metrics and /health ("" = none). */
  readonly listen: string;
  /** cairn: `drill_interval`: restore drills of the newest backup (0 = none). */
  readonly drillIntervalMs: number;
  /** cairn: `encryption_key_file`: AES-256-GCM at rest ("" = none). */
  readonly encryptionKeyFile: string;
}
