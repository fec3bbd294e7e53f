/**
 * The ACL endpoints over a host (ServerService or MemoryServer): Consul's endpoint checks before Raft
 * (agent/consul/acl_endpoint.go: UUIDs, reserved ids, names, expiry, links by name), the ids and secrets chosen
 * here (random UUIDs; the FSM draws none), the commit through the leader, and the read back of what was written.
 * The state-store checks (duplicate names, unknown policies, bootstrap once) run in fsm/acl.ts on every replica.
 *
 * Permission checks (acl:read / acl:write) are not here: the HTTP layer asks the authorizer before calling.
 * Policy `Rules` are stored as text, checked by the policy engine (acl/) before they are written.
 *
 * Hash: Consul's is a blake2b-256 over the token's or policy's fields; cairn's is a SHA-256 over its own canonical
 * list of the same fields. Clients only compare hashes for change, and restored records keep Consul's.
 */
import { createHash, randomUUID } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import {
  AclDisabledError,
  AclNotFoundError,
  ANONYMOUS_TOKEN_DESCRIPTION,
  ANONYMOUS_TOKEN_SECRET_ID,
  BOOTSTRAP_TOKEN_DESCRIPTION,
  GLOBAL_MANAGEMENT_POLICY_DESCRIPTION,
  GLOBAL_MANAGEMENT_POLICY_NAME,
  GLOBAL_MANAGEMENT_POLICY_RULES,
  parseRules,
  RESERVED_ID_PREFIX,
} from "../acl/index.js";
import {
  ACL_BOOTSTRAP_ROW,
  AclError,
  type AclPolicySpec,
  type AclTokenSpec,
  ANONYMOUS_TOKEN_ID,
  bootstrapRefusal,
  builtinPolicyRefusal,
  formatGoDuration,
  GLOBAL_MANAGEMENT_POLICY_ID,
  type KvCommand,
  type KvStore,
} from "../fsm/index.js";
import { type AclLink, type AclPolicyRecord, type AclTokenRecord, goTimeMs } from "../snapshot/index.js";
import { AclResolver } from "./acl-resolve.js";
import type {
  AclApi,
  AclIdentity,
  AclLinkRequest,
  AclPolicyRequest,
  AclSettings,
  AclTokenRequest,
} from "./acl-types.js";
import type { CatalogHost } from "./catalog.js";
import type { Queried, QueryOptions } from "./types.js";

/** The store, reads and writes of the catalog's host (catalog.ts), with the ACL settings and a clock. */
export interface AclHost extends Pick<CatalogHost, "datacenter" | "kv" | "query" | "propose"> {
  readonly settings: AclSettings;
  /** Wall clock (ms) for expiry checks and TTLs; the leader stamps CreateTime itself. */
  now(): number;
}

/** structs.ACLReservedIDPrefix: ids starting with it are Consul's built-ins. */
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const POLICY_NAME = /^[A-Za-z0-9\-_]{1,128}$/;
/** Consul's acl_token_min_expiration_ttl and acl_token_max_expiration_ttl defaults. */
const EXPIRY_MIN_MS = 60_000;
const EXPIRY_MAX_MS = 24 * 3600_000;
/** A fresh uuid clashing with an existing id is redrawn (Consul's GenerateUUID with a check); bounded. */
const UUID_ATTEMPTS = 10;

const invalid = (message: string): AclError => new AclError("acl_invalid", message);
/** acl.ErrNotFound, the same error the enforcer throws for an unknown secret. */
const NOT_FOUND = (): AclNotFoundError => new AclNotFoundError();
/** acl.ACLResourceNotExistError: what a read by id that finds nothing answers (404). */
const notExist = (kind: "token" | "policy"): AclError =>
  new AclError("acl_resource_not_found", `Requested ${kind} does not exist: ACL not found`);

function hashOf(fields: readonly unknown[]): string {
  return createHash("sha256").update(JSON.stringify(fields)).digest("hex");
}

