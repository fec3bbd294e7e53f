/** TCP checks (agent/checks/check.go CheckTCP): passing when a connection opens, with Consul's output texts. */
import { connect } from "node:net";
import type { ProbeResult } from "./checks-probe.js";
import { dialError, PROBE_TIMEOUT_MS_DEFAULT } from "./checks-probe.js";

/** Splits "host:port" or "[v6]:port". Null when there is no port. */
function hostPort(addr: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (m === null) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: m[1] ?? m[2] ?? "", port };
}

/** Opens and closes one connection to `addr` within `timeoutMs` (0 = Consul's 10 s). */
export function probeTcp(addr: string, timeoutMs: number, signal?: AbortSignal): Promise<ProbeResult> {
  const hp = hostPort(addr);
  if (hp === null)
    return Promise.resolve({ status: "critical", output: `dial tcp ${addr}: missing port in address` });
  const limitMs = timeoutMs > 0 ? timeoutMs : PROBE_TIMEOUT_MS_DEFAULT;
  return new Promise((resolve) => {
    const sock = connect({ host: hp.host === "" ? "localhost" : hp.host, port: hp.port });
    const done = (r: ProbeResult) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    };
    const timer = setTimeout(
      () => done({ status: "critical", output: `dial tcp ${addr}: i/o timeout` }),
      limitMs,
    );
    timer.unref();
    sock.once("connect", () => done({ status: "passing", output: `TCP connect ${addr}: Success` }));
    sock.once("error", (e) => done({ status: "critical", output: dialError(addr, e) }));
    signal?.addEventListener(
      "abort",
      () => done({ status: "critical", output: `dial tcp ${addr}: operation was canceled` }),
      {
        once: true,
      },
    );
  });
}
