/**
 * The DNS interface's settings, with Consul's defaults (agent/config/default.go and the `dns_config` reference):
 * domain "consul.", TTLs 0, only_passing false, allow_stale true, udp_answer_limit 3, enable_truncate false,
 * enable_additional_node_meta_txt true.
 */
export interface DnsConfig {
  /** Lower-case, without the leading or trailing dot ("consul"). */
  readonly domain: string;
  /** Seconds, for node lookups (`dns_config.node_ttl`). */
  readonly nodeTtl: number;
  /**
   * Seconds per service (`dns_config.service_ttl`): an exact name, else the longest `prefix*` that matches, else
   * `*`, else 0.
   */
  readonly serviceTtl: Readonly<Record<string, number>>;
  /** Also drop instances with a warning check (by default only critical ones are dropped). */
  readonly onlyPassing: boolean;
  /** Answer from this server's own state (Consul's default), rather than through the leader. */
  readonly allowStale: boolean;
  /** Set the TC bit when a UDP answer had to be cut (Consul's default is false: cut silently). */
  readonly enableTruncate: boolean;
  /** Records at most in a UDP answer without EDNS0 (Consul caps it at 8). */
  readonly udpAnswerLimit: number;
  /** Node metadata as TXT records in the additional section (`enable_additional_node_meta_txt`). */
  readonly nodeMetaTxt: boolean;
}

export const DNS_DEFAULTS: DnsConfig = {
  domain: "consul",
  nodeTtl: 0,
  serviceTtl: {},
  onlyPassing: false,
  allowStale: true,
  enableTruncate: false,
  udpAnswerLimit: 3,
  nodeMetaTxt: true,
};

/** `-domain` as Consul takes it ("consul.", "Consul", ".example.") → "consul"; throws on an empty or bad name. */
export function normalizeDomain(raw: string): string {
  const d = raw.trim().toLowerCase().replace(/^\.+/, "").replace(/\.+$/, "");
  if (d === "" || !/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(d) || d.split(".").some((l) => l.length > 63)) {
    throw new Error(`domain cannot be ${JSON.stringify(raw)}: it must be a DNS name such as "consul."`);
  }
  return d;
}

/** The TTL, in seconds, of a service's records. */
export function serviceTtlOf(cfg: DnsConfig, service: string): number {
  const ttls = cfg.serviceTtl;
  const exact = ttls[service];
  if (exact !== undefined) return exact;
  let best: { len: number; ttl: number } | null = null;
  for (const [pattern, ttl] of Object.entries(ttls)) {
    if (!pattern.endsWith("*") || pattern === "*") continue;
    const prefix = pattern.slice(0, -1);
    if (service.startsWith(prefix) && (best === null || prefix.length > best.len)) {
      best = { len: prefix.length, ttl };
    }
  }
  return best?.ttl ?? ttls["*"] ?? 0;
}
