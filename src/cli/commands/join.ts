/**
 * `join ADDR…`: as `consul join` (command/join/join.go): PUT /v1/agent/join/ADDR for each address, an error line
 * per failure, `Failed to join any nodes.` (exit 1) when none joined. In cairn ADDR is a server's RPC address
 * (docs/consul-compat.md §8.7d).
 */
import { httpClientFlags } from "../../client/index.js";
import { flag } from "../../util/flags.js";
import { type Command, clientFrom, err, errorText, out, parseOrExit, usage } from "../command.js";
import { withClient } from "./kv.js";

const flags = {
  ...httpClientFlags,
  wan: flag.bool(false, "Joins a server to another server in the WAN pool."),
};

const help = usage(
  `Usage: cairn join [options] address ...

  Tells a running cairn agent to join the cluster by specifying at least one
  existing member. cairn has no gossip: an address is a server's RPC address
  (port 8300 when none is given). A server in a cluster adds a fresh server;
  a fresh server joins the cluster of the one it is given.`,
  flags,
);

export const join: Command = {
  help,
  async run(argv, io) {
    const parsed = parseOrExit(flags, argv, io, help);
    if (typeof parsed === "number") return parsed;
    const addrs = parsed.args;
    if (addrs.length === 0) {
      err(io, "At least one address to join must be specified.");
      err(io, "");
      err(io, help);
      return 1;
    }
    return withClient(
      io,
      () => clientFrom(parsed, io),
      "Error connecting to Consul agent",
      async (client) => {
        let joins = 0;
        for (const addr of addrs) {
          try {
            await client.agentJoin(addr, parsed.values.wan);
            joins++;
          } catch (e) {
            err(io, `Error joining address '${addr}': ${errorText(e)}`);
          }
        }
        if (joins === 0) {
          err(io, "Failed to join any nodes.");
          return 1;
        }
        out(io, `Successfully joined cluster by contacting ${joins} nodes.`);
        return 0;
      },
    );
  },
};
