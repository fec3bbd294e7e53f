/**
 * What every command shares: injected I/O (so tests run commands in-process), Go-flag parsing with Consul's
 * reactions (help on stdout with exit 0; a flag error and the usage on stderr with exit 1), help text laid out
 * as Consul's flags.Usage, and a client built from the HTTP flags and environment.
 */
import {
  ConsulClient,
  clientConfigFrom,
  type Env,
  HTTP_FLAG_NAMES,
  type httpClientFlags,
  httpFlagValueName,
} from "../client/index.js";
import { errorText } from "../util/errors.js";
import { flagSection } from "../util/flag-usage.js";
import { type FlagDefs, FlagError, HelpRequested, type ParsedFlags, parseFlags } from "../util/flags.js";

export interface Writer {
  write(chunk: string | Uint8Array): unknown;
}

/** Everything a command touches outside itself. Contract: `readStdin` resolves all of stdin (bounded). */
export interface CommandIO {
  readonly stdout: Writer;
  readonly stderr: Writer;
  readonly env: Env;
  readonly readStdin: () => Promise<Buffer>;
}

/** A command's code; its name and synopsis are cli.ts's tree, which imports the module when the command runs. */
export interface Command {
  readonly help: string;
  run(args: readonly string[], io: CommandIO): Promise<number>;
}

/** Consul's cli.Ui: Info/Output write a line to stdout, Error a line to stderr. */
export function out(io: CommandIO, line: string | Uint8Array): void {
  io.stdout.write(line);
  io.stdout.write("\n");
}

export function err(io: CommandIO, line: string): void {
  io.stderr.write(`${line}\n`);
}

/** Parses flags; on `-h` prints help (exit 0), on a flag error prints it with the usage (exit 1). */
export function parseOrExit<D extends FlagDefs>(
  defs: D,
  args: readonly string[],
  io: CommandIO,
  help: string,
): ParsedFlags<D> | number {
  try {
    return parseFlags(defs, args);
  } catch (e) {
    if (e instanceof HelpRequested) {
      out(io, help);
      return 0;
    }
    if (e instanceof FlagError) {
      err(io, e.message);
      err(io, help);
      return 1;
    }
    throw e;
  }
}

/** Builds the client from the parsed HTTP flags and env; the caller closes it. Throws ClientConfigError. */
export function clientFrom<D extends FlagDefs & typeof httpClientFlags>(
  parsed: ParsedFlags<D>,
  io: CommandIO,
): ConsulClient {
  return new ConsulClient(clientConfigFrom(parsed.values, parsed.set, io.env));
}

/** Consul's flags.Usage: the command's text, then "HTTP API Options" and "Command Options", sorted by name. */
export function usage(text: string, defs: FlagDefs): string {
  let s = `${text.trim()}\n\n`;
  const names = Object.keys(defs);
  const httpNames = names.filter((n) => HTTP_FLAG_NAMES.has(n));
  const own = names.filter((n) => !HTTP_FLAG_NAMES.has(n));
  const opts = { valueName: httpFlagValueName };
  if (httpNames.length > 0) s += flagSection("HTTP API Options", httpNames, defs, opts);
  if (own.length > 0) s += flagSection("Command Options", own, defs, opts);
  return s.replace(/\n+$/, "");
}

/** How a failed call reads after Consul's prefix: the client's message, already in Go's words. */
export { errorText };
