// AppArmor and SELinux: the exec label is written to the container's procfs just before exec
// (the kernel applies it at execve). Asked for on a host without the LSM, it is an error, not
// a silently unconfined container.
import { HuskError } from '../errors';
import type { HostFacts } from '../host/probe';
import type { Process, Spec } from '../spec/types';
import { op, type Op } from './ops';

export function planLsm(
  p: Process | undefined,
  spec: Spec | null,
  host: Pick<HostFacts, 'apparmor' | 'selinux'>,
): Op[] {
  const ops: Op[] = [];
  if (p?.apparmorProfile) {
    if (!host.apparmor)
      throw new HuskError(
        `/process/apparmorProfile: "${p.apparmorProfile}" asked for, but AppArmor is not enabled on this host`,
      );
    ops.push(
      op('PROC_WRITE', '/process/apparmorProfile', { profile: p.apparmorProfile }, [
        { str: '/proc/self/attr/apparmor/exec' },
        { str: `exec ${p.apparmorProfile}` },
      ]),
    );
  }
  if (p?.selinuxLabel) {
    if (!host.selinux)
      throw new HuskError(
        `/process/selinuxLabel: "${p.selinuxLabel}" asked for, but SELinux is not enabled on this host`,
      );
    ops.push(
      op('PROC_WRITE', '/process/selinuxLabel', { label: p.selinuxLabel }, [
        { str: '/proc/self/attr/exec' },
        { str: p.selinuxLabel },
      ]),
    );
  }
  if (spec?.linux?.mountLabel && !host.selinux)
    throw new HuskError(
      `/linux/mountLabel: "${spec.linux.mountLabel}" asked for, but SELinux is not enabled on this host`,
    );
  return ops;
}
