/**
 * `operator raft list-peers|remove-peer|transfer-leader`, as Consul's command/operator/raft/*: the list-peers
 * table columns, `-` for the leader's lag, `1 commit` / `N commits` for followers, columnize layout.
 *
 * One deliberate departure: Consul's list-peers subtracts uint64s (leader's LastIndex − server's LastIndex)
 * with 0 standing in for the leader's index when no server is the leader, so `-stale` without a leader, or
 * a follower sampled ahead of the leader, prints a wrapped 2^64−n. cairn prints `-` (Consul's own "no lag
 * figure" text) when there is no leader to trail, and `0 commits` for a follower at or ahead of the leader.
 */
import type { RaftConfiguration } from "../../client/index.js";
import { httpClientFlags, httpServerFlags } from "../../client/index.js";
import { flag } from "../../util/flags.js";
import { columnize } from "../columnize.js";
import { type Command, clientFrom, err, errorText, out, parseOrExit, usage } from "../command.js";
import { withClient } from "./kv.js";

const INIT = "Error initializing client";
const raftFlags = { ...httpClientFlags, ...httpServerFlags };

/** The list-peers table from a raft configuration (Commit Index = each server's LastIndex). */
export function formatPeers(conf: RaftConfiguration): string {
  const lastIndex = new Map(conf.servers.map((s) => [s.id, s.lastIndex]));
  let leaderIndex: bigint | undefined;
  for (const s of conf.servers) if (s.leader) leaderIndex = lastIndex.get(s.id) ?? 0n;
  const rows = [
    ["Node", "ID", "Address", "State", "Voter", "RaftProtocol", "Commit Index", "Trails Leader By"],
  ];
  for (const s of conf.servers) {
    const own = lastIndex.get(s.id) ?? 0n;
    const trails = s.leader || leaderIndex === undefined ? "-" : trailsText(leaderIndex - own);
    const protocol = s.protocolVersion === "" ? "<=1" : s.protocolVersion;
    rows.push([
      s.node,
      s.id,
      s.address,
      s.leader ? "leader" : "follower",
      String(s.voter),
      protocol,
      own.toString(),
      trails,
    ]);
  }
  return columnize(rows);
}

/** A follower's lag behind the leader; one sampled ahead of the leader trails it by nothing. */
function trailsText(behind: bigint): string {
  if (behind < 0n) return "0 commits";
  return behind === 1n ? "1 commit" : `${behind} commits`;
}

const listHelp = usage(
  `Usage: cairn operator raft list-peers [options]

  Displays the current Raft peer configuration.`,
  raftFlags,
);

export const raftListPeers: Command = {
  help: listHelp,
  async run(argv, io) {
    const parsed = parseOrExit(raftFlags, argv, io, listHelp);
    if (typeof parsed === "number") return parsed;
    return withClient(
      io,
      () => clientFrom(parsed, io),
      INIT,
      async (client) => {
        let conf: RaftConfiguration;
        try {
          conf = await client.raftConfiguration({ stale: parsed.values.stale });
        } catch (e) {
          err(io, `Error getting peers: Failed to retrieve raft configuration: ${errorText(e)}`);
          return 1;
        }
        out(io, formatPeers(conf));
        return 0;
      },
    );
  },
};

const removeFlags = {
  ...raftFlags,
  address: flag.string("", "The address to remove from the Raft configuration."),
  id: flag.string("", "The ID to remove from the Raft configuration."),
};
const removeHelp = usage(
  `Usage: cairn operator raft remove-peer [options]

  Remove the server with given -address or -id from the Raft configuration.

  There are rare cases where a peer may be left behind in the Raft quorum even though the server is no
  longer present and known to the cluster. This command can be used to remove the failed server so that
  it no longer affects the Raft quorum.`,
  removeFlags,
);

export const raftRemovePeer: Command = {
  help: removeHelp,
  async run(argv, io) {
    const parsed = parseOrExit(removeFlags, argv, io, removeHelp);
    if (typeof parsed === "number") return parsed;
    const { address, id } = parsed.values;
    return withClient(
      io,
      () => clientFrom(parsed, io),
      INIT,
      async (client) => {
        try {
          if (address === "" && id === "")
            throw new Error("an address or id is required for the peer to remove");
          if (address !== "" && id !== "") throw new Error("cannot give both an address and id");
          await client.raftRemovePeer(address !== "" ? { address } : { id });
        } catch (e) {
          err(io, `Error removing peer: ${errorText(e)}`);
          return 1;
        }
        out(io, address !== "" ? `Removed peer with address "${address}"` : `Removed peer with id "${id}"`);
        return 0;
      },
    );
  },
};

const transferFlags = { ...raftFlags, id: flag.string("", "The ID of the node to transfer leadership to.") };
const transferHelp = usage(
  `Usage: cairn operator raft transfer-leader [options]

  Transfer raft leadership to another node.`,
  transferFlags,
);

export const raftTransferLeader: Command = {
  help: transferHelp,
  async run(argv, io) {
    const parsed = parseOrExit(transferFlags, argv, io, transferHelp);
    if (typeof parsed === "number") return parsed;
    return withClient(
      io,
      () => clientFrom(parsed, io),
      INIT,
      async (client) => {
        let ok: boolean;
        try {
          ok = await client.raftTransferLeader(parsed.values.id);
        } catch (e) {
          // Consul's text has no separator before the cause ("leadership %w").
          err(io, `Error transfering leadership: Failed to transfer leadership ${errorText(e)}`);
          return 1;
        }
        if (!ok) {
          err(io, "Error transfering leadership: Failed to transfer leadership");
          return 1;
        }
        out(io, "Success");
        return 0;
      },
    );
  },
};
