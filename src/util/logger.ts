import pino from "pino";

export type Level = "trace" | "debug" | "info" | "warn" | "error";
export type Logger = Record<Level, (msg: string) => void>;
const LEVELS: readonly Level[] = ["trace", "debug", "info", "warn", "error"];

export interface LoggerOptions {
  readonly level: Level;
  /** JSON lines (pino) instead of Consul's text layout. */
  readonly json: boolean;
  /** The subsystem in the text layout: `agent`, `snapshot-agent`. */
  readonly component: string;
  /** Fields on every JSON line (e.g. the node's name). */
  readonly base?: Readonly<Record<string, string>>;
}

/**
 * The logger of cairn's long-running processes (the agent, the snapshot agent): JSON lines through pino, or
 * Consul's text layout on stderr (`2026-01-01T00:00:00.000Z [INFO]  agent: message`), which operators grep for.
 */
export function makeLogger(o: LoggerOptions): Logger {
  const min = LEVELS.indexOf(o.level);
  if (o.json) {
    const p = pino({ level: o.level, base: { ...o.base } }, pino.destination(2));
    return {
      trace: (m) => p.trace(m),
      debug: (m) => p.debug(m),
      info: (m) => p.info(m),
      warn: (m) => p.warn(m),
      error: (m) => p.error(m),
    };
  }
  const line = (level: Level) => (msg: string) => {
    if (LEVELS.indexOf(level) < min) return;
    const tag = `[${level.toUpperCase()}]`.padEnd(7);
    process.stderr.write(`${new Date().toISOString()} ${tag} ${o.component}: ${msg}\n`);
  };
  return {
    trace: line("trace"),
    debug: line("debug"),
    info: line("info"),
    warn: line("warn"),
    error: line("error"),
  };
}
