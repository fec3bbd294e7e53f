/** `version`: local only, as `consul version` (which prints its own build without asking an agent). */
import { VERSION } from "../../util/version.js";
import { type Command, out, parseOrExit, usage } from "../command.js";

const versionHelp = usage(
  `Usage: cairn version

  Prints the version of this cairn binary.`,
  {},
);

export const version: Command = {
  help: versionHelp,
  async run(argv, io) {
    const parsed = parseOrExit({}, argv, io, versionHelp);
    if (typeof parsed === "number") return parsed;
    out(io, `cairn v${VERSION}`);
    out(io, `Node.js ${process.version}`);
    return 0;
  },
};
