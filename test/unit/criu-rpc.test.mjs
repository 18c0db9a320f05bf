// The protobuf codec of criu's RPC (src/criu/proto.ts, rpc.ts): the bytes are the reference
// protobuf library's for the same messages (python3-protobuf with criu's own rpc_pb2, run once
// by hand; the hex is pasted here), so a field number or a wire type wrong is seen here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { load } from './helpers.mjs';

const rpc = load('criu/rpc.js');
const proto = load('criu/proto.js');
const policy = load('criu/policy.js');

const DUMP_REQ =
  '08011279080410d2094804520864756d702e6c6f676a022f72ba010e0a052f6461746112052f64617461ba01180a0b2f70726f632f6b636f726512092f6465762f6e756c6cc00101900203aa021c6e65745b343032363533313834305d3a657874526f6f744e65744e53b00280808080048803ffffffffffffffffff01';
const RESP =
  '080210002202084d2a100a0c706f73742d726573746f7265104d38eaffffffffffffffff014a036261645206080310112001';

test('a dump request encodes as protobuf does (varints, negative int32, nested, repeated)', () => {
  const buf = rpc.encodeReq({
    type: rpc.REQ.DUMP,
    opts: {
      images_dir_fd: 4,
      pid: 1234,
      log_level: 4,
      log_file: 'dump.log',
      root: '/r',
      manage_cgroups: true,
      ext_mnt: [
        { key: '/data', val: '/data' },
        { key: '/proc/kcore', val: '/dev/null' },
      ],
      external: ['net[4026531840]:extRootNetNS'],
      manage_cgroups_mode: rpc.CG_MODE.soft,
      empty_ns: 0x40000000,
      status_fd: -1,
    },
  });
  assert.equal(buf.toString('hex'), DUMP_REQ);
  const back = rpc.decodeReq(buf);
  assert.equal(back.opts.status_fd, -1);
  assert.deepEqual(back.opts.ext_mnt[1], { key: '/proc/kcore', val: '/dev/null' });
});

test("criu's answer decodes: failure, errno, message, restore pid, notify, version", () => {
  const r = rpc.decodeResp(Buffer.from(RESP, 'hex'));
  assert.equal(r.type, rpc.REQ.RESTORE);
  assert.equal(r.success, false);
  assert.equal(r.cr_errno, -22);
  assert.equal(r.cr_errmsg, 'bad');
  assert.deepEqual(r.restore, { pid: 77 });
  assert.deepEqual(r.notify, { script: 'post-restore', pid: 77 });
  assert.deepEqual(r.version, { major_number: 3, minor_number: 17, sublevel: 1 });
});

test('unknown fields are skipped, truncated input is an error', () => {
  // field 15 (varint 5) and field 20 (length 2), neither in criu_resp, then type = 1.
  const buf = Buffer.from([0x78, 0x05, 0xa2, 0x01, 0x02, 0x61, 0x62, 0x08, 0x01]);
  assert.deepEqual(rpc.decodeResp(buf), { type: 1 });
  assert.throws(() => rpc.decodeResp(Buffer.from([0x4a, 0x05, 0x61])), /truncated/);
  assert.throws(() => proto.encode({}, { nosuch: 1 }), /no field nosuch/);
});

test('policy: bind mounts and masked files external, pipes inherited, --empty-ns and cgroup modes', () => {
  const spec = {
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/data', type: 'bind', source: 'vol', options: ['rbind'] },
      { destination: '/etc/hosts', source: '/h', options: ['bind', 'ro'] },
    ],
    linux: { maskedPaths: ['/proc/kcore'] },
  };
  assert.deepEqual(policy.restoreMounts(spec, '/b', '/nonexistent-rootfs'), [
    { key: '/data', val: '/b/vol' },
    { key: '/etc/hosts', val: '/h' },
    { key: '/dev/null', val: '/dev/null' },
  ]);
  assert.deepEqual(policy.inheritedStdio(['/dev/null', 'pipe:[12]', 'pipe:[13]']), [
    { key: 'pipe:[12]', fd: 1 },
    { key: 'pipe:[13]', fd: 2 },
  ]);
  // A cgroup2 bind (no cgroup namespace) is external, mapped to the new container's directory.
  const cg = { mounts: [{ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup' }], linux: {} };
  assert.equal(policy.cgroupBinds(cg, true), true);
  assert.equal(policy.cgroupBinds({ ...cg, linux: { namespaces: [{ type: 'cgroup' }] } }, true), false);
  assert.equal(policy.cgroupBinds(cg, false), false);
  assert.deepEqual(policy.dumpMounts(cg, process.pid, '/nonexistent-rootfs', true), [
    { key: '/sys/fs/cgroup', val: '/sys/fs/cgroup' },
  ]);
  assert.deepEqual(policy.restoreMounts(cg, '/b', '/nonexistent-rootfs', '/sys/fs/cgroup/husk/new'), [
    { key: '/sys/fs/cgroup', val: '/sys/fs/cgroup/husk/new' },
  ]);
  assert.equal(policy.emptyNsMask(['network']), 0x40000000);
  assert.throws(() => policy.emptyNsMask(['pid']), /only network/);
  assert.throws(() => policy.emptyNsMask(['nosuch']), /--empty-ns nosuch/);
  assert.equal(policy.cgroupsMode('strict'), 5);
  assert.throws(() => policy.cgroupsMode('loose'), /--manage-cgroups-mode loose/);
  assert.equal(policy.criuConfigFile({ annotations: { 'org.criu.config': '/etc/my.conf' } }), '/etc/my.conf');
  assert.equal(policy.criuConfigFile({ annotations: { 'org.criu.config': '' } }), undefined);
});

// runc's "checkpoint and restore (bind mount, destination is symlink)": the mount is named where
// it is, the link's target inside the rootfs.
test('a bind destination through symlinks is named by its target inside the rootfs', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'husk-inroot-'));
  try {
    fs.mkdirSync(path.join(root, 'real', 'conf'), { recursive: true });
    fs.symlinkSync('/real/conf', path.join(root, 'conf'));
    fs.symlinkSync('../../../real', path.join(root, 'up')); // ".." stops at the root
    fs.symlinkSync('conf', path.join(root, 'rel'));
    fs.symlinkSync('/nowhere/x', path.join(root, 'dangling'));
    fs.symlinkSync('loop', path.join(root, 'loop'));
    const { resolveInRoot } = load('criu/in-root.js');
    assert.equal(resolveInRoot(root, '/conf'), '/real/conf');
    assert.equal(resolveInRoot(root, '/up/conf/x'), '/real/conf/x');
    assert.equal(resolveInRoot(root, '/rel/./a/../b'), '/real/conf/b');
    assert.equal(resolveInRoot(root, '/dangling/y'), '/nowhere/x/y');
    assert.equal(resolveInRoot(root, '/data'), '/data');
    assert.throws(() => resolveInRoot(root, '/loop'), /too many levels of symbolic links/);
    const spec = {
      mounts: [{ destination: '/conf', type: 'bind', source: 'c', options: ['bind'] }],
      linux: {},
    };
    assert.deepEqual(policy.dumpMounts(spec, process.pid, root), [{ key: '/real/conf', val: '/real/conf' }]);
    assert.deepEqual(policy.restoreMounts(spec, '/b', root), [{ key: '/real/conf', val: '/b/c' }]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
