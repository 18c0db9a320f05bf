// The container's device rules as systemd unit properties (DevicePolicy, DeviceAllow), as
// runc's systemd driver sends them. Without them a daemon-reload of a real systemd rewrites
// the unit's device cgroup from its own (empty) view and opens or closes devices behind our
// back. husk still writes the rules itself afterwards (devices.allow/deny on v1, the eBPF
// program on v2), so what systemd cannot express is only missing from systemd's copy.
import { HuskError } from '../errors';
import type { DeviceRule } from '../spec/types';

// A device rule with the config entry it comes from, for errors and warnings.
export interface SourcedRule {
  rule: DeviceRule;
  from: string;
}

// DeviceAllow is a(ss): a path or a device group glob, and the access ("rwm" letters).
export type DeviceAllowEntry = [string, string];

export interface DeviceProperties {
  properties: { name: string; type: string; value: unknown }[];
  warnings: string[];
}

const WILD = -1;
const PERMS = 'rwm';

// One (type, major, minor) match, a wildcard being -1; the key of the rule map.
const key = (type: string, major: number, minor: number) => `${type} ${major} ${minor}`;

function perms(access: string | undefined): Set<string> {
  return new Set([...(access || PERMS)].filter((c) => PERMS.includes(c)));
}

const permString = (p: Set<string>) => [...PERMS].filter((c) => p.has(c)).join('');

// The cgroup v1 devices controller's semantics, which runc replays to know what a list of
// rules amounts to: an "a" rule resets to allow-all (allow) or deny-all (deny); any other
// rule adds or removes an exception to the current default. Removing part of a wildcard
// exception is something the kernel silently ignores, so runc refuses it, and so do we.
class DeviceState {
  defaultAllow = false; // runc's emulator starts as a deny-all list, as systemd's "strict"
  exceptions = new Map<string, Set<string>>();

  apply({ rule, from }: SourcedRule): void {
    const type = rule.type ?? 'a';
    if (type === 'a') {
      this.defaultAllow = rule.allow;
      this.exceptions.clear();
      return;
    }
    const major = rule.major === undefined || rule.major < 0 ? WILD : rule.major;
    const minor = rule.minor === undefined || rule.minor < 0 ? WILD : rule.minor;
    const p = perms(rule.access);
    const k = key(type, major, minor);
    // An allow rule in an allow-all state, or a deny rule in a deny-all one, takes away an
    // exception; the other way round it adds one.
    if (rule.allow !== this.defaultAllow) {
      this.exceptions.set(k, new Set([...(this.exceptions.get(k) ?? []), ...p]));
      return;
    }
    for (const [mj, mn] of [
      [WILD, minor],
      [major, WILD],
      [WILD, WILD],
    ]) {
      const wide = key(type, mj, mn);
      const held = wide === k ? undefined : this.exceptions.get(wide);
      if (held && [...p].some((c) => held.has(c)))
        throw new HuskError(
          `${from}: "${describe(rule)}" would punch a hole in the wider rule "${type} ${num(mj)}:${num(mn)} ${permString(held)}", which the devices cgroup cannot do (runc refuses this too)`,
        );
    }
    const left = new Set([...(this.exceptions.get(k) ?? [])].filter((c) => !p.has(c)));
    if (left.size) this.exceptions.set(k, left);
    else this.exceptions.delete(k);
  }

  // The exceptions sorted by major, minor, type as runc sorts them, so the list is stable.
  sorted(): { type: string; major: number; minor: number; access: string }[] {
    return [...this.exceptions.entries()]
      .map(([k, p]) => {
        const [type, major, minor] = k.split(' ');
        return { type, major: Number(major), minor: Number(minor), access: permString(p) };
      })
      .sort(
        (a, b) => a.major - b.major || a.minor - b.minor || (a.type < b.type ? -1 : a.type > b.type ? 1 : 0),
      );
  }
}

const num = (n: number) => (n === WILD ? '*' : String(n));

