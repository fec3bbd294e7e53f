/**
 * `members` as Consul's command/members: servers first, then by segment, partition and name; serf status names;
 * `-status` is an unanchored regular expression; exit 2 when no member matches.
 */
import { isIP } from "node:net";
import type { AgentMember } from "../../client/index.js";
import { httpClientFlags } from "../../client/index.js";
import { flag } from "../../util/flags.js";
import { columnize } from "../columnize.js";
import { type Command, clientFrom, err, errorText, out, parseOrExit, usage } from "../command.js";
import { withClient } from "./kv.js";

const SERF_STATUS = ["none", "alive", "leaving", "left", "failed"];
const ALL_SEGMENTS = "_all";

export function statusName(status: number): string {
  return SERF_STATUS[status] ?? `unknown(${status})`;
}

/** Go's net.TCPAddr.String: IPv6 in brackets; an unparsable IP prints as empty. */
function tcpAddr(ip: string, port: number): string {
  const kind = isIP(ip);
  return kind === 6 ? `[${ip}]:${port}` : kind === 4 ? `${ip}:${port}` : `:${port}`;
}

const isDefault = (p: string): boolean => p === "" || p === "default";

function compareMembers(a: AgentMember, b: AgentMember): number {
  const ra = a.tags.role === "consul";
  const rb = b.tags.role === "consul";
  if (ra !== rb) return ra ? -1 : 1;
  const pa = a.tags.ap ?? "";
  const pb = b.tags.ap ?? "";
  if (isDefault(pa) !== isDefault(pb)) return isDefault(pa) ? -1 : 1;
  for (const [x, y] of [
    [a.tags.segment ?? "", b.tags.segment ?? ""],
    [pa, pb],
    [a.name, b.name],
  ] as const) {
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Fills the partition and segment tags as Consul does before filtering and printing. */
function normalize(m: AgentMember, segment: string): void {
  if ((m.tags.ap ?? "") === "") m.tags.ap = "default";
  if (isDefault(m.tags.ap ?? "")) {
    if (segment === ALL_SEGMENTS && m.tags.role === "consul") m.tags.segment = "<all>";
    else if ((m.tags.segment ?? "") === "") m.tags.segment = "<default>";
  } else {
    m.tags.segment = "";
  }
}

export function formatMembers(members: readonly AgentMember[], detailed: boolean): string {
  if (detailed) {
    const rows = [["Node", "Address", "Status", "Tags"]];
    for (const m of members) {
      const tags = Object.keys(m.tags)
        .sort()
        .map((k) => `${k}=${m.tags[k]}`)
        .join(",");
      rows.push([m.name, tcpAddr(m.addr, m.port), statusName(m.status), tags]);
    }
    return columnize(rows);
  }
  const rows = [["Node", "Address", "Status", "Type", "Build", "Protocol", "DC", "Partition", "Segment"]];
  for (const m of members) {
    const addr = tcpAddr(m.addr, m.port);
    const role = m.tags.role === "node" ? "client" : m.tags.role === "consul" ? "server" : "";
    if (role === "") {
      rows.push([m.name, addr, statusName(m.status), "unknown", "", "", "", "", ""]);
      continue;
    }
    const build = m.tags.build ?? "";
    const shown = build === "" ? "< 0.3" : (build.split(":")[0] ?? "");
    rows.push([
      m.name,
      addr,
      statusName(m.status),
      role,
      shown,
      m.tags.vsn ?? "",
      m.tags.dc ?? "",
      m.tags.ap ?? "",
      m.tags.segment ?? "",
    ]);
  }
  return columnize(rows);
}

const membersFlags = {
  ...httpClientFlags,
  detailed: flag.bool(false, "Provides detailed information about nodes."),
  wan: flag.bool(
    false,
    "If the agent is in server mode, this can be used to return the other peers in the WAN pool.",
  ),
  status: flag.string(
    ".*",
    "If provided, output is filtered to only nodes matching the regular expression for status.",
  ),
  segment: flag.string(
    ALL_SEGMENTS,
    "(Enterprise-only) If provided, output is filtered to only nodes inthe given segment.",
  ),
  filter: flag.string("", "Filter to use with the request"),
};
const membersHelp = usage(
  `Usage: cairn members [options]

  Outputs the members of a running agent.`,
  membersFlags,
);

export const members: Command = {
  help: membersHelp,
  async run(argv, io) {
    const parsed = parseOrExit(membersFlags, argv, io, membersHelp);
    if (typeof parsed === "number") return parsed;
    const v = parsed.values;
    let statusRe: RegExp;
    try {
      statusRe = new RegExp(v.status, "u");
    } catch (e) {
      err(io, `Failed to compile status regexp: ${errorText(e)}`);
      return 1;
    }
    return withClient(
      io,
      () => clientFrom(parsed, io),
      "Error connecting to Consul agent",
      async (client) => {
        let list: AgentMember[];
        try {
          list = await client.agentMembers({ wan: v.wan, segment: v.segment, filter: v.filter });
        } catch (e) {
          err(io, `Error retrieving members: ${errorText(e)}`);
          return 1;
        }
        for (const m of list) normalize(m, v.segment);
        const shown = list.filter((m) => statusRe.test(statusName(m.status))).sort(compareMembers);
        if (shown.length === 0) return 2;
        out(io, formatMembers(shown, v.detailed));
        return 0;
      },
    );
  },
};
