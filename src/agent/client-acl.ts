/**
 * ACLs on a client agent (docs/membership.md): the client enforces its own /v1/agent/* endpoints, as Consul's
 * does, with tokens resolved by a server (`client.aclResolve`: the token's policies and identities, compiled here
 * exactly as a server compiles them, api/acl-resolve.ts `compileResolution`). Everything the client forwards is
 * enforced by the server that answers it.
 *
 * Resolutions are cached for `token_ttl` (Consul's 30 s default); a request waits for its token's resolution
 * (`prefetch`) before the router runs, since the handlers resolve synchronously. When no server answers, Consul's
 * `down_policy` decides: `extend-cache` and `async-cache` keep using what was resolved before (deny if nothing
 * was), `allow` allows everything, `deny` denies everything.
 */
import { AclNotFoundError, compileAuthorizer, MANAGE_ALL } from "../acl/index.js";
import { compileResolution, effectiveSecret } from "../api/acl-resolve.js";
import type { AclIdentity, AclSettings } from "../api/acl-types.js";
import type { ClientLink } from "../server/client-link.js";
import { FORWARD } from "../server/rpc-methods.js";
import { errorText } from "../util/errors.js";

/** Consul's acl.token_ttl default. */
export const TOKEN_TTL_MS = 30_000;
/** Bounds the cache: past this many distinct secrets it starts over. */
const CACHE_ENTRIES_MAX = 4096;
const RESOLVE_TIMEOUT_MS = 7000;

interface Cached {
  /** null: no token has this secret. */
  readonly identity: AclIdentity | null;
  /** When it was resolved by a server; 0 for a down_policy stand-in, which the next request resolves again. */
  readonly atMs: number;
}

const DISABLED: AclIdentity = { authorizer: MANAGE_ALL, accessorId: "", anonymous: false };

export class ClientAcl {
  private readonly cache = new Map<string, Cached>();

  constructor(
    private readonly settings: AclSettings,
    private readonly link: Pick<ClientLink, "call">,
    private readonly log: (msg: string) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Resolves the request's token through a server unless a fresh resolution is cached. Never rejects. */
  async prefetch(secret: string | undefined): Promise<void> {
    if (!this.settings.enabled) return;
    const effective = effectiveSecret(this.settings, secret);
    const had = this.cache.get(effective);
    if (had !== undefined && this.now() - had.atMs < TOKEN_TTL_MS) return;
    if (this.cache.size >= CACHE_ENTRIES_MAX) this.cache.clear();
    try {
      const { answer } = await this.link.call(
        FORWARD.aclResolve,
        { secret: effective },
        RESOLVE_TIMEOUT_MS,
        true,
      );
      const identity = answer.found ? compileResolution(answer, this.settings.defaultPolicy) : null;
      this.cache.set(effective, { identity, atMs: this.now() });
    } catch (e) {
      this.log(
        `acl: resolving a token through the servers failed, down_policy ${this.settings.downPolicy}: ${errorText(e)}`,
      );
      this.cache.set(effective, { identity: this.downIdentity(had), atMs: 0 });
    }
  }

  /** The request's identity, as prefetched; throws AclNotFoundError for a secret no token has. */
  resolve(secret: string | undefined): AclIdentity {
    if (!this.settings.enabled) return DISABLED;
    const cached = this.cache.get(effectiveSecret(this.settings, secret));
    // Not prefetched (a caller that did not ask first): nothing is known of it, so nothing is allowed.
    if (cached === undefined)
      return { authorizer: compileAuthorizer([], "deny"), accessorId: "", anonymous: true };
    if (cached.identity === null) throw new AclNotFoundError();
    return cached.identity;
  }

  aclSettings(): AclSettings {
    return this.settings;
  }

  private downIdentity(had: Cached | undefined): AclIdentity | null {
    const deny: AclIdentity = { authorizer: compileAuthorizer([], "deny"), accessorId: "", anonymous: false };
    switch (this.settings.downPolicy) {
      case "allow":
        return { authorizer: MANAGE_ALL, accessorId: "", anonymous: false };
      case "extend-cache":
      case "async-cache":
        return had === undefined ? deny : had.identity;
      default:
        return deny;
    }
  }
}
