/**
 * Persistence of API-registered services and checks in the agent's data dir, in Consul's layout
 * (consul-compat.md §8.6), so that an agent restarted on the same data dir gets them back:
 *   services/<md5 hex of service ID>      {"Token","Service":<Service>,"Source"}
 *   checks/<md5 hex of check ID>          {"Check":<HealthCheck>,"ChkType":<CheckType>,"Token","Source"}
 *   checks/state/<md5 hex of check ID>    {"CheckID","Output","Status","Expires"}  (TTL checks; Unix seconds)
 * `Token` is the ACL token of the request that registered the entry ("" for none): anti-entropy registers the
 * entry with it (anti-entropy.ts). The files therefore hold secrets and are written 0600, as Consul's.
 * Every file is written atomically (temp, fsync, rename, fsync dir); temp names (ending in "tmp", or our
 * ".<name>.tmp-…") are skipped on load; deregistration deletes the files.
 *
 * Writes are serialized in one queue, so that a delete never overtakes the write it follows.
 */
import { createHash } from "node:crypto";
import { readdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { mkdirDurable, writeFileAtomic } from "../storage/atomic-file.js";
import { errorText } from "../util/errors.js";
import { goQuote } from "../util/goquote.js";
import { CairnError } from "../util/index.js";
import {
  CHECK_STATUSES,
  type CheckDef,
  type CheckStatus,
  field,
  isObject,
  type JsonObject,
  NO_PROBE,
  parseProbe,
  parseServiceRegistration,
  type ServiceDef,
} from "./defs.js";
import { catalogServiceJson, type HealthCheck, healthCheckJson, probeJson } from "./json.js";

/** A persisted file that cannot be read back: the agent refuses to start rather than lose registrations. */
export class LocalPersistError extends CairnError {
  readonly code = "local_persist";
  override name = "LocalPersistError";
}

export interface PersistedCheckState {
  readonly CheckID: string;
  readonly Output: string;
  readonly Status: CheckStatus;
  /** Unix seconds after which the state is stale (update time + TTL). */
  readonly Expires: number;
}

export interface LoadedState {
  readonly services: readonly ServiceDef[];
  /** The persisted token of each service ID that has one. */
  readonly serviceTokens: ReadonlyMap<string, string>;
  readonly checks: readonly LoadedCheck[];
  readonly states: ReadonlyMap<string, PersistedCheckState>;
}

export interface LoadedCheck {
  readonly def: CheckDef;
  readonly status: CheckStatus;
  readonly output: string;
  /** The ACL token it was registered with ("" for none). */
  readonly token: string;
}

/** Consul's stringHash: the md5 hex of an ID, so any ID makes a safe file name. */
export function idHash(id: string): string {
  return createHash("md5").update(id, "utf8").digest("hex");
}

function isTemp(name: string): boolean {
  return name.endsWith("tmp") || name.startsWith(".");
}

const utf8 = new TextEncoder();

export class LocalPersist {
  private tail: Promise<void> = Promise.resolve();
  readonly servicesDir: string;
  readonly checksDir: string;
  readonly stateDir: string;

  constructor(dataDir: string) {
    this.servicesDir = join(dataDir, "services");
    this.checksDir = join(dataDir, "checks");
    this.stateDir = join(dataDir, "checks", "state");
  }

  /** Runs `op` after every write queued before it; the returned promise settles with `op`. */
  private enqueue(op: () => Promise<void>): Promise<void> {
    const run = this.tail.then(op);
    this.tail = run.catch(() => {});
    return run;
  }

  private write(dir: string, id: string, value: unknown): Promise<void> {
    return this.enqueue(async () => {
      await mkdirDurable(dir);
      await writeFileAtomic(join(dir, idHash(id)), utf8.encode(JSON.stringify(value)), { mode: 0o600 });
    });
  }

  private remove(dir: string, id: string): Promise<void> {
    return this.enqueue(() => unlink(join(dir, idHash(id))).catch(ignoreMissing));
  }

  saveService(s: ServiceDef, token: string): Promise<void> {
    return this.write(this.servicesDir, s.ID, {
      Token: token,
      Service: catalogServiceJson(s),
      Source: "local",
    });
  }

  deleteService(id: string): Promise<void> {
    return this.remove(this.servicesDir, id);
  }

  saveCheck(def: CheckDef, check: HealthCheck, token: string): Promise<void> {
    const chkType =
      def.probe.ttlMs > 0 || def.probe.http !== "" || def.probe.tcp !== "" ? probeJson(def.probe) : null;
    return this.write(this.checksDir, def.CheckID, {
      Check: healthCheckJson(check),
      ChkType: chkType,
      Token: token,
      Source: "local",
    });
  }

  /** Deletes a check's definition and its TTL state. */
  async deleteCheck(id: string): Promise<void> {
    await this.remove(this.checksDir, id);
    await this.deleteCheckState(id);
  }

  deleteCheckState(id: string): Promise<void> {
    return this.remove(this.stateDir, id);
  }

  saveCheckState(s: PersistedCheckState): Promise<void> {
    return this.write(this.stateDir, s.CheckID, s);
  }

  /** Every persisted service, check and TTL state. Throws LocalPersistError naming the file that is bad. */
  async load(): Promise<LoadedState> {
    const services: ServiceDef[] = [];
    const serviceTokens = new Map<string, string>();
    for (const [path, doc] of await readDocs(this.servicesDir)) {
      const svc = field(doc, "Service");
      if (!isObject(svc))
        throw new LocalPersistError(`read service file ${goQuote(path)}: no Service object`);
      const def = decode(
        path,
        () => parseServiceRegistration({ ...svc, Name: field(svc, "Service") }).service,
      );
      services.push(def);
      const token = decode(path, () => tokenOf(doc));
      if (token !== "") serviceTokens.set(def.ID, token);
    }
    const checks: LoadedCheck[] = [];
    for (const [path, doc] of await readDocs(this.checksDir)) checks.push(decode(path, () => checkOf(doc)));
    const states = new Map<string, PersistedCheckState>();
    for (const [path, doc] of await readDocs(this.stateDir)) {
      const s = decode(path, () => stateOf(doc));
      states.set(s.CheckID, s);
    }
    return { services, serviceTokens, checks, states };
  }
}

function ignoreMissing(e: unknown): void {
  if ((e as { code?: string }).code !== "ENOENT") throw e;
}

function decode<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new LocalPersistError(`read ${goQuote(path)}: ${errorText(e)}`);
  }
}

