import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

/** scripts/ports.mjs is plain JavaScript outside the build, so it is loaded from the source tree at run time. */
interface Ports {
  portProblem(host: string, port: number): Promise<string | null>;
  portMessage(host: string, port: number, code: string): string;
  checkPorts(hosts: readonly string[], ports: readonly number[]): Promise<string[]>;
}
const ROOT = join(fileURLToPath(import.meta.url), "..", "..", "..");
const ports = (await import(join(ROOT, "scripts", "ports.mjs"))) as Ports;

function listenAnywhere(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      if (addr === null || typeof addr === "string") throw new Error("no TCP address");
      resolve({ server, port: addr.port });
    });
  });
}

describe("npm start port check", () => {
  it("reports a busy port in words, and a freed one as free", async () => {
    const { server, port } = await listenAnywhere();
    try {
      assert.equal(await ports.portProblem("127.0.0.1", port), "EADDRINUSE");
      assert.deepEqual(await ports.checkPorts(["127.0.0.1"], [port]), [
        `port ${port} on 127.0.0.1 is busy: is another cairn or consul running?`,
      ]);
    } finally {
      await new Promise((r) => server.close(r));
    }
    assert.equal(await ports.portProblem("127.0.0.1", port), null);
  });
});
