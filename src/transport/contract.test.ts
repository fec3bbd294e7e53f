import { SeededRng } from "../util/rng.js";
import { runTransportContract } from "./contract.js";
import { MemoryNetwork } from "./memory-transport.js";
import { TcpTransport } from "./tcp-transport.js";
import { identity, mutualTls, quietLog } from "./test-util.js";

runTransportContract("MemoryTransport", async (n) => {
  const net = new MemoryNetwork();
  const transports = Array.from({ length: n }, (_, i) => net.join(i + 1));
  return { transports, close: async () => void (await Promise.all(transports.map((t) => t.close()))) };
});

runTransportContract("TcpTransport", async (n) => {
  const transports = Array.from(
    { length: n },
    (_, i) => new TcpTransport({ identity: identity(i + 1), rng: new SeededRng(i + 1), log: quietLog() }),
  );
  const addrs = await Promise.all(transports.map(async (t) => (await t.listen("127.0.0.1", 0)).port));
  for (const t of transports) {
    addrs.forEach((port, j) => {
      if (j + 1 !== t.localId) t.setPeer(j + 1, `127.0.0.1:${port}`);
    });
  }
  return { transports, close: async () => void (await Promise.all(transports.map((t) => t.close()))) };
});

/** Mutual TLS with verify_server_hostname: every server's certificate from one CA, named server.dc1.cairn. */
runTransportContract("TcpTransport over mutual TLS", async (n) => {
  const tls = await mutualTls("cairn");
  const transports = Array.from(
    { length: n },
    (_, i) =>
      new TcpTransport({ identity: identity(i + 1), rng: new SeededRng(i + 1), log: quietLog(), tls }),
  );
  const addrs = await Promise.all(transports.map(async (t) => (await t.listen("127.0.0.1", 0)).port));
  for (const t of transports) {
    addrs.forEach((port, j) => {
      if (j + 1 !== t.localId) t.setPeer(j + 1, `127.0.0.1:${port}`);
    });
  }
  return { transports, close: async () => void (await Promise.all(transports.map((t) => t.close()))) };
});
