/**
 * Azurite's blob service (the real emulator, npm `azurite`) as a child process on 127.0.0.1 with a port the
 * system picks, for tests of the Azure Blob store. Telemetry is always off: without `--disableTelemetry` Azurite
 * sends usage data to an Application Insights host, and tests may reach nothing beyond loopback.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { endProcess, startNode } from "./child.js";

/** Azurite's built-in account and its documented, well-known key. */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

const MAIN = createRequire(import.meta.url).resolve("azurite/dist/src/blob/main.js");
const LISTENING = /successfully listens on http:\/\/127\.0\.0\.1:(\d+)/;
const START_TIMEOUT_MS = 30_000;

export interface Azurite {
  /** `AZURE_STORAGE_CONNECTION_STRING` for this instance. */
  readonly connectionString: string;
  readonly account: string;
  readonly key: string;
  /** `http://127.0.0.1:PORT/devstoreaccount1` */
  readonly blobEndpoint: string;
  /** The workspace directory (blobs and metadata); a new instance on it sees what this one persisted. */
  readonly location: string;
  /** SIGTERM (Azurite saves its metadata and closes), then waits for the exit; removes a location it made. */
  stop(): Promise<void>;
  /** SIGKILL, a crash: waits for the exit and leaves the location as the crash left it. */
  kill(): Promise<void>;
}

/**
 * Starts Azurite's blob service on a free loopback port, on `location` (kept) or a new temp dir (removed by
 * stop). Rejects, with Azurite's output, if it does not report listening within 30 s.
 */
export async function startAzurite(location?: string): Promise<Azurite> {
  const dir = location ?? mkdtempSync(join(tmpdir(), "cairn-azurite-"));
  const args = [MAIN, "--blobHost", "127.0.0.1", "--blobPort", "0", "--location", dir];
  // The SDK speaks a newer service version (2026-04-06) than Azurite 3.35 knows (2025-11-05); the calls the
  // store makes are unchanged between the two.
  args.push("--disableTelemetry", "--silent", "--skipApiVersionCheck");
  let started: Awaited<ReturnType<typeof startNode>>;
  try {
    started = await startNode(args, {}, LISTENING, START_TIMEOUT_MS);
  } catch (e) {
    if (location === undefined) rmSync(dir, { recursive: true, force: true });
    throw new Error(`azurite: ${e instanceof Error ? e.message : String(e)}`);
  }
  const { proc, match } = started;
  const blobEndpoint = `http://127.0.0.1:${match[1]}/${AZURITE_ACCOUNT}`;
  return {
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${blobEndpoint};`,
    account: AZURITE_ACCOUNT,
    key: AZURITE_KEY,
    blobEndpoint,
    location: dir,
    async stop() {
      await endProcess(proc, "SIGTERM");
      if (location === undefined) rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      await endProcess(proc, "SIGKILL");
    },
  };
}
