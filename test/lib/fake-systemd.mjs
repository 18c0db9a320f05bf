// A fake systemd for the tests of the systemd cgroup driver: a D-Bus peer on a unix socket that
// plays both the bus (SASL EXTERNAL, Hello, AddMatch) and org.freedesktop.systemd1 (Subscribe,
// Properties.Get, StartTransientUnit, StopUnit, ResetFailedUnit, SetUnitProperties), emits
// JobRemoved, makes and removes each unit's cgroup directory below the roots it is given (a
// scratch tree, or real hierarchies when run as root) and records every call as a JSON line.
//
// Run as its own process (the driver's client is synchronous, so the fake cannot share its
// event loop):  node test/lib/fake-systemd.mjs '<options JSON>'   — prints "ready" when listening.
// Options: socket, log (file of records), roots (cgroup mount points), base (the manager's
// ControlGroup), joinPids (write PIDs into cgroup.procs), version, jobResult ("done"),
// noJobRemoved (never say the job ended), signalFirst (JobRemoved before the method reply).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const wire = require(path.join(REPO, 'out', 'runtime', 'cgroups', 'systemd', 'dbus-wire.js'));
const { MESSAGE, encodeMessage, decodeMessage, messageLength } = wire;

const opts = JSON.parse(process.argv[2]);
const units = new Map(); // name → { dirs, madeSlices }
let jobs = 0;
let clients = 0;

function record(entry) {
  const json = JSON.stringify(entry, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
  fs.appendFileSync(opts.log, json + '\n');
}

// Written for the fake from systemd's documented rule (slice names nest at dashes), apart
// from husk's own expandSlice so a shared mistake would not go unnoticed.
function slicePath(slice) {
  if (slice === '-.slice') return '';
  const parts = slice.replace(/\.slice$/, '').split('-');
  return parts.map((_p, i) => '/' + parts.slice(0, i + 1).join('-') + '.slice').join('');
}

function unitDirs(unit, props) {
  const rel = unit.endsWith('.slice')
    ? slicePath(unit)
    : `${slicePath(props.Slice ?? 'system.slice')}/${unit}`;
  return opts.roots.map((r) => path.join(r, opts.base ?? '/', rel));
}

function mkdirs(dir, made) {
  if (fs.existsSync(dir)) return;
  mkdirs(path.dirname(dir), made);
  fs.mkdirSync(dir);
  made.push(dir);
}

function killAndRemove(dirs) {
  for (const d of dirs) {
    for (let i = 0; i < 200 && fs.existsSync(d); i++) {
      try {
        for (const p of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean))
          try {
            process.kill(Number(p), 'SIGKILL');
          } catch {
            /* gone */
          }
      } catch {
        /* a scratch tree has no cgroup.procs */
      }
      try {
        if (fs.existsSync(path.join(d, 'cgroup.procs'))) fs.rmdirSync(d);
        else fs.rmSync(d, { recursive: true });
      } catch {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      }
    }
  }
}

function reply(sock, m, signature = '', body = []) {
  sock.write(
    encodeMessage({
      type: MESSAGE.METHOD_RETURN,
      replySerial: m.serial,
      destination: sock.uniqueName,
      sender: 'org.freedesktop.systemd1',
      signature,
      body,
    }),
  );
}

function error(sock, m, name, text) {
  sock.write(
    encodeMessage({
      type: MESSAGE.ERROR,
      replySerial: m.serial,
      errorName: name,
      destination: sock.uniqueName,
      signature: 's',
      body: [text],
    }),
  );
}

function jobRemoved(sock, id, job, unit, result) {
  sock.write(
    encodeMessage({
      type: MESSAGE.SIGNAL,
      path: '/org/freedesktop/systemd1',
      interface: 'org.freedesktop.systemd1.Manager',
      member: 'JobRemoved',
      sender: 'org.freedesktop.systemd1',
      signature: 'uoss',
      body: [id, job, unit, result],
    }),
  );
}

// Answers with a job and, unless told otherwise, the JobRemoved that ends it.
function withJob(sock, m, unit, result) {
  const id = ++jobs;
  const job = `/org/freedesktop/systemd1/job/${id}`;
  if (opts.signalFirst && !opts.noJobRemoved) jobRemoved(sock, id, job, unit, result);
  reply(sock, m, 'o', [job]);
  if (!opts.signalFirst && !opts.noJobRemoved) jobRemoved(sock, id, job, unit, result);
}

