// The systemd cgroup driver (--systemd-cgroup): systemd makes the container's unit and puts
// the init in it; husk then makes what systemd did not and writes the limits, as for cgroupfs.
// The D-Bus client (./systemd) is loaded only here, on first use.
import fs = require('node:fs');
import path = require('node:path');
import { HuskError } from '../../errors';
import { cgroupOf } from '../../host/probe';
import { native } from '../../native';
import { hostUid, runningInUserNs } from '../../host/userns';
import type { CgroupPlan, SystemdDriver } from '../../plan/cgroups';
import { forOldSystemd, type DeviceAllowEntry } from '../../plan/systemd-devices';
import type { UnitProperty } from '../../plan/systemd-unit';
import type { Transport } from './systemd/dbus-connection';

type DriverModule = typeof import('./systemd');
type Manager = import('./systemd').SystemdManager;

const FLAG = '--systemd-cgroup';
// As runc: how long systemd may take to answer, and to finish each job.
const TIMEOUT_MS = 30_000;

// What delete and update need to find the unit again.
export interface SystemdRecord {
  unit: string;
  userManager: boolean;
}

// sd_booted(3): systemd is running when /run/systemd/system is a directory.
// HUSK_INTERNAL_ASSUME_SYSTEMD=1 is for husk's own tests only: they run a fake systemd (a
// D-Bus peer at DBUS_SYSTEM_BUS_ADDRESS) on hosts booted without systemd.
export function systemdRunning(): boolean {
  if (process.env.HUSK_INTERNAL_ASSUME_SYSTEMD === '1') return true;
  try {
    return fs.lstatSync('/run/systemd/system').isDirectory();
  } catch {
    return false;
  }
}

export function requireSystemd(): void {
  if (!systemdRunning())
    throw new HuskError(
      `${FLAG}: systemd is not running on this host (no /run/systemd/system): use the cgroupfs driver (leave out ${FLAG})`,
    );
}

// The user's systemd for anyone but root, and for root inside a user namespace (rootless
// podman runs its runtime so, with the user's bus in its environment), as runc decides it.
export function usesUserManager(euid: number, inUserNs: () => boolean): boolean {
  return euid !== 0 || inUserNs();
}
const userManager = () => usesUserManager(process.geteuid?.() ?? 0, runningInUserNs);

// The system bus for root, else the user's own bus (where the user's systemd is), as sd-bus
// finds them.
export function busAddress(user = userManager()): string {
  if (!user) return process.env.DBUS_SYSTEM_BUS_ADDRESS || 'unix:path=/run/dbus/system_bus_socket';
  if (process.env.DBUS_SESSION_BUS_ADDRESS) return process.env.DBUS_SESSION_BUS_ADDRESS;
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (!xdg)
    throw new HuskError(
      `${FLAG}: cannot find the user's systemd: neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set`,
    );
  return `unix:path=${path.join(xdg, 'bus')}`;
}

let loaded: DriverModule | undefined;
function driver(): DriverModule {
  if (loaded) return loaded;
  const file = path.join(__dirname, 'systemd.js');
  const load = globalThis.__huskLoadCached;
  // The CLI bundle has the module as dist/systemd.js beside it; the tsc build as a directory.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded = (load && fs.existsSync(file) ? load(file) : require('./systemd')) as DriverModule;
  return loaded;
}

function transport(): Transport {
  const n = native();
  return {
    connect: (p) => n.connectUnix(p),
    readWithin: (fd, ms) => n.readWithin(fd, ms),
    write: (fd, data) => {
      for (let off = 0; off < data.length;) off += fs.writeSync(fd, data, off);
    },
    close: (fd) => fs.closeSync(fd),
  };
}

function withManager<T>(user: boolean, what: string, fn: (m: Manager) => T): T {
  const address = busAddress(user);
  let m: Manager;
  try {
    m = driver().SystemdManager.connect({
      io: transport(),
      address,
      uid: hostUid(process.geteuid?.() ?? 0),
      timeoutMs: TIMEOUT_MS,
    });
  } catch (e) {
    throw new HuskError(`${FLAG}: cannot talk to systemd at ${address}: ${(e as Error).message}`);
  }
  try {
    return fn(m);
  } catch (e) {
    throw new HuskError(`${FLAG}: ${what}: ${(e as Error).message}`);
  } finally {
    m.close();
  }
}

