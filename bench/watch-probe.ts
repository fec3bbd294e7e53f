/**
 * Loaded into a cairn server by the watch benchmark (`node --expose-gc --import <this module> …/main.js agent`):
 * the server's own view of its memory and of its blocking queries, which no Consul endpoint exposes. It answers
 * on a unix socket, `$CAIRN_WATCH_PROBE/probe-<pid>.sock`:
 * - `GET /blocked`: how many blocking queries sleep on a watch now (api/blocking.ts; the same module instance
 *   as the server's, since both import it by the same URL);
 * - `GET /memory`: process.memoryUsage() after two full collections, and the same count;
 * - `GET /heapsnapshot/<url-encoded path>`: writes a heap snapshot there (after a collection) and answers its
 *   name: to see what a blocked query holds, diff two snapshots in Chrome's DevTools (Comparison view).
 * Bench-only: the agent never loads it by itself. Without the variable it does nothing.
 */
import { createServer } from "node:http";
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";
import { blockedQueries } from "../src/api/blocking.js";

const dir = process.env.CAIRN_WATCH_PROBE;
if (dir !== undefined && dir !== "") {
  const gc = (globalThis as { gc?: () => void }).gc;
  const server = createServer((req, res) => {
    let body: Record<string, number>;
    if (req.url === "/blocked") body = { blocked: blockedQueries() };
    else if (req.url === "/memory" && gc !== undefined) {
      // Two rounds: the first may only queue finalizers whose objects the second frees.
      gc();
      gc();
      body = { ...process.memoryUsage(), blocked: blockedQueries() };
    } else if (req.url?.startsWith("/heapsnapshot/") && gc !== undefined) {
      gc();
      res.writeHead(200).end(writeHeapSnapshot(decodeURIComponent(req.url.slice("/heapsnapshot/".length))));
      return;
    } else {
      res.writeHead(404).end(gc === undefined ? "start node with --expose-gc\n" : "no such probe\n");
      return;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  server.listen(join(dir, `probe-${process.pid}.sock`));
  // The probe must not keep a stopping server alive.
  server.unref();
}
