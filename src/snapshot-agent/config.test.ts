import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  clientConfigOf,
  HelpRequested,
  parseSnapshotAgentArgs,
  type SnapshotAgentConfig,
  snapshotAgentFlags,
  snapshotAgentUsage,
} from "./config.js";
import { SETTINGS } from "./config-settings.js";
import {
  AZURE,
  AZURE_FILE,
  AZURE_FLAGS,
  DEFAULTS,
  type Env,
  host,
  parse,
  S3,
  S3_FILE,
  S3_FLAGS,
  withFile,
} from "./config-testutil.js";

/**
 * A row per setting that has a flag: the value in a file (as the `snapshot_agent` object), the same as flags, and
 * the configuration both must give. Settings of a store carry the store's required keys along.
 */
interface Row {
  readonly path: string;
  readonly file: Record<string, unknown>;
  readonly flags: readonly string[];
  readonly want: Partial<SnapshotAgentConfig>;
}

const row = (
  path: string,
  file: Record<string, unknown>,
  flags: string[],
  want: Partial<SnapshotAgentConfig>,
) => ({
  path,
  file,
  flags,
  want,
});
const snap = (key: string, v: unknown) => ({ snapshot: { [key]: v } });
const retention = (r: Partial<SnapshotAgentConfig["retention"]>) => ({
  retention: { ...DEFAULTS.retention, ...r },
});
const s3 = (key: string, v: unknown, flag: string, want: Partial<typeof S3>): Row =>
  row(`aws_storage.${key}`, { aws_storage: { ...S3_FILE.aws_storage, [key]: v } }, [...S3_FLAGS, flag], {
    aws: { ...S3, ...want },
    local: null,
  });
const azure = (key: string, v: unknown, flag: string, want: Partial<typeof AZURE>): Row =>
  row(
    `azure_blob_storage.${key}`,
    { azure_blob_storage: { ...AZURE_FILE.azure_blob_storage, [key]: v } },
    [...AZURE_FLAGS, flag],
    { azure: { ...AZURE, ...want }, local: null },
  );

