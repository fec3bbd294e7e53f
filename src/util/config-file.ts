/**
 * Finding and reading JSON config files the way Consul's commands do: `-config-file` and `-config-dir` applied
 * in command-line order, a directory's `.json` files in name order, each file one JSON object. HCL, which Consul
 * also reads, is refused by name rather than skipped, since skipping it would drop settings the operator wrote.
 * Shared by `cairn agent` and `cairn snapshot agent`; what the keys mean is theirs (config-keys.ts checks them).
 */
import { extname, join } from "node:path";
import { CairnError, errorText } from "./errors.js";
import { type FlagDefs, FlagError } from "./flags.js";
import { goQuote } from "./goquote.js";
import { jsonErrorPlace } from "./json-position.js";

const CONFIG_FILE_BYTES_MAX = 4 * 1024 * 1024;

/** A config file or directory that cannot be used; the message names it and says why. */
export class ConfigFileError extends CairnError {
  readonly code = "config_file";
  override name = "ConfigFileError";
}

/**
 * Runs `read` and turns the errors of util's readers (a bad command line, file or key) into the command's own
 * error type, so its callers handle one.
 */
export function asCommandError<T>(read: () => T, make: (message: string, showUsage: boolean) => Error): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof FlagError) throw make(e.message, true);
    if (e instanceof ConfigFileError) throw make(e.message, false);
    throw e;
  }
}

/** What reading config needs from the machine, so tests can run without a disk. Errors are reported with the path. */
export interface ConfigFs {
  readFile(path: string): string;
  /** Names (not paths) of the entries of a directory. */
  readDir(path: string): string[];
}

export interface ConfigSource {
  readonly path: string;
  readonly dir: boolean;
}

/**
 * `-config-file` and `-config-dir` in the order given, interleaved, as Consul applies them. parseFlags keeps one
 * list per flag, so this walks the flag part of argv (the arguments before the first non-flag) again with the same
 * definitions to recover the order.
 */
export function configSources(defs: FlagDefs, flagArgv: readonly string[]): ConfigSource[] {
  const out: ConfigSource[] = [];
  for (let i = 0; i < flagArgv.length; i++) {
    const s = flagArgv[i] ?? "";
    if (s === "--") break;
    const body = s.startsWith("--") ? s.slice(2) : s.slice(1);
    const eq = body.indexOf("=");
    const name = eq > 0 ? body.slice(0, eq) : body;
    const def = Object.hasOwn(defs, name) ? defs[name] : undefined;
    if (def === undefined || def.kind === "bool") continue;
    const value = eq > 0 ? body.slice(eq + 1) : (flagArgv[++i] ?? "");
    if (name === "config-file") out.push({ path: value, dir: false });
    if (name === "config-dir") out.push({ path: value, dir: true });
  }
  return out;
}

/** The files the sources name, in the order they apply. */
export function configFiles(sources: readonly ConfigSource[], fs: ConfigFs): string[] {
  return sources.flatMap((s) => (s.dir ? dirFiles(s.path, fs) : [s.path]));
}

/** The .json files of a config dir, in name order, as Consul reads them (not recursively). */
export function dirFiles(dir: string, fs: ConfigFs): string[] {
  let names: string[];
  try {
    names = fs.readDir(dir);
  } catch (e) {
    throw new ConfigFileError(`cannot read config dir ${goQuote(dir)}: ${errorText(e)}`);
  }
  const sorted = [...names].sort();
  const hcl = sorted.find((n) => n.endsWith(".hcl"));
  if (hcl !== undefined) throw hclError(join(dir, hcl));
  return sorted.filter((n) => n.endsWith(".json")).map((n) => join(dir, n));
}

function hclError(file: string): ConfigFileError {
  return new ConfigFileError(
    `cannot read config file ${goQuote(file)}: HCL is not supported yet; write the configuration as JSON`,
  );
}

/** The JSON object a config file holds; malformed JSON is reported with its line and column. */
export function readJsonConfigFile(file: string, fs: ConfigFs): Record<string, unknown> {
  const ext = extname(file);
  if (ext === ".hcl") throw hclError(file);
  if (ext !== ".json") {
    throw new ConfigFileError(`cannot read config file ${goQuote(file)}: its name must end in .json`);
  }
  let text: string;
  try {
    text = fs.readFile(file);
  } catch (e) {
    throw new ConfigFileError(`cannot read config file ${goQuote(file)}: ${errorText(e)}`);
  }
  if (text.length > CONFIG_FILE_BYTES_MAX) {
    throw new ConfigFileError(`config file ${goQuote(file)} is larger than ${CONFIG_FILE_BYTES_MAX} bytes`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new ConfigFileError(`invalid JSON in config file ${goQuote(file)}: ${jsonErrorPlace(text, e)}`);
  }
  if (!isJsonObject(doc)) throw new ConfigFileError(`config file ${goQuote(file)} must hold a JSON object`);
  return doc;
}

export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
