// AppArmor and SELinux: the exec label is written to the container's procfs just before exec
// (the kernel applies it at execve). Asked for on a host without the LSM, it is an error, not
// a silently unconfined container.
import { HuskError } from '../errors';
import type { HostFacts } from '../host/probe';
import type { Process, Spec } from '../spec/types';
import { op, type Op } from './ops';

// Where each label came from, for errors: the config's pointer, or an exec flag.
export interface LsmSources {
  apparmorProfile?: string;
  selinuxLabel?: string;
}

export function planLsm(
  p: Process | undefined,
  spec: Spec | null,
  host: Pick<HostFacts, 'apparmor' | 'selinux'>,
  from: LsmSources = {},
): Op[] {
  const ops: Op[] = [];
  const aaFrom = from.apparmorProfile ?? '/process/apparmorProfile';
  const seFrom = from.selinuxLabel ?? '/process/selinuxLabel';
  if (p?.apparmorProfile) {
    if (!host.apparmor)
      throw new HuskError(
        `${aaFrom}: "${p.apparmorProfile}" asked for, but AppArmor is not enabled on this host`,
      );
    ops.push(
      op(
        'PROC_WRITE',
        aaFrom,
        { profile: p.apparmorProfile },
        { path: '/proc/self/attr/apparmor/exec', value: `exec ${p.apparmorProfile}` },
      ),
    );
  }
  if (p?.selinuxLabel) {
    if (!host.selinux)
      throw new HuskError(
        `${seFrom}: "${p.selinuxLabel}" asked for, but SELinux is not enabled on this host`,
      );
    ops.push(
      op(
        'PROC_WRITE',
        seFrom,
        { label: p.selinuxLabel },
        { path: '/proc/self/attr/exec', value: p.selinuxLabel },
      ),
    );
  }
  if (spec?.linux?.mountLabel && !host.selinux)
    throw new HuskError(
      `/linux/mountLabel: "${spec.linux.mountLabel}" asked for, but SELinux is not enabled on this host`,
    );
  return ops;
}

const ENOENT = 2;
const EINVAL = 22;

// What a failed label write means, said plainly: the kernel answers a write naming a profile
// it has not loaded with ENOENT (and a malformed SELinux context with EINVAL). null for any
// other failure, which the generic message describes well enough.
export function lsmFailure(o: Op | undefined, text: string, errno: number): string | null {
  if (!o || o.op !== 'PROC_WRITE' || !/: write /.test(text)) return null;
  if (typeof o.show.profile === 'string' && errno === ENOENT)
    return `${o.from}: AppArmor profile "${o.show.profile}" is not loaded (load it with apparmor_parser first): ${text}: No such file or directory`;
  if (typeof o.show.label === 'string' && errno === EINVAL)
    return `${o.from}: SELinux label "${o.show.label}" is not valid on this host: ${text}: Invalid argument`;
  return null;
}
