import pino from "pino";
import type { AgentConfig } from "./config.js";

export type Level = "trace" | "debug" | "info" | "warn" | "error";
export type Logger = Record<Level, (msg: string) => void>;
const LEVELS: readonly Level[] = ["trace", "debug", "info", "warn", "error"];

/**
 * JSON lines through pino with -log-json; otherwise Consul's text layout on stderr
 * (`2026-01-01T00:00:00.000Z [INFO]  agent: message`), which operators grep for.
 */
export function makeLogger(cfg: AgentConfig): Logger {
  const min = LEVELS.indexOf(cfg.logLevel);
  if (cfg.logJson) {
    const p = pino({ level: cfg.logLevel, base: { node: cfg.nodeName } }, pino.destination(2));
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
    process.stderr.write(`${new Date().toISOString()} ${tag} agent: ${msg}\n`);
  };
  return {
    trace: line("trace"),
    debug: line("debug"),
    info: line("info"),
    warn: line("warn"),
    error: line("error"),
  };
}
