// `features`: what this build of husk implements on this host (runtime-spec features.md).
// Only what works is listed: AppArmor and SELinux say whether this host has them (husk applies
// their labels where it does and refuses them where not), and the systemd driver says true only
// when systemd answers on its bus. (runc 1.1.5 says true for both LSMs on any host: its answer
// is what it was built with.)
import os = require('node:os');
import { probeHost, type HostFacts } from '../host/probe';
import { systemdWorks } from './cgroups';
import { CAPABILITIES } from '../plan/caps';
import { knownMountOptions } from '../plan/mountopts';
import { SPEC_VERSION } from '../spec/load';
import { native } from '../native';
import { SECCOMP_ACTIONS, SECCOMP_ARCHES, SECCOMP_FLAGS, SECCOMP_OPS } from '../plan/seccomp';

// Idmapped mounts (open_tree, mount_setattr MOUNT_ATTR_IDMAP) came with Linux 5.12; husk-init
// uses them, as it does mount_setattr(AT_RECURSIVE) for the recursive options.
function idmapSupported(): boolean {
  const [major, minor] = os.release().split('.').map(Number);
  return major > 5 || (major === 5 && minor >= 12);
}

export function features(host: HostFacts = probeHost()): Record<string, unknown> {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: SPEC_VERSION,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: knownMountOptions(),
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts'],
      capabilities: CAPABILITIES.slice(0, host.lastCap + 1),
      cgroup: {
        v1: true,
        v2: true,
        systemd: systemdWorks(false),
        systemdUser: systemdWorks(true),
        rdma: false,
      },
      seccomp: {
        enabled: native().seccompVersion() !== '',
        actions: [...SECCOMP_ACTIONS],
        operators: [...SECCOMP_OPS],
        archs: [...SECCOMP_ARCHES],
        knownFlags: [...SECCOMP_FLAGS],
        supportedFlags: [...SECCOMP_FLAGS].filter((f) => f !== 'SECCOMP_FILTER_FLAG_TSYNC'),
      },
      apparmor: { enabled: host.apparmor },
      selinux: { enabled: host.selinux },
      intelRdt: { enabled: false },
      mountExtensions: { idmap: { enabled: idmapSupported() } },
    },
    // runc's key, read by engines to offer checkpoint/restore: husk has both verbs (criu itself
    // is looked up when they run, as runc does).
    annotations: { 'org.opencontainers.runc.checkpoint.enabled': 'true' },
  };
}