const ROWS: Row[] = [
  row("log.level", { log: { level: "DEBUG" } }, ["-log-level=DEBUG"], { logLevel: "debug" }),
  row("log.enable_syslog", { log: { enable_syslog: false } }, ["-syslog=false"], {}),
  row("log.syslog_facility", { log: { syslog_facility: "LOCAL3" } }, ["-syslog-facility=LOCAL3"], {}),
  row("log.json", { log: { json: true } }, ["-log-json"], { logJson: true }),
  row("listen", { listen: "127.0.0.1:9465" }, ["-listen=127.0.0.1:9465"], { listen: "127.0.0.1:9465" }),
  row("login.auth_method", { login: { auth_method: "" } }, ["-login-auth-method="], {}),
  row("login.bearer_token", { login: { bearer_token: "jwt" } }, ["-login-bearer-token=jwt"], {}),
  row("login.bearer_token_file", { login: { bearer_token_file: "/t" } }, ["-login-bearer-token-file=/t"], {}),
  row("login.meta", { login: { meta: { a: "b" } } }, ["-login-meta=a=b"], {}),
  row("snapshot.interval", snap("interval", "30m"), ["-interval=30m"], { intervalMs: 1_800_000 }),
  row("snapshot.retain", snap("retain", 0), ["-retain=0"], retention({ retain: 0 })),
  row("snapshot.retain_hourly", snap("retain_hourly", 24), ["-retain-hourly=24"], retention({ hourly: 24 })),
  row("snapshot.retain_daily", snap("retain_daily", 7), ["-retain-daily=7"], retention({ daily: 7 })),
  row("snapshot.retain_weekly", snap("retain_weekly", 4), ["-retain-weekly=4"], retention({ weekly: 4 })),
  row(
    "snapshot.retain_monthly",
    snap("retain_monthly", 12),
    ["-retain-monthly=12"],
    retention({ monthly: 12 }),
  ),
  row("snapshot.stale", snap("stale", true), ["-stale"], { stale: true }),
  row("snapshot.service", snap("service", "backup"), ["-service=backup"], { service: "backup" }),
  row("snapshot.deregister_after", snap("deregister_after", "0"), ["-deregister-after=0"], {
    deregisterAfterMs: 0,
  }),
  row("snapshot.lock_key", snap("lock_key", "l/k"), ["-lock-key=l/k"], { lockKey: "l/k" }),
  row("snapshot.history_key", snap("history_key", "h/k"), ["-history-key=h/k"], { historyKey: "h/k" }),
  row("snapshot.max_failures", snap("max_failures", 1), ["-max-failures=1"], { maxFailures: 1 }),
  row("snapshot.local_scratch_path", snap("local_scratch_path", "/s"), ["-local-scratch-path=/s"], {
    localScratchPath: "/s",
  }),
  row("snapshot.drill_interval", snap("drill_interval", "24h"), ["-drill-interval=24h"], {
    drillIntervalMs: 86_400_000,
  }),
  row("snapshot.encryption_key_file", snap("encryption_key_file", "/k"), ["-encryption-key-file=/k"], {
    encryptionKeyFile: "/k",
  }),
  row("local_storage.path", { local_storage: { path: "/b" } }, ["-local-path=/b"], { local: { path: "/b" } }),
  s3("access_key_id", "AK", "-aws-access-key-id=AK", { accessKeyId: "AK" }),
  s3("secret_access_key", "SK", "-aws-secret-access-key=SK", { secretAccessKey: "SK" }),
  s3("session_token", "ST", "-aws-session-token=ST", { sessionToken: "ST" }),
  s3("iam_endpoint", "https://iam", "-aws-iam-endpoint=https://iam", { iamEndpoint: "https://iam" }),
  s3("role_arn", "arn:r", "-aws-role-arn=arn:r", { roleArn: "arn:r" }),
  s3("role_session_name", "sn", "-aws-role-session-name=sn", { roleSessionName: "sn" }),
  s3("web_identity_token_file", "/w", "-aws-web-identity-token-file=/w", { webIdentityTokenFile: "/w" }),
  s3("sts_endpoint", "https://sts", "-aws-sts-endpoint=https://sts", { stsEndpoint: "https://sts" }),
  s3("s3_region", "us-east-2", "-aws-s3-region=us-east-2", { region: "us-east-2" }),
  s3("s3_bucket", "other", "-aws-s3-bucket=other", { bucket: "other" }),
  s3("s3_key_prefix", "p/q", "-aws-s3-key-prefix=p/q", { keyPrefix: "p/q" }),
  s3("s3_endpoint", "http://127.0.0.1:9000", "-aws-s3-endpoint=http://127.0.0.1:9000", {
    endpoint: "http://127.0.0.1:9000",
  }),
  s3("s3_server_side_encryption", true, "-aws-s3-server-side-encryption", { serverSideEncryption: true }),
  s3("s3_static_snapshot_name", "fixed.snap", "-aws-s3-static-snapshot-name=fixed.snap", {
    staticSnapshotName: "fixed.snap",
  }),
  s3("s3_force_path_style", true, "-aws-s3-force-path-style", { forcePathStyle: true }),
  s3("s3_enable_kms", true, "-aws-s3-enable-kms", { enableKms: true }),
  s3("s3_kms_key", "kid", "-aws-s3-kms-key=kid", { kmsKey: "kid" }),
  azure("account_name", "other", "-azure-blob-account-name=other", { accountName: "other" }),
  azure("account_key", "k2", "-azure-blob-account-key=k2", { accountKey: "k2" }),
  azure("container_name", "c2", "-azure-blob-container-name=c2", { containerName: "c2" }),
  azure("environment", "azurechinacloud", "-azure-blob-environment=azurechinacloud", {
    environment: "AZURECHINACLOUD",
  }),
  azure("prefix", "az/p", "-azure-blob-prefix=az/p", { prefix: "az/p" }),
  row("google_storage.bucket", { google_storage: { bucket: "g" } }, ["-gcs-bucket=g"], {
    google: { bucket: "g", prefix: "consul-snapshot" },
    local: null,
  }),
  row(
    "google_storage.prefix",
    { google_storage: { bucket: "g", prefix: "gp" } },
    ["-gcs-bucket=g", "-gcs-prefix=gp"],
    {
      google: { bucket: "g", prefix: "gp" },
      local: null,
    },
  ),
];

