/**
 * Test support: the real `s3rver` (an S3 server on the local file system) as a child process on 127.0.0.1, on a
 * free port and a temp directory of its own. A child process rather than s3rver in this process, so a test can
 * kill it mid-upload (SIGKILL: no graceful close) and start it again on the same directory and port.
 *
 * The child watches its stdin: when this test process dies without stopping it, the pipe closes and the server
 * exits, so no s3rver outlives its test run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { AwsStorageConfig } from "../../src/snapshot-agent/config-types.js";

/** s3rver's built-in credentials: it checks signatures against this key pair. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

/** How long s3rver may take to say it listens (a cold start loads Koa and its dependencies). */
const START_TIMEOUT_MS = 30_000;
/** How long a killed or stopped s3rver may take to exit. */
const EXIT_TIMEOUT_MS = 10_000;
/** Attempts to listen again on the same port after a kill (the port is free at once with SO_REUSEADDR). */
const RESTART_ATTEMPTS = 5;

/**
 * Runs s3rver's own command line (bin/s3rver.js) with its argv, after making it exit when its stdin closes. The
 * first argument after the code is the script path, as `node script args…` would give it.
 */
const WATCHDOG = `process.stdin.on("end", () => process.exit(0)); process.stdin.resume(); require(process.argv[1]);`;

export interface S3rverOptions {
  /** The bucket it creates at start [cairn-test]. */
  readonly bucket?: string;
}

export interface S3rverServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  readonly bucket: string;
  /** s3rver's data directory (a temp dir this harness removes on stop). */
  readonly directory: string;
  /** SIGKILL: the server dies with requests in flight, as a crashed or cut-off store would. */
  kill(): Promise<void>;
  /** Starts s3rver again on the same directory and port (after `kill`). */
  restart(): Promise<void>;
  /** Kills the server if it runs and removes its directory. */
  stop(): Promise<void>;
}

function s3rverBin(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("s3rver/package.json")), "bin", "s3rver.js");
}

interface Running {
  readonly child: ChildProcess;
  readonly port: number;
}

/** Spawns s3rver and waits (bounded) for its "S3rver listening on <address>:<port>" line. */
async function spawnS3rver(directory: string, port: number, bucket: string): Promise<Running> {
  // s3rver's continuation tokens (ListObjectsV2 pagination) are DES-encrypted: OpenSSL 3 has DES only in its
  // legacy provider.
  const args = [
    "--openssl-legacy-provider",
    "-e",
    WATCHDOG,
    s3rverBin(),
    "-d",
    directory,
    "-a",
    "127.0.0.1",
    "-p",
    String(port),
    "-s",
  ];
  const child = spawn(process.execPath, [...args, "--configure-bucket", bucket], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    err += d;
  });
  try {
    const listening = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`s3rver did not start within ${START_TIMEOUT_MS} ms: ${err}`)),
        START_TIMEOUT_MS,
      );
      child.stdout?.setEncoding("utf8").on("data", (d: string) => {
        out += d;
        const m = /listening on [\d.]+:(\d+)/.exec(out);
        if (m !== null) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`s3rver exited before listening (${code ?? signal}): ${err}`));
      });
      child.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    // Keep draining its output so a chatty server never blocks on a full pipe.
    child.stdout?.resume();
    return { child, port: listening };
  } catch (e) {
    await killChild(child);
    throw e;
  }
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  const timeout = new Promise<never>((_, reject) => {
    setTimeout(() => reject(new Error("s3rver did not exit after SIGKILL")), EXIT_TIMEOUT_MS).unref();
  });
  await Promise.race([exited, timeout]);
}

/** Starts s3rver on 127.0.0.1 with a free port and a new temp directory, with `bucket` created. */
export async function startS3rver(options: S3rverOptions = {}): Promise<S3rverServer> {
  const bucket = options.bucket ?? "cairn-test";
  const directory = await mkdtemp(join(tmpdir(), "cairn-s3rver-"));
  let running: Running | undefined;
  try {
    running = await spawnS3rver(directory, 0, bucket);
  } catch (e) {
    await rm(directory, { recursive: true, force: true });
    throw e;
  }
  const port = running.port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    bucket,
    directory,
    async kill() {
      if (running !== undefined) await killChild(running.child);
      running = undefined;
    },
    async restart() {
      if (running !== undefined) throw new Error("s3rver is running; kill it first");
      let last: unknown;
      for (let attempt = 0; attempt < RESTART_ATTEMPTS; attempt++) {
        try {
          running = await spawnS3rver(directory, port, bucket);
          return;
        } catch (e) {
          last = e;
        }
      }
      throw last;
    },
    async stop() {
      if (running !== undefined) await killChild(running.child);
      running = undefined;
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** The agent's `aws_storage` settings for this s3rver: its endpoint, bucket and credentials, path-style. */
export function s3rverStorageConfig(
  server: Pick<S3rverServer, "endpoint" | "bucket">,
  overrides: Partial<AwsStorageConfig> = {},
): AwsStorageConfig {
  return {
    ...S3RVER_CREDENTIALS,
    sessionToken: "",
    iamEndpoint: "",
    roleArn: "",
    roleSessionName: "",
    webIdentityTokenFile: "",
    stsEndpoint: "",
    region: "us-east-1",
    bucket: server.bucket,
    keyPrefix: "consul-snapshot",
    endpoint: server.endpoint,
    serverSideEncryption: false,
    staticSnapshotName: "",
    forcePathStyle: true,
    enableKms: false,
    kmsKey: "",
    ...overrides,
  };
}