export function tokenHash(t: Omit<AclTokenSpec, "Hash">): string {
  return hashOf([t.Description, t.Policies.map((l) => l.ID), t.Local, t.ExpirationTime]);
}

export function policyHash(p: Omit<AclPolicySpec, "Hash">): string {
  return hashOf([p.Name, p.Description, p.Rules, p.Datacenters]);
}

function isExpired(t: AclTokenRecord, now: number): boolean {
  return t.ExpirationTime !== null && goTimeMs(t.ExpirationTime) <= now;
}

const nsToDuration = (ms: number): string => formatGoDuration(BigInt(Math.round(ms)) * 1_000_000n);

export class AclEndpoints implements AclApi {
  private readonly resolver: AclResolver;

  constructor(private readonly host: AclHost) {
    this.resolver = new AclResolver(() => this.host.settings, this, host.datacenter);
  }

  resolve(secret: string | undefined): AclIdentity {
    return this.resolver.resolve(secret);
  }

  private get kv(): KvStore {
    return this.host.kv;
  }

  aclSettings(): AclSettings {
    return this.host.settings;
  }

  private enabled(): void {
    if (!this.host.settings.enabled) throw new AclDisabledError();
  }

  private async commit(cmd: KvCommand): Promise<void> {
    const r = await this.host.propose(cmd);
    if (r instanceof Error) throw r;
  }

  /** A uuid used by no token as accessor or secret (and no policy when `policies`). */
  private freshId(policies = false): string {
    for (let i = 0; i < UUID_ATTEMPTS; i++) {
      const id = randomUUID();
      const used =
        id.startsWith(RESERVED_ID_PREFIX) ||
        this.kv.acl.tokens.has(id) ||
        this.kv.acl.secrets.has(id) ||
        (policies && this.kv.acl.policies.has(id));
      if (!used) return id;
    }
    throw invalid("failed to generate a unique UUID");
  }

  // ---- reads ----

  private async readList<T>(
    q: QueryOptions,
    list: () => { index: number; value: T[] },
  ): Promise<Queried<T[]>> {
    this.enabled();
    const r = await this.host.query(q, { watch: (w) => this.kv.watchAcl(w), run: list });
    return { meta: r.meta, value: r.value.value };
  }

  aclTokenRead(accessor: string, q: QueryOptions): Promise<Queried<AclTokenRecord>> {
    return this.readTokenIndexed(
      q,
      () => this.kv.aclTokenByAccessor(accessor),
      () => notExist("token"),
    );
  }

  /** An unknown secret is acl.ErrNotFound, as resolving the request's token answers it. */
  aclTokenSelf(secret: string, q: QueryOptions): Promise<Queried<AclTokenRecord>> {
    return this.readTokenIndexed(q, () => this.kv.aclTokenBySecret(secret), NOT_FOUND);
  }

  private async readTokenIndexed(
    q: QueryOptions,
    find: () => { index: number; token: AclTokenRecord | null },
    missing: () => Error,
  ): Promise<Queried<AclTokenRecord>> {
    this.enabled();
    const now = this.host.now();
    const r = await this.host.query(q, {
      watch: (w) => this.kv.watchAcl(w),
      run: () => {
        const f = find();
        return { index: f.index, token: f.token !== null && isExpired(f.token, now) ? null : f.token };
      },
    });
    if (r.value.token === null) throw missing();
    return { meta: r.meta, value: r.value.token };
  }

  aclTokenList(policy: string, q: QueryOptions): Promise<Queried<AclTokenRecord[]>> {
    const now = this.host.now();
    return this.readList(q, () => {
      const l = this.kv.aclTokenList(policy);
      return { index: l.index, value: l.tokens.filter((t) => !isExpired(t, now)) };
    });
  }

  async aclPolicyRead(id: string, q: QueryOptions): Promise<Queried<AclPolicyRecord>> {
    return this.readPolicy(q, () => this.kv.aclPolicyById(id));
  }