describe("snapshot agent config: defaults", () => {
  it("are Consul's, with cairn's additions off, and local storage in the working directory", () => {
    assert.deepEqual(parse([]), DEFAULTS);
  });

  it("are the same for a file with an empty snapshot_agent object, or Consul's documented example", () => {
    assert.deepEqual(withFile({}), DEFAULTS);
    const documented = {
      http_addr: "127.0.0.1:8500",
      token: "",
      datacenter: "",
      ca_file: "",
      ca_path: "",
      cert_file: "",
      key_file: "",
      license_path: "",
      tls_server_name: "",
      login: { auth_method: "", bearer_token: "", bearer_token_file: "", meta: {} },
      log: { level: "INFO", enable_syslog: false, syslog_facility: "LOCAL0" },
      snapshot: {
        interval: "1h",
        retain: 30,
        stale: false,
        service: "consul-snapshot",
        deregister_after: "72h",
        lock_key: "consul-snapshot/lock",
        max_failures: 3,
        local_scratch_path: "",
      },
      local_storage: { path: "." },
      aws_storage: {
        access_key_id: "",
        secret_access_key: "",
        session_token: "",
        iam_endpoint: "",
        role_arn: "",
        role_session_name: "",
        web_identity_token_file: "",
        sts_endpoint: "",
        s3_region: "",
        s3_bucket: "",
        s3_key_prefix: "consul-snapshot",
        s3_server_side_encryption: false,
        s3_static_snapshot_name: "",
        s3_force_path_style: false,
      },
      azure_blob_storage: { account_name: "", account_key: "", container_name: "" },
      google_storage: { bucket: "" },
    };
    assert.deepEqual(withFile(documented), DEFAULTS);
  });
});

describe("snapshot agent config: every setting from a file and as a flag", () => {
  it("has a row for every setting with a flag", () => {
    const flagged = Object.entries(SETTINGS).flatMap(([path, s]) => ("flag" in s ? [path] : []));
    assert.deepEqual(ROWS.map((r) => r.path).sort(), flagged.sort());
  });

  for (const r of ROWS) {
    it(r.path, () => {
      const want = { ...DEFAULTS, ...r.want };
      assert.deepEqual(withFile(r.file), want, "from the file");
      assert.deepEqual(parse(r.flags), want, "from the flags");
    });
  }

  it("takes several remote stores at once, and turns local storage off", () => {
    const c = withFile({
      ...S3_FILE,
      ...AZURE_FILE,
      google_storage: { bucket: "g" },
      local_storage: { path: "/x" },
    });
    assert.deepEqual(c.aws, S3);
    assert.deepEqual(c.azure, AZURE);
    assert.deepEqual(c.google, { bucket: "g", prefix: "consul-snapshot" });
    assert.equal(c.local, null);
  });

  it("reads the connection keys of the file", () => {
    const c = withFile({
      http_addr: "https://10.0.0.1:8501",
      token: "t",
      datacenter: "dc2",
      ca_file: "/ca",
      ca_path: "/cap",
      cert_file: "/cert",
      key_file: "/key",
      tls_server_name: "server.dc2.consul",
      license_path: "/licence.hclic",
    });
    assert.deepEqual(c.http, {
      ...DEFAULTS.http,
      httpAddr: "https://10.0.0.1:8501",
      token: "t",
      datacenter: "dc2",
      caFile: "/ca",
      caPath: "/cap",
      certFile: "/cert",
      keyFile: "/key",
      tlsServerName: "server.dc2.consul",
    });
  });

  it("reads the connection flags of the CLI", () => {
    const c = parse([
      "-http-addr=unix:///run/consul.sock",
      "-token=t",
      "-token-file=/tf",
      "-datacenter=dc3",
      "-ca-file=/ca",
      "-ca-path=/cap",
      "-client-cert=/cert",
      "-client-key=/key",
      "-tls-server-name=n",
    ]);
    assert.deepEqual(c.http, {
      ...DEFAULTS.http,
      httpAddr: "unix:///run/consul.sock",
      token: "t",
      tokenFile: "/tf",
      datacenter: "dc3",
      caFile: "/ca",
      caPath: "/cap",
      certFile: "/cert",
      keyFile: "/key",
      tlsServerName: "n",
    });
  });

  it("lets a flag override a file, setting by setting", () => {
    const c = withFile({ snapshot: { interval: "5m", retain: 3 }, http_addr: "f:1" }, [
      "-interval=10m",
      "-http-addr=g:2",
    ]);
    assert.equal(c.intervalMs, 600_000);
    assert.equal(c.retention.retain, 3);
    assert.equal(c.http.httpAddr, "g:2");
  });
});

