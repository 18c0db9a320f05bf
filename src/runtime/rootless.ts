// `--rootless true|false|auto`, as runc reads it: whether cgroups are handled as an unprivileged
// caller's (only where delegated, device rules left to the user namespace) or as root's.
import fs = require('node:fs');
import { HuskError } from '../errors';

export type RootlessFlag = boolean | 'auto';

// Go's strconv.ParseBool spellings, plus "auto" (or nothing) for auto-detection, as runc.
const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

export function parseRootlessFlag(value: string | boolean | undefined): RootlessFlag {
  if (typeof value === 'boolean') return value;
  if (value === undefined || value === '' || value === 'auto') return 'auto';
  if (TRUE.has(value)) return true;
  if (FALSE.has(value)) return false;
  throw new HuskError(`--rootless: "${value}" is not true, false or auto`);
}

// auto: anyone but root is rootless; root is too inside a user namespace other than the
// host's, where the cgroupfs it sees is usually not its own to change.
export function resolveRootless(flag: RootlessFlag, euid: number, inUserNs: () => boolean): boolean {
  if (flag !== 'auto') return flag;
  if (euid !== 0) return true;
  return inUserNs();
}

// The initial user namespace maps every id onto itself.
export function runningInUserNs(uidMap?: string): boolean {
  let text = uidMap;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/self/uid_map', 'utf8');
    } catch {
      return false;
    }
  }
  const lines = text.trim().split('\n');
  return !(lines.length === 1 && lines[0].trim().split(/\s+/).join(' ') === '0 0 4294967295');
}
