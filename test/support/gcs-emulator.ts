/**
 * A Google Cloud Storage emulator for tests: firebase-tools' Cloud Storage emulator (see gcs-emulator-main.ts),
 * as a child process on 127.0.0.1 with a free port and its own temp dir. firebase-tools is large and not a
 * dependency; it is found through CAIRN_FIREBASE_TOOLS (the package's directory, e.g.
 * `/tmp/fb/node_modules/firebase-tools`) or in node_modules, and tests skip, saying so, when it is in neither.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { endProcess, startNode } from "./child.js";

export const FIREBASE_TOOLS_VAR = "CAIRN_FIREBASE_TOOLS";

const MAIN = join(dirname(fileURLToPath(import.meta.url)), "gcs-emulator-main.js");
const LISTENING = /^listening (http:\/\/127\.0\.0\.1:\d+)$/m;
const START_TIMEOUT_MS = 30_000;
/** The emulator's module this harness runs; its presence tells a usable firebase-tools directory. */
const EMULATOR_MODULE = join("lib", "emulator", "storage", "server.js");

export interface GcsEmulator {
  /** `http://127.0.0.1:PORT`: a GcsStore's apiEndpoint. */
  readonly endpoint: string;
  /** Stops the emulator (its objects are gone) and removes its temp dir. */
  stop(): Promise<void>;
}

/** The firebase-tools directory to run the emulator from, or why there is none (a reason to skip). */
export function findFirebaseTools(): { dir: string } | { missing: string } {
  const fromEnv = process.env[FIREBASE_TOOLS_VAR];
  if (fromEnv !== undefined && fromEnv !== "") {
    return existsSync(join(fromEnv, EMULATOR_MODULE))
      ? { dir: fromEnv }
      : { missing: `${FIREBASE_TOOLS_VAR}=${fromEnv} has no ${EMULATOR_MODULE}` };
  }
  try {
    const dir = dirname(createRequire(import.meta.url).resolve("firebase-tools/package.json"));
    if (existsSync(join(dir, EMULATOR_MODULE))) return { dir };
  } catch {
    // not installed: said below
  }
  return {
    missing: `firebase-tools is not installed; set ${FIREBASE_TOOLS_VAR} to its directory (npm install firebase-tools@15 in a scratch dir) to run these tests`,
  };
}

/** Starts the emulator from `firebaseTools`; rejects, with its output, unless it listens within 30 s. */
export async function startGcsEmulator(firebaseTools: string): Promise<GcsEmulator> {
  // The emulator keeps uploads under os.tmpdir()/firebase/storage: a dir of its own keeps instances apart.
  const dir = mkdtempSync(join(tmpdir(), "cairn-gcs-emulator-"));
  const env = { ...process.env, TMPDIR: dir, HOME: dir };
  let started: Awaited<ReturnType<typeof startNode>>;
  try {
    started = await startNode([MAIN, firebaseTools], { env }, LISTENING, START_TIMEOUT_MS);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`gcs emulator: ${e instanceof Error ? e.message : String(e)}`);
  }
  const { proc, match } = started;
  return {
    endpoint: match[1] ?? "",
    async stop() {
      await endProcess(proc, "SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