describe("snapshot agent config: files", () => {
  const files = {
    "/d/b.json": { snapshot_agent: { snapshot: { retain: 2, service: "from-b" } } },
    "/d/a.json": { snapshot_agent: { snapshot: { retain: 1, lock_key: "from-a" } } },
    "/d/notes.txt": "not read",
    "/e.json": { snapshot_agent: { snapshot: { service: "from-e" } } },
  };
  const dirs = { "/d": ["b.json", "notes.txt", "a.json"] };

  it("applies a dir's .json files in name order, and the sources in command-line order", () => {
    const c = parseSnapshotAgentArgs(["-config-dir=/d"], {}, host(files, dirs));
    assert.deepEqual([c.retention.retain, c.service, c.lockKey], [2, "from-b", "from-a"]);
    const later = parseSnapshotAgentArgs(
      ["-config-dir", "/d", "-config-file", "/e.json"],
      {},
      host(files, dirs),
    );
    assert.equal(later.service, "from-e");
    const earlier = parseSnapshotAgentArgs(["-config-file=/e.json", "-config-dir=/d"], {}, host(files, dirs));
    assert.equal(earlier.service, "from-b");
  });

  it("ignores other top-level objects, and files without snapshot_agent beside one with it", () => {
    const shared = {
      "/c/agent.json": { server: true, bootstrap_expect: 3, ports: { http: 8500 }, acl: { enabled: true } },
      "/c/snap.json": { datacenter: "dc9", snapshot_agent: { snapshot: { retain: 5 } } },
    };
    const c = parseSnapshotAgentArgs(
      ["-config-dir=/c"],
      {},
      host(shared, { "/c": ["snap.json", "agent.json"] }),
    );
    assert.equal(c.retention.retain, 5);
    assert.equal(c.http.datacenter, "", "the top-level datacenter is the agent's, not the snapshot agent's");
  });
});

