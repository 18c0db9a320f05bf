// Identity and privileges: bounding set, uid/gid/groups, capability sets, no_new_privs, seccomp.
// Order (as runc): bounding set while still privileged, keep caps across the uid switch, then
// set the final effective/permitted/inheritable and ambient sets.
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "init.h"

static int last_cap() {
  int last = CAP_LAST_CAP;
  while (last < 63 && prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0) last++;
  return last;
}

void op_caps_bounding(plan_reader *r) {
  uint64_t keep = rd_u64(r);
  int last = last_cap();
  for (int c = 0; c <= last; c++) {
    if (keep & (1ULL << c)) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL) die(errno, "drop capability %d from the bounding set", c);
  }
}

void op_keep_caps(plan_reader *) {
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) die(errno, "PR_SET_KEEPCAPS");
}

void op_creds(plan_reader *r) {
  uint32_t uid = rd_u32(r);
  uint32_t gid = rd_u32(r);
  uint32_t n = rd_u32(r);
  if (n > 65536) die(EINVAL, "too many additional groups");
  gid_t *groups = (gid_t *)calloc(n ? n : 1, sizeof(gid_t));
  for (uint32_t i = 0; i < n; i++) groups[i] = rd_u32(r);
  uint32_t set_groups = rd_u32(r);
  // setgroups is refused in a user namespace whose gid map was written with setgroups=deny.
  if (set_groups && setgroups(n, groups) < 0) die(errno, "setgroups");
  if (setresgid(gid, gid, gid) < 0) die(errno, "setgid %u", gid);
  if (setresuid(uid, uid, uid) < 0) die(errno, "setuid %u", uid);
  free(groups);
}

void op_caps_set(plan_reader *r) {
  uint64_t eff = rd_u64(r), perm = rd_u64(r), inh = rd_u64(r), amb = rd_u64(r);
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  data[0].effective = (uint32_t)eff;
  data[1].effective = (uint32_t)(eff >> 32);
  data[0].permitted = (uint32_t)perm;
  data[1].permitted = (uint32_t)(perm >> 32);
  data[0].inheritable = (uint32_t)inh;
  data[1].inheritable = (uint32_t)(inh >> 32);
  if (syscall(SYS_capset, &hdr, data) < 0) die(errno, "capset");
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (int c = 0; c < 64; c++) {
    if (!(amb & (1ULL << c))) continue;
    // Ambient needs the cap in both permitted and inheritable; runc ignores the failure likewise.
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
  }
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
}

void op_seccomp(plan_reader *r) {
  uint32_t flags = rd_u32(r);
  uint32_t len;
  const uint8_t *prog = rd_bytes(r, &len);
  if (len % sizeof(struct sock_filter)) die(EINVAL, "seccomp program size %u", len);
  if (len / sizeof(struct sock_filter) > BPF_MAXINSNS)
    die(E2BIG, "seccomp program of %u instructions (the kernel takes %d)", (unsigned)(len / sizeof(struct sock_filter)), BPF_MAXINSNS);
  struct sock_fprog fprog;
  fprog.len = (unsigned short)(len / sizeof(struct sock_filter));
  fprog.filter = (struct sock_filter *)prog;
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
  // Kernels that lack an optional flag refuse them all; the listener is not optional.
  uint32_t needed = flags & SECCOMP_FILTER_FLAG_NEW_LISTENER;
  if (rc < 0 && errno == EINVAL && flags != needed) rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, needed, &fprog);
  if (rc < 0) die(errno, "load seccomp filter");
  if (needed) hand_over_listener((int)rc);
}
