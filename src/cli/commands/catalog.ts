/**
 * `catalog datacenters|nodes|services` as Consul's command/catalog/list/* (consul-compat.md §8.8): columnized
 * nodes (`-detailed` adds full IDs, tagged addresses and meta), sorted service names (`-tags` adds their
 * tags through a tabwriter with padding 6), one datacenter per line. Empty results say so on stderr, exit 0.
 */
import type { CatalogNode, CatalogQuery, ConsulClient } from "../../client/index.js";
import { httpClientFlags, httpServerFlags } from "../../client/index.js";
import { type FlagDefs, type FlagValues, flag } from "../../util/flags.js";
import { columnize, tabwriteLabels } from "../columnize.js";
import {
  type Command,
  type CommandIO,
  clientFrom,
  err,
  errorText,
  out,
  parseOrExit,
  usage,
} from "../command.js";
import { withClient } from "./kv.js";

/** Consul's mapToKV: sorted `k=v`, joined by `sep`. */
function mapToKV(m: Readonly<Record<string, string>>, sep: string): string {
  return Object.keys(m)
    .sort()
    .map((k) => `${k}=${m[k]}`)
    .join(sep);
}

/** The `-node-meta key=value` flags as the API's `key:value`. */
function nodeMeta(values: readonly string[]): string[] {
  return values.map((kv) => {
    const at = kv.indexOf("=");
    return at === -1 ? kv : `${kv.slice(0, at)}:${kv.slice(at + 1)}`;
  });
}

export function formatNodes(nodes: readonly CatalogNode[], detailed: boolean): string {
  if (detailed) {
    const rows = [["Node", "ID", "Address", "DC", "TaggedAddresses", "Meta"]];
    for (const n of nodes) {
      rows.push([
        n.node,
        n.id,
        n.address,
        n.datacenter,
        mapToKV(n.taggedAddresses, ", "),
        mapToKV(n.meta, ", "),
      ]);
    }
    return columnize(rows);
  }
  const rows = [["Node", "ID", "Address", "DC"]];
  for (const n of nodes) rows.push([n.node, n.id.split("-")[0] ?? "", n.address, n.datacenter]);
  return columnize(rows);
}

/** Sorted names; with tags, `name<pad>tag1,tag2` through Go's tabwriter (padding 6). */
export function formatServices(services: Readonly<Record<string, readonly string[]>>, tags: boolean): string {
  const names = Object.keys(services).sort();
  if (!tags) return names.join("\n");
  return tabwriteLabels(
    names.map((n) => [n, [...(services[n] ?? [])].sort().join(",")] as const),
    6,
  );
}

function noArgs(args: readonly string[], io: CommandIO): boolean {
  if (args.length === 0) return true;
  err(io, `Too many arguments (expected 0, got ${args.length})`);
  return false;
}

/**
 * A catalog listing: flags, no arguments, a client, then `list`; a failed call prints Consul's
 * `Error listing <what>: <err>` and exits 1.
 */
function listing<D extends FlagDefs & typeof httpClientFlags>(
  flags: D,
  help: string,
  what: string,
  list: (c: ConsulClient, v: FlagValues<D>, io: CommandIO) => Promise<number>,
): Command {
  return {
    help,
    async run(argv, io) {
      const parsed = parseOrExit(flags, argv, io, help);
      if (typeof parsed === "number") return parsed;
      if (!noArgs(parsed.args, io)) return 1;
      return withClient(
        io,
        () => clientFrom(parsed, io),
        "Error connecting to Consul agent",
        async (c) => {
          try {
            return await list(c, parsed.values, io);
          } catch (e) {
            err(io, `Error listing ${what}: ${errorText(e)}`);
            return 1;
          }
        },
      );
    },
  };
}

const dcFlags = { ...httpClientFlags };
const dcHelp = usage(
  `Usage: cairn catalog datacenters [options]

  Retrieves the list of all known datacenters. This datacenters are sorted in
  ascending order based on the estimated median round trip time from the servers
  in this datacenter to the servers in other datacenters.`,
  dcFlags,
);

export const catalogDatacenters = listing(dcFlags, dcHelp, "datacenters", async (c, _v, io) => {
  const dcs = await c.catalogDatacenters();
  if (dcs.length === 0) {
    err(io, "No datacenters found");
    return 1;
  }
  out(io, dcs.join("\n"));
  return 0;
});

// Consul's catalog nodes and services take the server flags too (-datacenter, -stale); datacenters does not.
const nodesFlags = {
  ...httpClientFlags,
  ...httpServerFlags,
  detailed: flag.bool(
    false,
    "Output detailed information about the nodes including their addresses and metadata.",
  ),
  near: flag.string(
    "",
    "Node name to sort the node list in ascending order based on estimated round-trip time.",
  ),
  "node-meta": flag.list(
    "Metadata to filter nodes with the given `key=value` pairs. This flag may be specified multiple times.",
  ),
  service: flag.string(
    "",
    "Service `id or name` to filter nodes. Only nodes which are providing the given service will be returned.",
  ),
  filter: flag.string("", "Filter to use with the request"),
};
const nodesHelp = usage(
  `Usage: cairn catalog nodes [options]

  Retrieves the list nodes registered in a given datacenter. By default, the
  datacenter of the local agent is queried.`,
  nodesFlags,
);

/** The nodes of the query, or of the instances of `service` when one is given. */
async function listNodes(
  c: ConsulClient,
  service: string,
  q: CatalogQuery,
  stale: boolean,
): Promise<CatalogNode[]> {
  if (service === "") return c.catalogNodes(q, { stale });
  return (await c.catalogService(service, q, { stale })).map((s) => s.node);
}

export const catalogNodes = listing(nodesFlags, nodesHelp, "nodes", async (c, v, io) => {
  const q: CatalogQuery = { nodeMeta: nodeMeta(v["node-meta"]), near: v.near, filter: v.filter };
  const nodes = await listNodes(c, v.service, q, v.stale);
  if (nodes.length === 0) {
    err(io, "No nodes match the given query - try expanding your search.");
    return 0;
  }
  out(io, formatNodes(nodes, v.detailed));
  return 0;
});

const servicesFlags = {
  ...httpClientFlags,
  ...httpServerFlags,
  node: flag.string("", "Node `id or name` for which to list services."),
  "node-meta": flag.list(
    "Metadata to filter nodes with the given `key=value` pairs. If specified, only services running on nodes matching the given metadata will be returned. This flag may be specified multiple times.",
  ),
  tags: flag.bool(false, "Display each service's tags as a comma-separated list beside each service entry."),
};
const servicesHelp = usage(
  `Usage: cairn catalog services [options]

  Retrieves the list services registered in a given datacenter. By default, the
  datacenter of the local agent is queried.`,
  servicesFlags,
);

export const catalogServices = listing(servicesFlags, servicesHelp, "services", async (c, v, io) => {
  const services =
    v.node === ""
      ? await c.catalogServices({ nodeMeta: nodeMeta(v["node-meta"]) }, { stale: v.stale })
      : ((await c.catalogNode(v.node, { stale: v.stale }))?.services ?? {});
  if (Object.keys(services).length === 0) {
    err(io, "No services match the given query - try expanding your search.");
    return 0;
  }
  out(io, formatServices(services, v.tags));
  return 0;
});