  async aclPolicyReadByName(name: string, q: QueryOptions): Promise<Queried<AclPolicyRecord>> {
    return this.readPolicy(q, () => this.kv.aclPolicyByName(name));
  }

  private async readPolicy(
    q: QueryOptions,
    find: () => { index: number; policy: AclPolicyRecord | null },
  ): Promise<Queried<AclPolicyRecord>> {
    this.enabled();
    const r = await this.host.query(q, { watch: (w) => this.kv.watchAcl(w), run: find });
    if (r.value.policy === null) throw notExist("policy");
    return { meta: r.meta, value: r.value.policy };
  }

  aclPolicyList(q: QueryOptions): Promise<Queried<AclPolicyRecord[]>> {
    return this.readList(q, () => {
      const l = this.kv.aclPolicyList();
      return { index: l.index, value: l.policies };
    });
  }

  aclTokenBySecret(secret: string): AclTokenRecord | null {
    const t = this.kv.aclTokenBySecret(secret).token;
    return t === null || isExpired(t, this.host.now()) ? null : t;
  }

  aclPolicies(ids: readonly string[]): AclPolicyRecord[] {
    return ids.flatMap((id) => {
      const p = this.kv.aclPolicyById(id).policy;
      return p === null ? [] : [p];
    });
  }

  aclEpoch(): number {
    return this.kv.aclEpoch;
  }

  /** What was just committed, read where the commit has been applied (a consistent read waits for it). */
  private async readBack<T>(find: () => T | null): Promise<T> {
    const q: QueryOptions = { consistency: "consistent", minIndex: 0, waitMs: 0 };
    const r = await this.host.query(q, {
      watch: (w) => this.kv.watchAcl(w),
      run: () => ({ index: 0, value: find() }),
    });
    if (r.value.value === null) throw invalid("Failed to retrieve the token after insertion");
    return r.value.value;
  }

  private tokenBack(accessor: string): Promise<AclTokenRecord> {
    return this.readBack(() => this.kv.aclTokenByAccessor(accessor).token);
  }

  // ---- bootstrap ----

  /** Consul's ACL.BootstrapTokens, with the reset file of `acl-bootstrap-reset`. */
  async aclBootstrap(): Promise<AclTokenRecord> {
    this.enabled();
    const bootstrapped = this.kv.index.get(ACL_BOOTSTRAP_ROW)?.value ?? null;
    // The reset file is read only once bootstrap has happened, as Consul's endpoint does.
    const resetIndex = bootstrapped === null ? 0 : await this.resetFileIndex();
    const refused = bootstrapRefusal(bootstrapped, resetIndex);
    if (refused !== null) throw refused;
    // As Consul: the file goes once read, so a later restore cannot reopen bootstrap with a stale file.
    await this.removeResetFile();
    const accessor = this.freshId();
    const token = this.spec({
      AccessorID: accessor,
      SecretID: this.freshId(),
      Description: BOOTSTRAP_TOKEN_DESCRIPTION,
      Policies: [{ ID: GLOBAL_MANAGEMENT_POLICY_ID, Name: "" }],
      Local: false,
      ExpirationTime: null,
    });
    await this.commit({ op: "acl-bootstrap", time: 0, resetIndex, token });
    return this.tokenBack(accessor);
  }

  private async resetFileIndex(): Promise<number> {
    const file = this.host.settings.bootstrapResetFile;
    if (file === undefined) return 0;
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch {
      return 0; // no file (or unreadable): no reset, as Consul
    }
    // Go's Sscanf("%d"): leading space, then digits.
    const m = /^\s*(\d+)/.exec(text);
    return m === null ? 0 : Number(m[1]);
  }

  private async removeResetFile(): Promise<void> {
    const file = this.host.settings.bootstrapResetFile;
    if (file !== undefined) await rm(file, { force: true });
  }

