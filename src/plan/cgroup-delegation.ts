// Rootless cgroups: which of the planned cgroup directories the caller may use. A hierarchy is
// usable when the caller can write where the container's directory goes (a cgroup delegated to
// it, e.g. chowned to it as systemd does); the others are left out. Limits aimed at a hierarchy
// left out are an error, as is a cgroupsPath none of whose hierarchies is usable (runc's
// cgroupfs driver behaves the same). Device rules are left to the user namespace, as in runc:
// attaching them needs privileges the caller does not have. Pure: the caller's access is a
// predicate.
import { HuskError } from '../errors';
import type { CgroupPlan } from './cgroups';

export interface CallerAccess {
  uid: number;
  // Whether the caller may make (or, if it exists, join) the cgroup directory `dir`.
  canUse(dir: string): boolean;
  // Root outside a user namespace (`--rootless true` by hand) keeps its device rules: only a
  // caller that cannot attach them leaves devices to the user namespace.
  keepDeviceRules?: boolean;
}

export interface FittedCgroups {
  plan: CgroupPlan | null;
  warnings: string[];
  notes: string[]; // debug-level: hierarchies left out next to usable ones
}

export function fitCgroupsToCaller(
  plan: CgroupPlan,
  caller: CallerAccess,
  explicitPath: string | undefined,
): FittedCgroups {
  const usable = new Set(plan.dirs.filter((d) => caller.canUse(d)));
  const keepDevices = !!caller.keepDeviceRules;
  const writes = keepDevices
    ? plan.writes
    : plan.writes.filter((w) => !/^devices\.(allow|deny)$/.test(w.file));
  const blocked = writes.find((w) => !usable.has(w.dir));
  if (blocked)
    throw new HuskError(
      `${blocked.from}: ${blocked.file} needs the cgroup ${blocked.dir}, which uid ${caller.uid} cannot create or join (not delegated to this user)`,
    );
  if (usable.size === 0) {
    if (explicitPath)
      throw new HuskError(
        `/linux/cgroupsPath: uid ${caller.uid} cannot create or join ${plan.dirs[0]} (not delegated to this user): give a cgroupsPath below a cgroup delegated to you, or none`,
      );
    return {
      plan: null,
      warnings: [
        `rootless: no delegated cgroup at ${plan.dirs[0]}: the container runs without cgroups of its own`,
      ],
      notes: [],
    };
  }
  const left = plan.dirs.filter((d) => !usable.has(d));
  const unifiedDir = plan.unifiedDir && usable.has(plan.unifiedDir) ? plan.unifiedDir : null;
  return {
    plan: {
      ...plan,
      dirs: plan.dirs.filter((d) => usable.has(d)),
      v1: plan.v1.filter((h) => usable.has(h.dir)),
      unifiedDir,
      unifiedControllers: unifiedDir ? plan.unifiedControllers : [],
      writes,
      devicesProgram: keepDevices ? plan.devicesProgram : null,
    },
    warnings: [],
    notes: left.length
      ? [`rootless: cgroups not delegated to uid ${caller.uid}, left out: ${left.join(', ')}`]
      : [],
  };
}
