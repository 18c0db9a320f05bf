// The calls the systemd cgroup driver makes on org.freedesktop.systemd1.Manager: make a
// transient unit holding the container's init and wait for its job, stop it, read a property.
import { BusConnection, DBusError, socketFromAddress, type Transport } from './dbus-connection';
import { MESSAGE, variant, type Message, type Variant } from './dbus-wire';

const DEST = 'org.freedesktop.systemd1';
const PATH = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';

export interface ManagerOptions {
  io: Transport;
  address: string; // a D-Bus address (unix:path=…)
  uid: number;
  timeoutMs: number; // for each call, and for each job to finish
}

export type Property = [string, Variant];

export class SystemdManager {
  private constructor(
    private bus: BusConnection,
    private timeoutMs: number,
  ) {}

  static connect(o: ManagerOptions): SystemdManager {
    const bus = BusConnection.open(o.io, socketFromAddress(o.address), o.uid, o.timeoutMs);
    try {
      const m = new SystemdManager(bus, o.timeoutMs);
      // Job signals reach only clients that asked for them: a match rule for the bus, and
      // Subscribe for systemd, which otherwise may not send them at all.
      m.callBus('AddMatch', 's', [
        `type='signal',sender='${DEST}',path='${PATH}',interface='${MANAGER}',member='JobRemoved'`,
      ]);
      m.callManager('Subscribe', '', []);
      return m;
    } catch (e) {
      bus.close();
      throw e;
    }
  }

  close(): void {
    this.bus.close();
  }

  private callBus(member: string, signature: string, body: unknown[]): Message {
    return this.bus.call(
      {
        type: MESSAGE.METHOD_CALL,
        destination: 'org.freedesktop.DBus',
        path: '/org/freedesktop/DBus',
        interface: 'org.freedesktop.DBus',
        member,
        signature,
        body,
      },
      this.timeoutMs,
    );
  }

  private callManager(member: string, signature: string, body: unknown[]): Message {
    return this.bus.call(
      {
        type: MESSAGE.METHOD_CALL,
        destination: DEST,
        path: PATH,
        interface: MANAGER,
        member,
        signature,
        body,
      },
      this.timeoutMs,
    );
  }

  managerProperty(name: string): unknown {
    const r = this.bus.call(
      {
        type: MESSAGE.METHOD_CALL,
        destination: DEST,
        path: PATH,
        interface: 'org.freedesktop.DBus.Properties',
        member: 'Get',
        signature: 'ss',
        body: [MANAGER, name],
      },
      this.timeoutMs,
    );
    return (r.body?.[0] as Variant | undefined)?.value;
  }

  // "252.22-1~deb12u1" → 252; -1 when systemd says something else.
  version(): number {
    const v = /^v?(\d+)/.exec(String(this.managerProperty('Version') ?? ''));
    return v ? Number(v[1]) : -1;
  }

  private waitJob(job: string, unit: string, what: string): string {
    const m = this.bus.waitSignal(
      (s) => s.interface === MANAGER && s.member === 'JobRemoved' && s.body?.[1] === job,
      this.timeoutMs,
    );
    if (!m) throw new Error(`systemd did not ${what} ${unit} within ${this.timeoutMs} ms`);
    return String(m.body?.[3]);
  }

  private resetFailed(unit: string): void {
    try {
      this.callManager('ResetFailedUnit', 's', [unit]);
    } catch {
      /* not failed, or gone: nothing to reset */
    }
  }

  // A unit of this name may be a failed leftover: reset it and try once more, as runc does.
  startTransientUnit(unit: string, properties: Property[]): void {
    let reply: Message;
    try {
      reply = this.callManager('StartTransientUnit', 'ssa(sv)a(sa(sv))', [unit, 'replace', properties, []]);
    } catch (e) {
      if (!(e instanceof DBusError) || e.errorName !== 'org.freedesktop.systemd1.UnitExists') throw e;
      this.resetFailed(unit);
      reply = this.callManager('StartTransientUnit', 'ssa(sv)a(sa(sv))', [unit, 'replace', properties, []]);
    }
    const result = this.waitJob(String(reply.body?.[0]), unit, 'start');
    if (result !== 'done') {
      this.resetFailed(unit);
      throw new Error(`systemd could not start ${unit}: job ${result}`);
    }
  }

  // Stops the unit and waits for it; a unit that is already gone is what we wanted.
  stopUnit(unit: string): void {
    let reply: Message;
    try {
      reply = this.callManager('StopUnit', 'ss', [unit, 'replace']);
    } catch (e) {
      if (e instanceof DBusError && e.errorName === 'org.freedesktop.systemd1.NoSuchUnit') return;
      throw e;
    }
    const result = this.waitJob(String(reply.body?.[0]), unit, 'stop');
    this.resetFailed(unit);
    if (result !== 'done' && result !== 'skipped')
      throw new Error(`systemd could not stop ${unit}: job ${result}`);
  }

  setUnitProperties(unit: string, properties: Property[]): void {
    this.callManager('SetUnitProperties', 'sba(sv)', [unit, true, properties]);
  }
}

export { variant };