  // ---- tokens ----

  private spec(t: Omit<AclTokenSpec, "Hash">): AclTokenSpec {
    return { ...t, Hash: tokenHash(t) };
  }

  /** Links by ID or by Name, checked and deduplicated by ID (Consul's tokenSetInternal). */
  private links(req: readonly AclLinkRequest[] | null | undefined): AclLink[] {
    const out: AclLink[] = [];
    for (const l of req ?? []) {
      let id = l.ID ?? "";
      if (id === "") {
        const p = this.kv.aclPolicyByName(l.Name ?? "").policy;
        if (p === null) throw invalid(`No such ACL policy with name ${JSON.stringify(l.Name ?? "")}`);
        id = p.ID;
      } else if (this.kv.aclPolicyById(id).policy === null) {
        throw invalid(`No such ACL policy with ID ${JSON.stringify(id)}`);
      }
      if (!out.some((x) => x.ID === id)) out.push({ ID: id, Name: "" });
    }
    return out;
  }

  private checkNewId(id: string, what: "AccessorID" | "SecretID"): void {
    if (!UUID.test(id)) throw invalid(`Invalid Token: ${what} is not a valid UUID`);
    if (this.kv.acl.tokens.has(id) || this.kv.acl.secrets.has(id))
      throw invalid(`Invalid Token: ${what} is already in use`);
    if (id.startsWith(RESERVED_ID_PREFIX))
      throw invalid(
        `Invalid Token: UUIDs with the prefix ${JSON.stringify(RESERVED_ID_PREFIX)} are reserved`,
      );
  }

  /** Consul's expiry rules for a new token: a TTL or a time, within [1m, 24h] of now. */
  private expiry(req: AclTokenRequest, now: number): number | null {
    const ttl = req.ExpirationTTL ?? 0;
    let at = req.ExpirationTime ?? null;
    if (ttl !== 0) {
      if (ttl < 0) throw invalid(`Token Expiration TTL '${formatGoDuration(BigInt(ttl))}' should be > 0`);
      if (at !== null) throw invalid("Token Expiration TTL and Expiration Time cannot both be set");
      at = now + Math.floor(ttl / 1_000_000);
    }
    if (at === null) return null;
    if (at < now) throw invalid("ExpirationTime cannot be before CreateTime");
    const inMs = at - now;
    if (inMs > EXPIRY_MAX_MS)
      throw invalid(
        `ExpirationTime cannot be more than ${nsToDuration(EXPIRY_MAX_MS)} in the future (was ${nsToDuration(inMs)})`,
      );
    if (inMs < EXPIRY_MIN_MS)
      throw invalid(
        `ExpirationTime cannot be less than ${nsToDuration(EXPIRY_MIN_MS)} in the future (was ${nsToDuration(inMs)})`,
      );
    return at;
  }

  async aclTokenCreate(req: AclTokenRequest): Promise<AclTokenRecord> {
    this.enabled();
    const accessor = req.AccessorID ?? "";
    const secret = req.SecretID ?? "";
    if (accessor !== "") this.checkNewId(accessor, "AccessorID");
    if (secret !== "") this.checkNewId(secret, "SecretID");
    const token = this.spec({
      AccessorID: accessor === "" ? this.freshId() : accessor,
      SecretID: secret === "" ? this.freshId() : secret,
      Description: req.Description ?? "",
      Policies: this.links(req.Policies),
      Local: req.Local ?? false,
      ExpirationTime: this.expiry(req, this.host.now()),
    });
    await this.commit({ op: "acl-token-set", time: 0, token });
    return this.tokenBack(token.AccessorID);
  }

