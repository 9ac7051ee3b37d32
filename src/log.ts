import { createRequire } from 'node:module';
import { pino } from 'pino';
import type { Config } from './config/config.ts';

export type Logger = pino.Logger;

/** JSON lines on stdout for the container runtime and journald; `pretty` for people. */
export function createLogger(options: Config['log']): Logger {
  const common: pino.LoggerOptions = {
    level: options.level,
    base: { service: 'filesync' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'privateKey',
        '*.privateKey',
        'password',
        '*.password',
        'controlToken',
        '*.controlToken',
        'authorization',
        '*.authorization',
        '*.headers.authorization',
      ],
      censor: '[redacted]',
    },
  };
  if (options.format === 'pretty') {
    // Loaded only for people at a terminal; the JSON default starts without it.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    return pino(
      common,
      pretty({ sync: true, colorize: process.stdout.isTTY, ignore: 'pid,hostname,service' }),
    );
  }
  return pino({ ...common, formatters: { level: (label) => ({ level: label }) } });
}
