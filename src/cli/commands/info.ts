/**
 * `info`: as `consul info` (command/info/info.go), the `Stats` of /v1/agent/self: each section name with a colon,
 * then `\tkey = value` lines, sections and keys sorted as Go's sort.Strings sorts (by bytes).
 */
import { httpClientFlags, type Json } from "../../client/index.js";
import { type Command, clientFrom, err, errorText, out, parseOrExit, usage } from "../command.js";
import { withClient } from "./kv.js";

const help = usage(
  `Usage: cairn info [options]

  Provides debugging information for operators`,
  httpClientFlags,
);

/** Byte order, as Go's sort.Strings; localeCompare would not match it. */
const byBytes = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Go's `%s` of a value decoded into interface{}: strings as they are, anything else as Go flags the verb. */
function goPercentS(v: Json | undefined): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "bigint") return `%!s(float64=${v})`;
  if (typeof v === "boolean") return `%!s(bool=${v})`;
  if (v === null || v === undefined) return "%!s(<nil>)";
  return `%!s(${JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x))})`;
}

export const info: Command = {
  help,
  async run(argv, io) {
    const parsed = parseOrExit(httpClientFlags, argv, io, help);
    if (typeof parsed === "number") return parsed;
    return withClient(
      io,
      () => clientFrom(parsed, io),
      "Error connecting to Consul agent",
      async (client) => {
        let self: { [key: string]: Json };
        try {
          self = await client.agentSelf();
        } catch (e) {
          err(io, `Error querying agent: ${errorText(e)}`);
          return 1;
        }
        const stats = self.Stats;
        if (stats === undefined || stats === null || typeof stats !== "object" || Array.isArray(stats)) {
          err(io, "Agent response did not contain 'Stats' key");
          return 1;
        }
        for (const section of Object.keys(stats).sort(byBytes)) {
          out(io, `${section}:`);
          const sub = stats[section];
          if (sub === undefined || sub === null || typeof sub !== "object" || Array.isArray(sub)) {
            err(io, `Got invalid subkey in stats: ${section}`);
            return 1;
          }
          for (const key of Object.keys(sub).sort(byBytes)) out(io, `\t${key} = ${goPercentS(sub[key])}`);
        }
        return 0;
      },
    );
  },
};