describe("snapshot agent config: environment", () => {
  const ENV: Env = {
    CONSUL_HTTP_ADDR: "env:8500",
    CONSUL_HTTP_TOKEN: "t-env",
    CONSUL_HTTP_TOKEN_FILE: "/env/tf",
    CONSUL_CACERT: "/env/ca",
    CONSUL_CAPATH: "/env/cap",
    CONSUL_CLIENT_CERT: "/env/cert",
    CONSUL_CLIENT_KEY: "/env/key",
    CONSUL_TLS_SERVER_NAME: "env.name",
    CONSUL_HTTP_SSL: "true",
    CONSUL_HTTP_SSL_VERIFY: "false",
    CONSUL_HTTP_AUTH: "u:p",
  };

  it("reads Consul's variables of the CLI", () => {
    assert.deepEqual(parse([], {}, ENV).http, {
      httpAddr: "env:8500",
      useTls: true,
      token: "t-env",
      tokenFile: "/env/tf",
      basicAuth: "u:p",
      datacenter: "",
      caFile: "/env/ca",
      caPath: "/env/cap",
      certFile: "/env/cert",
      keyFile: "/env/key",
      tlsServerName: "env.name",
      tlsSkipVerify: true,
    });
  });

  it("prefers a CAIRN_ variable to its CONSUL_ twin", () => {
    const c = parse(
      [],
      {},
      { CONSUL_HTTP_ADDR: "consul:1", CAIRN_HTTP_ADDR: "cairn:2", CAIRN_HTTP_TOKEN: "k" },
    );
    assert.equal(c.http.httpAddr, "cairn:2");
    assert.equal(c.http.token, "k");
  });

  it("ranks flag over file over environment", () => {
    const env = { CONSUL_HTTP_ADDR: "env:1", CONSUL_HTTP_TOKEN: "t-env", CONSUL_CACERT: "/env/ca" };
    const file = { http_addr: "file:1", token: "t-file" };
    const c = withFile(file, ["-token=t-flag"], env);
    assert.equal(c.http.token, "t-flag");
    assert.equal(c.http.httpAddr, "file:1");
    assert.equal(c.http.caFile, "/env/ca");
  });

  it("takes AWS_S3_ENDPOINT when neither a file nor a flag sets s3_endpoint", () => {
    const env = { AWS_S3_ENDPOINT: "http://127.0.0.1:4569" };
    assert.equal(parse(S3_FLAGS, {}, env).aws?.endpoint, "http://127.0.0.1:4569");
    assert.equal(
      withFile({ aws_storage: { ...S3_FILE.aws_storage, s3_endpoint: "http://f:1" } }, [], env).aws?.endpoint,
      "http://f:1",
    );
    assert.equal(parse([...S3_FLAGS, "-aws-s3-endpoint=http://g:2"], {}, env).aws?.endpoint, "http://g:2");
    assert.equal(parse([], {}, env).aws, null, "the variable alone does not turn S3 on");
  });
});

describe("snapshot agent config: help", () => {
  for (const h of ["-h", "-help", "--help"]) {
    it(`${h} asks for help`, () => {
      assert.throws(() => parse([h]), HelpRequested);
    });
  }

  it("lists every flag and names cairn's additions", () => {
    const text = snapshotAgentUsage();
    for (const name of Object.keys(snapshotAgentFlags))
      assert.match(text, new RegExp(`^  -${name}[=\\n]`, "m"));
    assert.match(text, /^Usage: cairn snapshot agent \[options\]/);
    assert.match(text, /cairn adds: snapshot\.retain_hourly/);
  });
});

describe("clientConfigOf", () => {
  it("gives the client what the connection says, and nothing for what is unset", () => {
    assert.deepEqual(clientConfigOf(DEFAULTS.http), { address: "127.0.0.1:8500", useTls: false, tls: {} });
    const http = parse(
      ["-token=t", "-ca-file=/ca", "-tls-server-name=n", "-datacenter=dc2"],
      {},
      {
        CONSUL_HTTP_TOKEN_FILE: "/tf",
        CONSUL_HTTP_SSL_VERIFY: "0",
        CONSUL_HTTP_AUTH: "u:p",
      },
    ).http;
    assert.deepEqual(clientConfigOf(http), {
      address: "127.0.0.1:8500",
      useTls: false,
      token: "t",
      tokenFile: "/tf",
      basicAuth: "u:p",
      datacenter: "dc2",
      tls: { caFile: "/ca", serverName: "n", insecureSkipVerify: true },
    });
  });
});
