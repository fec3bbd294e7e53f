/**
 * After the faults: every server's replica must converge to the leader's state. Each server's `?stale` view of
 * the torture's keys (every field of every entry: value, flags, session, lock, create and modify indexes) is
 * compared with the leader's `?consistent` one until all agree, within a bound. A replica that kept a write the
 * others lost, or applied an entry differently, never agrees.
 */
import { request } from "./workload.js";

const PREFIX = "torture/";

/** null when every server agrees with the leader within `ms`; otherwise what still differed at the end. */
export async function checkConvergence(endpoints: readonly string[], ms: number): Promise<string | null> {
  const end = Date.now() + ms;
  let last = "no read of the leader's state succeeded";
  while (Date.now() < end) {
    last = await differences(endpoints);
    if (last === "") return null;
    await new Promise((r) => setTimeout(r, 500));
  }
  return last;
}

async function differences(endpoints: readonly string[]): Promise<string> {
  let truth: string | null = null;
  for (const e of endpoints) {
    truth = await view(e, "consistent");
    if (truth !== null) break;
  }
  if (truth === null) return "no server answered a consistent read";
  const out: string[] = [];
  for (const e of endpoints) {
    const v = await view(e, "stale");
    if (v !== truth) out.push(`${e}: ${v === null ? "no answer" : "differs from the leader"}`);
  }
  return out.join("; ");
}

/** The sorted entries under the prefix as one string, or null when the read failed. */
async function view(endpoint: string, mode: "stale" | "consistent"): Promise<string | null> {
  const r = await request(`${endpoint}/v1/kv/${PREFIX}?recurse&${mode}`, { method: "GET" }, 10_000);
  if (r.kind !== "ok") return null;
  if (r.status === 404) return "[]";
  if (r.status !== 200) return null;
  const entries = JSON.parse(r.body) as { Key: string }[];
  entries.sort((a, b) => (a.Key < b.Key ? -1 : a.Key > b.Key ? 1 : 0));
  return JSON.stringify(entries);
}
