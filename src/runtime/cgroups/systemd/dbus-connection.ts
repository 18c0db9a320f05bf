// A synchronous D-Bus client over a unix stream socket: SASL EXTERNAL, Hello, method calls
// with a deadline, and signals kept until someone waits for them. Synchronous because create
// and delete are: the init waits at its cgroup stage while we talk to systemd.
import { decodeMessage, encodeMessage, MESSAGE, messageLength, type Message } from './dbus-wire';

// The socket operations, passed in by the caller (the addon in husk) so this module, loaded
// only for the systemd driver, carries no state of its own.
export interface Transport {
  connect(path: string): number; // '@name' for an abstract socket
  readWithin(fd: number, timeoutMs: number): Buffer | null; // null: nothing in time; empty: EOF
  write(fd: number, data: Buffer): void;
  close(fd: number): void;
}

export class DBusError extends Error {
  constructor(
    readonly errorName: string,
    text: string,
  ) {
    super(`${errorName}: ${text}`);
  }
}

// "unix:path=/run/dbus/system_bus_socket;unix:abstract=/tmp/x,guid=…" → the first unix socket
// we can use ('@' marks an abstract name). Values may be %-escaped.
export function socketFromAddress(address: string): string {
  for (const entry of address.split(';')) {
    const colon = entry.indexOf(':');
    if (colon < 0 || entry.slice(0, colon) !== 'unix') continue;
    const kv: Record<string, string> = {};
    for (const pair of entry.slice(colon + 1).split(',')) {
      const eq = pair.indexOf('=');
      if (eq > 0) kv[pair.slice(0, eq)] = decodeURIComponent(pair.slice(eq + 1));
    }
    if (kv.path) return kv.path;
    if (kv.abstract) return '@' + kv.abstract;
  }
  throw new Error(`D-Bus address "${address}" names no unix socket (unix:path=… or unix:abstract=…)`);
}

export class BusConnection {
  private pending: Buffer = Buffer.alloc(0);
  private serial = 0;
  private signals: Message[] = [];
  uniqueName = '';

  private constructor(
    private io: Transport,
    private fd: number,
    readonly socket: string,
  ) {}

  // Connects, authenticates as uid and says Hello, all within timeoutMs.
  static open(io: Transport, socket: string, uid: number, timeoutMs: number): BusConnection {
    const fd = io.connect(socket);
    const c = new BusConnection(io, fd, socket);
    try {
      const deadline = Date.now() + timeoutMs;
      c.authenticate(uid, deadline);
      const hello = c.call(
        {
          type: MESSAGE.METHOD_CALL,
          destination: 'org.freedesktop.DBus',
          path: '/org/freedesktop/DBus',
          interface: 'org.freedesktop.DBus',
          member: 'Hello',
        },
        Math.max(1, deadline - Date.now()),
      );
      c.uniqueName = String(hello.body?.[0] ?? '');
      return c;
    } catch (e) {
      c.close();
      throw e;
    }
  }

  private authenticate(uid: number, deadline: number): void {
    // The NUL byte comes first (it may carry credentials); EXTERNAL names us by the hex of the
    // uid's decimal digits, and the bus checks it against the socket's peer credentials.
    const hexUid = Buffer.from(String(uid), 'ascii').toString('hex');
    this.io.write(this.fd, Buffer.from(`\0AUTH EXTERNAL ${hexUid}\r\n`, 'ascii'));
    const line = this.readLine(deadline);
    if (!line.startsWith('OK ')) throw new Error(`D-Bus authentication as uid ${uid} refused: ${line}`);
    this.io.write(this.fd, Buffer.from('BEGIN\r\n', 'ascii'));
  }

  private readLine(deadline: number): string {
    for (;;) {
      const nl = this.pending.indexOf('\r\n');
      if (nl >= 0) {
        const line = this.pending.subarray(0, nl).toString('ascii');
        this.pending = this.pending.subarray(nl + 2);
        return line;
      }
      if (this.pending.length > 4096) throw new Error('D-Bus authentication: line too long');
      this.readMore(deadline);
    }
  }

  private readMore(deadline: number): void {
    const left = deadline - Date.now();
    const got = left > 0 ? this.io.readWithin(this.fd, left) : null;
    if (got === null) throw new Error(`no answer from the bus at ${this.socket} in time`);
    if (got.length === 0) throw new Error(`the bus at ${this.socket} closed the connection`);
    this.pending = this.pending.length ? Buffer.concat([this.pending, got]) : got;
  }

  private nextMessage(deadline: number): Message {
    for (;;) {
      const len = messageLength(this.pending);
      if (len !== null && this.pending.length >= len) {
        const m = decodeMessage(Buffer.from(this.pending.subarray(0, len)));
        this.pending = this.pending.subarray(len);
        return m;
      }
      this.readMore(deadline);
    }
  }

  send(m: Message): number {
    const serial = ++this.serial;
    this.io.write(this.fd, encodeMessage({ ...m, serial }));
    return serial;
  }

  // Sends a method call and returns its reply; an error reply throws DBusError. Signals that
  // arrive meanwhile are kept for waitSignal.
  call(m: Message, timeoutMs: number): Message {
    const serial = this.send(m);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.nextMessage(deadline);
      if (r.type === MESSAGE.SIGNAL) {
        this.signals.push(r);
        continue;
      }
      if (r.replySerial !== serial) continue; // a reply to something we gave up on
      if (r.type === MESSAGE.ERROR)
        throw new DBusError(r.errorName ?? 'org.freedesktop.DBus.Error.Failed', String(r.body?.[0] ?? ''));
      return r;
    }
  }

  // The first signal (already received or still to come) that `match` accepts.
  waitSignal(match: (m: Message) => boolean, timeoutMs: number): Message | null {
    const i = this.signals.findIndex(match);
    if (i >= 0) return this.signals.splice(i, 1)[0];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let m: Message;
      try {
        m = this.nextMessage(deadline);
      } catch (e) {
        if (Date.now() >= deadline) return null;
        throw e;
      }
      if (m.type !== MESSAGE.SIGNAL) continue;
      if (match(m)) return m;
      this.signals.push(m);
      if (this.signals.length > 256) this.signals.shift(); // a chatty bus: keep the latest
    }
  }

  close(): void {
    if (this.fd < 0) return;
    this.io.close(this.fd);
    this.fd = -1;
  }
}
