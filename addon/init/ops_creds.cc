// Identity and privileges: bounding set, uid/gid/groups, capability sets, no_new_privs, seccomp.
// Order (as runc): bounding set while still privileged, keep caps across the uid switch, then
// set the final effective/permitted/inheritable and ambient sets.
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
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
  const op_caps_bounding_args a = rd_op_caps_bounding(r);
  int last = last_cap();
  for (int c = 0; c <= last; c++) {
    if (a.keep & (1ULL << c)) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL) die(errno, "drop capability %d from the bounding set", c);
  }
}

void op_keep_caps(plan_reader *) {
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) die(errno, "PR_SET_KEEPCAPS");
}

void op_creds(plan_reader *r) {
  const op_creds_args a = rd_op_creds(r);
  uint32_t n = a.groups_n;
  gid_t *groups = (gid_t *)calloc(n ? n : 1, sizeof(gid_t));
  for (uint32_t i = 0; i < n; i++) {
    uint32_t v;
    memcpy(&v, a.groups + 4 * (size_t)i, 4);
    groups[i] = v;
  }
  // setgroups is refused in a user namespace whose gid map was written with setgroups=deny.
  if (a.set_groups && setgroups(n, groups) < 0) die(errno, "setgroups");
  if (setresgid(a.gid, a.gid, a.gid) < 0) die(errno, "setgid %u", a.gid);
  if (setresuid(a.uid, a.uid, a.uid) < 0) die(errno, "setuid %u", a.uid);
  free(groups);
}

void op_caps_set(plan_reader *r) {
  const op_caps_set_args a = rd_op_caps_set(r);
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  data[0].effective = (uint32_t)a.effective;
  data[1].effective = (uint32_t)(a.effective >> 32);
  data[0].permitted = (uint32_t)a.permitted;
  data[1].permitted = (uint32_t)(a.permitted >> 32);
  data[0].inheritable = (uint32_t)a.inheritable;
  data[1].inheritable = (uint32_t)(a.inheritable >> 32);
  if (syscall(SYS_capset, &hdr, data) < 0) die(errno, "capset");
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (int c = 0; c < 64; c++) {
    if (!(a.ambient & (1ULL << c))) continue;
    // Ambient needs the cap in both permitted and inheritable; runc ignores the failure likewise.
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
  }
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
}

void op_seccomp(plan_reader *r) {
  const op_seccomp_args a = rd_op_seccomp(r);
  uint32_t flags = a.flags, len = a.program_n;
  const uint8_t *prog = a.program;
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