// Where the systemd instance's units live: for the system one, PID 1's cgroup without its
// init.scope (the root on a host booted with systemd); a user's instance says where it is.
export function systemdDriver(): SystemdDriver {
  requireSystemd();
  if (userManager()) {
    const base = withManager(true, 'read its ControlGroup', (m) => String(m.managerProperty('ControlGroup')));
    return { base, userManager: true };
  }
  // No /proc/1 to read: the root.
  const base = cgroupOf(1, 'name=systemd') ?? cgroupOf(1, '') ?? '/';
  return { base: base.replace(/\/init\.scope$/, '') || '/', userManager: false };
}

function toProperties(props: UnitProperty[], version: number): [string, { type: string; value: unknown }][] {
  return props
    .filter((p) => !p.minVersion || version >= p.minVersion)
    .map((p) => [p.name, { type: p.type, value: p.value }]);
}

// systemd before 240 reads DeviceAllow names differently (plan/systemd-devices.ts): whole
// majors by their /proc/devices group, single devices only if the node exists.
function deviceAllowForOldSystemd(props: UnitProperty[], warnings: string[]): UnitProperty[] {
  return props.map((p) => {
    if (p.name !== 'DeviceAllow' || !(p.value as DeviceAllowEntry[]).length) return p;
    let procDevices = '';
    try {
      procDevices = fs.readFileSync('/proc/devices', 'utf8');
    } catch {
      /* no /proc: every whole-major entry is left out, with a warning each */
    }
    const r = forOldSystemd(p.value as DeviceAllowEntry[], procDevices, (f) => fs.existsSync(f));
    warnings.push(...r.warnings);
    return { ...p, value: r.entries };
  });
}

// Makes the container's unit with the init in it (a scope gets it through PIDs; a slice cannot
// hold one, so the caller's cgroupfs join puts it there) and waits until systemd is done.
// Returns what the caller should warn about.
export function startUnit(plan: CgroupPlan, pid: number, user: boolean): string[] {
  const sd = plan.systemd!;
  const warnings: string[] = [];
  withManager(user, `start ${sd.unit}`, (m) => {
    const needVersion = sd.properties.some((p) => p.minVersion || p.name === 'DeviceAllow');
    const version = needVersion ? m.version() : Infinity;
    // An unknown version (-1) is taken as old, the careful reading.
    const adapted = version < 240 ? deviceAllowForOldSystemd(sd.properties, warnings) : sd.properties;
    const props = toProperties(adapted, version);
    if (!sd.isSlice) props.push(['PIDs', { type: 'au', value: [pid] }]);
    m.startTransientUnit(sd.unit, props);
  });
  return warnings;
}

export function stopUnit(rec: SystemdRecord): void {
  withManager(rec.userManager, `stop ${rec.unit}`, (m) => m.stopUnit(rec.unit));
}

// update: the unit's properties too, so systemd does not undo the new limits later.
export function setUnitProperties(rec: SystemdRecord, props: UnitProperty[]): void {
  if (!props.length) return;
  withManager(rec.userManager, `set properties of ${rec.unit}`, (m) =>
    m.setUnitProperties(
      rec.unit,
      toProperties(props, props.some((p) => p.minVersion) ? m.version() : Infinity),
    ),
  );
}

// features: true only when systemd is running and answers on its bus.
export function systemdWorks(user: boolean): boolean {
  if (!systemdRunning()) return false;
  try {
    const m = driver().SystemdManager.connect({
      io: transport(),
      address: busAddress(user),
      uid: process.geteuid?.() ?? 0,
      timeoutMs: 1000,
    });
    try {
      return m.version() > 0;
    } finally {
      m.close();
    }
  } catch {
    return false;
  }
}
