// `run` with process.terminal and no --console-socket: husk plays the engine's part, receives
// the pty master itself and relays its own terminal to it (raw mode, window size, SIGWINCH).
import fs = require('node:fs');
import os = require('node:os');
import path = require('node:path');
import { native } from '../native';

export interface ConsoleReceiver {
  socket: string;
  take(): number; // the pty master, once create has sent it
  close(): void;
}

export function listenForConsole(): ConsoleReceiver {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-tty-'));
  const socket = path.join(dir, 'console.sock');
  const lfd = native().listenUnix(socket);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    fs.closeSync(lfd);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return {
    socket,
    take: () => {
      try {
        return native().acceptFd(lfd, 10_000).fd;
      } finally {
        close();
      }
    },
    close,
  };
}

// Relays until the container's side of the pty is gone; resolves when the output is drained.
export function relay(
  master: number,
  size?: { height: number; width: number },
): { done: Promise<void>; stop(): void } {
  const stdin = process.stdin;
  const resize = () => {
    const rows = process.stdout.rows ?? size?.height;
    const cols = process.stdout.columns ?? size?.width;
    if (rows && cols) native().setWinsize(master, rows, cols);
  };
  resize();
  process.on('SIGWINCH', resize);
  const wasRaw = stdin.isTTY ? stdin.isRaw : false;
  if (stdin.isTTY) stdin.setRawMode(true);
  const onInput = (d: Buffer) => {
    try {
      fs.writeSync(master, d);
    } catch {
      /* the container is gone */
    }
  };
  stdin.on('data', onInput);
  const out = fs.createReadStream('', { fd: master, autoClose: true });
  out.on('data', (d) => process.stdout.write(d));
  const done = new Promise<void>((resolve) => {
    out.on('error', () => resolve()); // EIO once the slave side is closed
    out.on('close', () => resolve());
  });
  const stop = () => {
    process.off('SIGWINCH', resize);
    stdin.off('data', onInput);
    if (stdin.isTTY) stdin.setRawMode(wasRaw);
    stdin.pause();
  };
  return { done, stop };
}
