// Structured logging with pino: one JSON object per line on stdout, or coloured human text
// when `log.pretty` is set (pino-pretty runs in pino's transport worker thread).

import { pino, stdTimeFunctions, type DestinationStream, type LoggerOptions } from 'pino';
import type { PetrelConfig } from '../config/schema.js';

export type Logger = pino.Logger;

export interface CreateLoggerOptions {
  /** Where JSON lines go instead of stdout (tests). Ignored when `pretty` is set. */
  destination?: DestinationStream;
}

export function createLogger(config: PetrelConfig['log'], options: CreateLoggerOptions = {}): Logger {
  const base: LoggerOptions = {
    name: 'petrel',
    level: config.level,
    timestamp: stdTimeFunctions.isoTime,
  };
  if (config.pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard', ignore: 'pid,hostname' } },
    });
  }
  // Level names ("info") rather than pino's numbers keep the JSON readable with grep and jq.
  const jsonOptions: LoggerOptions = { ...base, formatters: { level: (label) => ({ level: label }) } };
  return options.destination === undefined ? pino(jsonOptions) : pino(jsonOptions, options.destination);
}

/** A logger that discards everything (library use and tests that do not inspect logs). */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
