/** Helpers for the transport's tests (not exported from index.ts). */
import { generateCa, generateCert, type PemPair } from "../util/tls-generate.js";
import type { Log, LogLevel } from "./peer-link.js";
import { type TransportTls, transportTls } from "./tls.js";
import type { NodeIdentity } from "./transport.js";

export function identity(raftId: number, datacenter = "dc1"): NodeIdentity {
  const hex = raftId.toString(16).padStart(12, "0");
  return {
    nodeId: `00000000-0000-4000-8000-${hex}`,
    raftId,
    name: `server-${raftId}`,
    datacenter,
    version: "0.1.0",
  };
}

/** A log that records instead of printing, so expected connection errors do not clutter test output. */
export function quietLog(lines: string[] = []): Log {
  return (level: LogLevel, message: string) => {
    lines.push(`${level}: ${message}`);
  };
}

export function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (cond()) {
        resolve();
        return;
      }
      if (Date.now() - started > timeoutMs) {
        reject(new Error(`timed out waiting for ${what}`));
        return;
      }
      setTimeout(poll, 5);
    };
    poll();
  });
}

/** Mutual TLS options for servers of dc1 whose certificates (one CA) carry `server.dc1.<domain>`. */
export async function mutualTls(
  domain: string,
  ca?: PemPair,
  verify: { incoming: boolean; outgoing: boolean; serverNames: readonly string[] } = {
    incoming: true,
    outgoing: true,
    serverNames: ["server.dc1.cairn", "server.dc1.consul"],
  },
): Promise<TransportTls> {
  const authority = ca ?? (await generateCa({ days: 1 }));
  const cert = await generateCert({ kind: "server", datacenter: "dc1", domain, days: 1, ca: authority });
  return transportTls({
    ca: [authority.certPem],
    cert: cert.certPem,
    key: cert.keyPem,
    verifyIncoming: verify.incoming,
    verifyOutgoing: verify.outgoing,
    serverNames: verify.serverNames,
  });
}
