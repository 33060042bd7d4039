import { redactSecrets } from './env.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export interface Logger {
  (level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

/**
 * One JSON line per event (what Vercel's log drains parse), with every configured secret replaced by
 * its variable name and credentials stripped from URLs.
 */
export function createLogger(write: (line: string) => void = (l) => process.stdout.write(l + '\n')): Logger {
  return (level, message, fields) => {
    const line = JSON.stringify({ level, time: new Date().toISOString(), msg: message, ...fields });
    write(redactSecrets(line));
  };
}

export const log: Logger = createLogger();
