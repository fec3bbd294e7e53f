/**
 * The child process test/support/gcs-emulator.ts starts: firebase-tools' Cloud Storage emulator, serving its GCS
 * JSON API on 127.0.0.1 with a port the system picks. Usage: `node gcs-emulator-main.js <firebase-tools dir>`;
 * prints `listening http://127.0.0.1:PORT` once it accepts connections.
 *
 * It runs the emulator's own server (`lib/emulator/storage`: the same app `firebase emulators:start` serves)
 * without the CLI and without `StorageEmulator.start()`, because those need what a test may not have or do:
 * - the CLI fetches its message of the day and update notices from Google hosts, and asks for Java 21 or later;
 * - `start()` spawns the Storage Rules runtime, a Java jar downloaded from storage.googleapis.com on first use.
 * The rules govern only Firebase SDK requests (`/v0/...`); requests on the GCS JSON API, which
 * `@google-cloud/storage` makes, are served as an admin's and never consult them.
 */
import { once } from "node:events";
import type { Server } from "node:http";
import { createRequire } from "node:module";
import { join } from "node:path";

interface EmulatorArgs {
  projectId: string;
  host: string;
  port: number;
  auto_download: boolean;
  rules: { name: string; content: string };
}

/** What this file uses of firebase-tools' StorageEmulator (lib/emulator/storage/index.js). */
interface StorageEmulatorLike {
  args: EmulatorArgs;
  start(): Promise<void>;
  stop(): Promise<void>;
}

interface ExpressAppLike {
  listen(port: number, host: string): Server;
}

const root = process.argv[2];
if (root === undefined) {
  process.stderr.write("usage: gcs-emulator-main.js <firebase-tools dir>\n");
  process.exit(2);
}
const load = (path: string): unknown => createRequire(import.meta.url)(join(root, "lib", path));
const { StorageEmulator } = load("emulator/storage/index.js") as {
  StorageEmulator: new (args: EmulatorArgs) => StorageEmulatorLike;
};
const { createApp } = load("emulator/storage/server.js") as {
  createApp(projectId: string, emulator: StorageEmulatorLike): Promise<ExpressAppLike>;
};
const { EmulatorRegistry } = load("emulator/registry.js") as {
  EmulatorRegistry: { start(emulator: StorageEmulatorLike): Promise<void> };
};

class LoopbackStorageEmulator extends StorageEmulator {
  private server: Server | null = null;

  override async start(): Promise<void> {
    const app = await createApp(this.args.projectId, this);
    const server = app.listen(0, "127.0.0.1");
    await once(server, "listening");
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no TCP address");
    // The registry reads the port from here to build the upload URLs it returns.
    this.args.port = address.port;
    this.server = server;
  }

  override async stop(): Promise<void> {
    this.server?.close();
  }
}

const emulator = new LoopbackStorageEmulator({
  projectId: "demo-cairn",
  host: "127.0.0.1",
  port: 0,
  auto_download: false,
  rules: { name: "unused.rules", content: "" },
});
try {
  // Registered, because the emulator's handlers look their own address up in the registry.
  await EmulatorRegistry.start(emulator);
} catch (e) {
  process.stderr.write(`gcs emulator: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
}
process.stdout.write(`listening http://127.0.0.1:${emulator.args.port}\n`);
process.once("SIGTERM", () => {
  void emulator.stop().then(() => process.exit(0));
});