function handle(sock, m) {
  const body = m.body ?? [];
  record({ member: m.member, interface: m.interface, path: m.path, destination: m.destination, body });
  const key = `${m.interface}.${m.member}`;
  switch (key) {
    case 'org.freedesktop.DBus.Hello':
      sock.uniqueName = `:1.${++clients}`;
      return reply(sock, m, 's', [sock.uniqueName]);
    case 'org.freedesktop.DBus.AddMatch':
    case 'org.freedesktop.systemd1.Manager.Subscribe':
      return reply(sock, m);
    case 'org.freedesktop.DBus.Properties.Get': {
      const [iface, name] = body;
      const values = { Version: opts.version ?? '252.22-1~deb12u1', ControlGroup: opts.base ?? '' };
      if (iface !== 'org.freedesktop.systemd1.Manager' || !(name in values))
        return error(sock, m, 'org.freedesktop.DBus.Error.UnknownProperty', `no property ${name}`);
      return reply(sock, m, 'v', [{ type: 's', value: values[name] }]);
    }
    case 'org.freedesktop.systemd1.Manager.StartTransientUnit': {
      const [unit, mode, propList] = body;
      const props = Object.fromEntries(propList.map(([k, v]) => [k, v.value]));
      if (units.has(unit))
        return error(sock, m, 'org.freedesktop.systemd1.UnitExists', `Unit ${unit} already exists.`);
      if (mode !== 'replace') return error(sock, m, 'org.freedesktop.DBus.Error.InvalidArgs', `mode ${mode}`);
      const result = opts.jobResult ?? 'done';
      const dirs = unitDirs(unit, props);
      const made = [];
      if (result === 'done') {
        for (const d of dirs) mkdirs(d, made);
        if (opts.joinPids)
          for (const d of dirs)
            for (const p of props.PIDs ?? []) fs.writeFileSync(path.join(d, 'cgroup.procs'), String(p));
        units.set(unit, { dirs, made });
      }
      return withJob(sock, m, unit, result);
    }
    case 'org.freedesktop.systemd1.Manager.StopUnit': {
      const [unit] = body;
      const u = units.get(unit);
      if (!u) return error(sock, m, 'org.freedesktop.systemd1.NoSuchUnit', `Unit ${unit} not loaded.`);
      units.delete(unit);
      killAndRemove(u.dirs);
      // Slices made only for this unit go when empty, as systemd collects unneeded units.
      for (const d of u.made.reverse()) {
        try {
          fs.rmdirSync(d);
        } catch {
          /* still used */
        }
      }
      return withJob(sock, m, unit, 'done');
    }
    case 'org.freedesktop.systemd1.Manager.ResetFailedUnit':
      return error(sock, m, 'org.freedesktop.systemd1.NoSuchUnit', `Unit ${body[0]} not loaded.`);
    case 'org.freedesktop.systemd1.Manager.SetUnitProperties':
      if (!units.has(body[0]))
        return error(sock, m, 'org.freedesktop.systemd1.NoSuchUnit', `Unit ${body[0]} not loaded.`);
      return reply(sock, m);
    default:
      return error(sock, m, 'org.freedesktop.DBus.Error.UnknownMethod', `unknown method ${key}`);
  }
}

const server = net.createServer((sock) => {
  let buf = Buffer.alloc(0);
  let authed = false;
  sock.on('error', () => {});
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (!authed) {
      const nl = buf.indexOf('\r\n');
      if (nl < 0) return;
      let line = buf.subarray(0, nl).toString('latin1');
      buf = buf.subarray(nl + 2);
      if (line.startsWith('\0')) line = line.slice(1);
      if (line.startsWith('AUTH EXTERNAL ')) {
        const uid = Buffer.from(line.slice(14), 'hex').toString('ascii');
        record({ auth: 'EXTERNAL', uid });
        sock.write('OK 0123456789abcdef0123456789abcdef\r\n');
      } else if (line === 'BEGIN') authed = true;
      else sock.write('ERROR\r\n');
    }
    for (;;) {
      const len = messageLength(buf);
      if (len === null || buf.length < len) return;
      const m = decodeMessage(Buffer.from(buf.subarray(0, len)));
      buf = buf.subarray(len);
      handle(sock, m);
    }
  });
});

function shutdown() {
  // Whatever is still a unit goes with the fake, as with a real systemd's stop.
  for (const u of units.values()) killAndRemove(u.dirs);
  server.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

fs.rmSync(opts.socket, { force: true });
server.listen(opts.socket, () => process.stdout.write('ready\n'));
