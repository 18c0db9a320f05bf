// --log / --log-format as runc: text lines or JSON lines {"level","msg","time"}. Engines show
// the last error line of the log file, so the real cause must be logged as the error.
import fs = require('node:fs');

export type Level = 'debug' | 'info' | 'warning' | 'error';

export interface LogOptions {
  file?: string;
  format?: 'text' | 'json';
  debug?: boolean;
}

export class Logger {
  private fd: number | null = null;

  constructor(private opts: LogOptions = {}) {
    if (opts.file) {
      try {
        this.fd = fs.openSync(opts.file, 'a', 0o644);
      } catch (e) {
        fs.writeSync(2, `husk: --log ${opts.file}: ${(e as Error).message}\n`);
      }
    }
  }

  log(level: Level, msg: string): void {
    if (level === 'debug' && !this.opts.debug) return;
    const time = new Date().toISOString();
    const line =
      this.opts.format === 'json'
        ? JSON.stringify({ level, msg, time }) + '\n'
        : `time="${time}" level=${level} msg=${JSON.stringify(msg)}\n`;
    if (this.fd !== null) fs.writeSync(this.fd, line);
    else if (level !== 'error') fs.writeSync(2, line);
  }

  debug(msg: string): void {
    this.log('debug', msg);
  }
  // The file, for a process that outlives the call (the husk server).
  close(): void {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
  warn(msg: string): void {
    this.log('warning', msg);
  }
  error(msg: string): void {
    this.log('error', msg);
  }
}

export const quietLogger = new Logger({ debug: false });
