// Device nodes and /dev links: the defaults every container gets (as runc) and linux.devices.
import { HuskError } from '../errors';
import { op, type Op } from './ops';
import type { Spec } from '../spec/types';

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

const DEFAULT_DEVICES = [
  { path: '/dev/null', major: 1, minor: 3 },
  { path: '/dev/zero', major: 1, minor: 5 },
  { path: '/dev/full', major: 1, minor: 7 },
  { path: '/dev/random', major: 1, minor: 8 },
  { path: '/dev/urandom', major: 1, minor: 9 },
  { path: '/dev/tty', major: 5, minor: 0 },
];

// A device rule's access as the cgroup takes it: the r, w and m it names, once each. runc
// 1.1.5 reads the string the same way, so an `a` (docker-style "all") adds nothing there
// either; the schema refuses any other letter.
export function deviceAccess(access: string | undefined): string {
  if (access === undefined) return 'rwm';
  return [...'rwm'].filter((c) => access.includes(c)).join('');
}

// Linux's dev_t layout (glibc makedev).
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

export function planDevices(spec: Spec, opts: { kcore: boolean; rootUid: number; rootGid: number }): Op[] {
  const ops: Op[] = [];
  const given = new Set((spec.linux?.devices ?? []).map((d) => d.path));
  for (const d of DEFAULT_DEVICES) {
    if (given.has(d.path)) continue;
    ops.push(
      op(
        'MKNOD',
        '/linux/devices (defaults)',
        { path: d.path, type: 'c', major: d.major, minor: d.minor },
        {
          path: d.path,
          mode: S_IFCHR | 0o666,
          rdev: makedev(d.major, d.minor),
          uid: opts.rootUid,
          gid: opts.rootGid,
        },
      ),
    );
  }
  (spec.linux?.devices ?? []).forEach((d, i) => {
    const from = `/linux/devices/${i}`;
    if (!d.path.startsWith('/')) throw new HuskError(`${from}/path: "${d.path}" must be absolute`);
    if (d.path.split('/').includes('..'))
      throw new HuskError(`${from}/path: "${d.path}" must not contain ".."`);
    const type = d.type === 'b' ? S_IFBLK : d.type === 'p' ? S_IFIFO : S_IFCHR;
    if (d.type !== 'p' && (d.major === undefined || d.minor === undefined))
      throw new HuskError(`${from}: a "${d.type}" device needs major and minor`);
    ops.push(
      op(
        'MKNOD',
        from,
        { path: d.path, type: d.type, major: d.major, minor: d.minor },
        {
          path: d.path,
          mode: type | ((d.fileMode ?? 0o666) & 0o7777),
          rdev: makedev(d.major ?? 0, d.minor ?? 0),
          uid: d.uid ?? opts.rootUid,
          gid: d.gid ?? opts.rootGid,
        },
      ),
    );
  });
  const links: [string, string][] = [
    ['/proc/self/fd', '/dev/fd'],
    ['/proc/self/fd/0', '/dev/stdin'],
    ['/proc/self/fd/1', '/dev/stdout'],
    ['/proc/self/fd/2', '/dev/stderr'],
  ];
  if (opts.kcore) links.push(['/proc/kcore', '/dev/core']);
  for (const [target, link] of links)
    ops.push(op('SYMLINK', '/linux/devices (defaults)', { target, link }, { target, linkpath: link }));
  return ops;
}
