// `--rootless true|false|auto`, as runc reads it: whether cgroups are handled as an unprivileged
// caller's (only where delegated, device rules left to the user namespace) or as root's.
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
