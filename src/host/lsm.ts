// Which Linux security modules this host has, from the files the kernel exposes; read through
// a small facts interface so the decision is unit-tested against fake hosts.
//   AppArmor: the module says "Y" in /sys/module/apparmor/parameters/enabled and its securityfs
//     directory is there (/sys/kernel/security/apparmor), as runc's apparmor.IsEnabled checks.
//   SELinux: selinuxfs is mounted (at /sys/fs/selinux, or wherever mountinfo says) with its
//     enforce file, as go-selinux's GetEnabled looks for it.
export interface LsmHost {
  exists(path: string): boolean;
  read(path: string): string; // '' when unreadable
  mountinfo(): string;
}

export function detectLsm(h: LsmHost): { apparmor: boolean; selinux: boolean } {
  const apparmor =
    h.read('/sys/module/apparmor/parameters/enabled').trim().startsWith('Y') &&
    h.exists('/sys/kernel/security/apparmor');
  return { apparmor, selinux: selinuxMount(h) !== null };
}

function selinuxMount(h: LsmHost): string | null {
  if (h.exists('/sys/fs/selinux/enforce')) return '/sys/fs/selinux';
  for (const line of h.mountinfo().split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0 || line.slice(sep + 3).split(' ')[0] !== 'selinuxfs') continue;
    const mp = line.slice(0, sep).split(' ')[4]?.replace(/\\040/g, ' ');
    if (mp && h.exists(`${mp}/enforce`)) return mp;
  }
  return null;
}