  async aclTokenUpdate(accessor: string, req: AclTokenRequest): Promise<AclTokenRecord> {
    this.enabled();
    if (req.AccessorID !== undefined && req.AccessorID !== "" && req.AccessorID !== accessor)
      throw new AclError("acl_bad_request", "Token Accessor ID in URL and payload do not match");
    if (!UUID.test(accessor)) throw invalid("AccessorID is not a valid UUID");
    const existing = this.kv.aclTokenByAccessor(accessor).token;
    if (existing === null || isExpired(existing, this.host.now()))
      throw invalid(`Cannot find token ${JSON.stringify(accessor)}`);
    const secret = req.SecretID ?? "";
    if (secret !== "" && secret !== existing.SecretID)
      throw invalid("Changing a tokens SecretID is not permitted");
    if ((req.Local ?? false) !== existing.Local) throw invalid(`cannot toggle local mode of ${accessor}`);
    const existingExpiry = existing.ExpirationTime === null ? null : goTimeMs(existing.ExpirationTime);
    const at = req.ExpirationTime ?? null;
    if ((req.ExpirationTTL ?? 0) !== 0 || (at !== null && at !== existingExpiry))
      throw invalid(`Cannot change expiration time of ${accessor}`);
    const token = this.spec({
      AccessorID: accessor,
      SecretID: existing.SecretID,
      Description: req.Description ?? "",
      Policies: this.links(req.Policies),
      Local: existing.Local,
      ExpirationTime: existingExpiry,
    });
    await this.commit({ op: "acl-token-set", time: 0, token });
    return this.tokenBack(accessor);
  }

  async aclTokenClone(accessor: string, description: string): Promise<AclTokenRecord> {
    this.enabled();
    const existing = this.kv.aclTokenByAccessor(accessor).token;
    if (existing === null || isExpired(existing, this.host.now())) throw NOT_FOUND();
    if (existing.AuthMethod !== "") throw invalid("Cannot clone a token created from an auth method");
    const token = this.spec({
      AccessorID: this.freshId(),
      SecretID: this.freshId(),
      Description: description !== "" ? description : existing.Description,
      Policies: (existing.Policies ?? []).map((l) => ({ ID: l.ID, Name: "" })),
      Local: existing.Local,
      ExpirationTime: existing.ExpirationTime === null ? null : goTimeMs(existing.ExpirationTime),
    });
    await this.commit({ op: "acl-token-set", time: 0, token });
    return this.tokenBack(token.AccessorID);
  }

  async aclTokenDelete(accessor: string, requestSecret: string): Promise<void> {
    this.enabled();
    if (!UUID.test(accessor)) throw invalid("Accessor ID is missing or an invalid UUID");
    if (accessor === ANONYMOUS_TOKEN_ID)
      throw invalid("Delete operation not permitted on the anonymous token");
    const existing = this.kv.aclTokenByAccessor(accessor).token;
    if (existing === null) return;
    if (existing.SecretID === requestSecret)
      throw invalid("Deletion of the request's authorization token is not permitted");
    await this.commit({ op: "acl-token-delete", accessor });
  }

  // ---- policies ----

  async aclPolicyCreate(req: AclPolicyRequest): Promise<AclPolicyRecord> {
    if (req.ID !== undefined && req.ID !== "")
      throw new AclError("acl_bad_request", "Cannot specify the ID when creating a new policy");
    return this.policyWrite("", req);
  }

  async aclPolicyUpdate(id: string, req: AclPolicyRequest): Promise<AclPolicyRecord> {
    if (req.ID !== undefined && req.ID !== "" && req.ID !== id)
      throw new AclError("acl_bad_request", "Policy ID in URL and payload do not match");
    return this.policyWrite(id, req);
  }