function describe(r: DeviceRule): string {
  const n = (v: number | undefined) => (v === undefined || v < 0 ? '*' : String(v));
  return `${r.allow ? 'allow' : 'deny'} ${r.type ?? 'a'} ${n(r.major)}:${n(r.minor)} ${r.access || PERMS}`;
}

const group = (type: string) => (type === 'b' ? 'block-' : 'char-');

// The properties for a list of rules (the config's, then the defaults, as the cgroupfs
// driver applies them). Names as systemd 240 and later read them: /dev/char/M:m for one
// device, char-M for a whole major, char-* for every device of a type; older systemd needs
// them adjusted at start (forOldSystemd).
export function deviceProperties(rules: SourcedRule[]): DeviceProperties {
  const state = new DeviceState();
  for (const r of rules) state.apply(r);
  const warnings: string[] = [];
  const allow = (value: DeviceAllowEntry[]) => ({ name: 'DeviceAllow', type: 'a(ss)', value });
  if (state.defaultAllow) {
    // systemd has no deny list. Every device allowed is DevicePolicy=auto with no entries;
    // allow-all with exceptions cannot be said, and runc then has systemd deny everything
    // until its own rules (written next, as ours are) take over.
    if (!state.exceptions.size)
      return { properties: [{ name: 'DevicePolicy', type: 's', value: 'auto' }, allow([])], warnings };
    warnings.push(
      '/linux/resources/devices: systemd cannot express deny rules in an allow-all list; its unit gets DevicePolicy=strict with no devices, and husk writes the rules to the cgroup itself',
    );
    return { properties: [{ name: 'DevicePolicy', type: 's', value: 'strict' }, allow([])], warnings };
  }
  const entries: DeviceAllowEntry[] = [];
  for (const r of state.sorted()) {
    if (r.major === WILD && r.minor !== WILD) {
      warnings.push(
        `/linux/resources/devices: systemd has no form for "${r.type} *:${r.minor} ${r.access}" (any major, one minor); left out of the unit's DeviceAllow, still applied by husk to the cgroup`,
      );
      continue;
    }
    if (r.major === WILD) entries.push([`${group(r.type)}*`, r.access]);
    else if (r.minor === WILD) entries.push([`${group(r.type)}${r.major}`, r.access]);
    else entries.push([`/dev/${r.type === 'b' ? 'block' : 'char'}/${r.major}:${r.minor}`, r.access]);
  }
  // The empty DeviceAllow first clears whatever the unit had, as runc sends it.
  return {
    properties: [{ name: 'DevicePolicy', type: 's', value: 'strict' }, allow([]), allow(entries)],
    warnings,
  };
}

// systemd before 240 knows neither char-<major> nor a path it cannot stat: a whole major is
// named by its group in /proc/devices ("char-pts" for 136), and a /dev/char/M:m entry for a
// node the host lacks is dropped (systemd would ignore it with a complaint), as runc does.
export function forOldSystemd(
  entries: DeviceAllowEntry[],
  procDevices: string,
  exists: (path: string) => boolean,
): { entries: DeviceAllowEntry[]; warnings: string[] } {
  const groups = new Map<string, string>();
  let section = '';
  for (const raw of procDevices.split('\n')) {
    const line = raw.trim();
    if (line === 'Character devices:') section = 'char-';
    else if (line === 'Block devices:') section = 'block-';
    else {
      const m = /^(\d+)\s+(\S+)$/.exec(line);
      // The first name wins when a major has several.
      if (m && section && !groups.has(section + m[1])) groups.set(section + m[1], section + m[2]);
    }
  }
  const out: DeviceAllowEntry[] = [];
  const warnings: string[] = [];
  for (const [name, access] of entries) {
    if (/^(char|block)-\d+$/.test(name)) {
      const g = groups.get(name);
      if (g) out.push([g, access]);
      else
        warnings.push(
          `/linux/resources/devices: no device group for ${name} in /proc/devices, which systemd before 240 needs; left out of the unit's DeviceAllow, still applied by husk to the cgroup`,
        );
    } else if (name.startsWith('/dev/')) {
      if (exists(name)) out.push([name, access]);
    } else out.push([name, access]);
  }
  return { entries: out, warnings };
}
