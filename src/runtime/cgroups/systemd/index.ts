// The systemd cgroup driver's D-Bus side, bundled on its own (dist/systemd.js) and loaded only
// when --systemd-cgroup is used, so other calls do not pay for reading and compiling it.
export { BusConnection, DBusError, socketFromAddress, type Transport } from './dbus-connection';
export {
  decodeMessage,
  encodeMessage,
  messageLength,
  MESSAGE,
  Reader,
  splitSignature,
  variant,
  Writer,
  type Message,
  type Variant,
} from './dbus-wire';
export { SystemdManager, type Property } from './manager';