  /** Consul's ACL.PolicySet: create when `id` is "", else update. */
  private async policyWrite(id: string, req: AclPolicyRequest): Promise<AclPolicyRecord> {
    this.enabled();
    const name = req.Name ?? "";
    if (name === "") throw invalid("Invalid Policy: no Name is set");
    if (!POLICY_NAME.test(name))
      throw invalid("Invalid Policy: invalid Name. Only alphanumeric characters, '-' and '_' are allowed");
    const nameMatch = this.kv.aclPolicyByName(name).policy;
    let policyId = id;
    if (id === "") {
      policyId = this.freshId(true);
      if (nameMatch !== null)
        throw invalid(`Invalid Policy: A Policy with Name ${JSON.stringify(name)} already exists`);
    } else {
      if (!UUID.test(id)) throw invalid("Policy ID invalid UUID");
      const idMatch = this.kv.aclPolicyById(id).policy;
      if (idMatch === null) throw invalid(`cannot find policy ${id}`);
      if (idMatch.Name !== name && nameMatch !== null)
        throw invalid(`Invalid Policy: A policy with name ${JSON.stringify(name)} already exists`);
      const builtin = builtinPolicyRefusal({ ...req, ID: id }, idMatch.Rules);
      if (builtin !== null) throw builtin;
    }
    // Consul's PolicySet compiles the rules before anything is written: a policy that does not parse is refused.
    parseRules(req.Rules ?? "");
    const fields = {
      ID: policyId,
      Name: name,
      Description: req.Description ?? "",
      Rules: req.Rules ?? "",
      Datacenters: req.Datacenters === undefined || req.Datacenters === null ? null : [...req.Datacenters],
    };
    await this.commit({ op: "acl-policy-set", policy: { ...fields, Hash: policyHash(fields) } });
    return this.readBack(() => this.kv.aclPolicyById(policyId).policy);
  }

  async aclPolicyDelete(id: string): Promise<void> {
    this.enabled();
    const existing = this.kv.aclPolicyById(id).policy;
    if (existing === null) return;
    const builtin = builtinPolicyRefusal({ ID: id }, null);
    if (builtin !== null) throw builtin;
    await this.commit({ op: "acl-policy-delete", id });
  }

  // ---- the leader's initialization ----

  /**
   * Consul's initializeACLs, run by a new leader when ACLs are enabled: the global-management policy, the
   * initial management token from the settings (through bootstrap while bootstrap is open, as Consul), and the
   * anonymous token, each only when missing.
   */
  async initialize(): Promise<void> {
    if (!this.host.settings.enabled) return;
    if (this.kv.aclPolicyById(GLOBAL_MANAGEMENT_POLICY_ID).policy === null) {
      const fields = {
        ID: GLOBAL_MANAGEMENT_POLICY_ID,
        Name: GLOBAL_MANAGEMENT_POLICY_NAME,
        Description: GLOBAL_MANAGEMENT_POLICY_DESCRIPTION,
        Rules: GLOBAL_MANAGEMENT_POLICY_RULES,
        Datacenters: null,
      };
      await this.commit({ op: "acl-policy-set", policy: { ...fields, Hash: policyHash(fields) } });
    }
    const initial = this.host.settings.tokens.initialManagement;
    if (initial !== undefined && initial !== "" && this.kv.aclTokenBySecret(initial).token === null) {
      const token = this.spec({
        AccessorID: this.freshId(),
        SecretID: initial,
        Description: "Initial Management Token",
        Policies: [{ ID: GLOBAL_MANAGEMENT_POLICY_ID, Name: "" }],
        Local: false,
        ExpirationTime: null,
      });
      await this.commit(
        this.kv.index.has(ACL_BOOTSTRAP_ROW)
          ? { op: "acl-token-set", time: 0, token }
          : { op: "acl-bootstrap", time: 0, resetIndex: 0, token },
      );
    }
    if (this.kv.aclTokenByAccessor(ANONYMOUS_TOKEN_ID).token === null) {
      const token = this.spec({
        AccessorID: ANONYMOUS_TOKEN_ID,
        SecretID: ANONYMOUS_TOKEN_SECRET_ID,
        Description: ANONYMOUS_TOKEN_DESCRIPTION,
        Policies: [],
        Local: false,
        ExpirationTime: null,
      });
      await this.commit({ op: "acl-token-set", time: 0, token });
    }
  }
}