/** The JSON objects of a directory's files (not its subdirectories, not temp files); none if it is missing. */
async function readDocs(dir: string): Promise<[string, JsonObject][]> {
  let entries: import("node:fs").Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    ignoreMissing(e);
    return [];
  }
  const out: [string, JsonObject][] = [];
  for (const e of entries
    .filter((x) => x.isFile() && !isTemp(x.name))
    .sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, e.name);
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(path, "utf8"));
    } catch (err) {
      throw new LocalPersistError(`read ${goQuote(path)}: ${errorText(err)}`);
    }
    if (!isObject(parsed)) throw new LocalPersistError(`read ${goQuote(path)}: not a JSON object`);
    out.push([path, parsed]);
  }
  return out;
}

function statusOf(v: unknown): CheckStatus {
  if (typeof v === "string" && CHECK_STATUSES.includes(v as CheckStatus)) return v as CheckStatus;
  throw new Error(`bad status ${JSON.stringify(v)}`);
}

/** A file's `Token`: absent or null (files of older cairn versions and of Consul's) is none. */
function tokenOf(doc: JsonObject): string {
  const t = field(doc, "Token");
  if (t === undefined || t === null) return "";
  if (typeof t !== "string") throw new Error(`bad Token ${JSON.stringify(t)}`);
  return t;
}

function checkOf(doc: JsonObject): LoadedCheck {
  const c = field(doc, "Check");
  if (!isObject(c)) throw new Error("no Check object");
  const t = field(doc, "ChkType");
  const text = (k: string) => {
    const v = field(c, k);
    return typeof v === "string" ? v : "";
  };
  const probe = isObject(t) ? parseProbe(t) : NO_PROBE;
  const def: CheckDef = {
    CheckID: text("CheckID"),
    Name: text("Name"),
    Notes: text("Notes"),
    Status: "",
    ServiceID: text("ServiceID"),
    probe,
  };
  if (def.CheckID === "") throw new Error("no CheckID");
  return { def, status: statusOf(field(c, "Status")), output: text("Output"), token: tokenOf(doc) };
}

function stateOf(doc: JsonObject): PersistedCheckState {
  const id = field(doc, "CheckID");
  const out = field(doc, "Output");
  const exp = field(doc, "Expires");
  if (typeof id !== "string" || id === "") throw new Error("no CheckID");
  if (typeof exp !== "number") throw new Error("no Expires");
  return {
    CheckID: id,
    Output: typeof out === "string" ? out : "",
    Status: statusOf(field(doc, "Status")),
    Expires: exp,
  };
}
