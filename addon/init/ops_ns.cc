// Namespaces: join by path, make new ones, and fork the container's init into a new pid ns.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <string.h>
#include <linux/sched.h>
#include <unistd.h>
#include "init.h"

void op_setns(plan_reader *r) {
  const op_setns_args a = rd_op_setns(r);
  // A /proc path through the runtime's own procfs: an exec's process enters the container's
  // cgroup namespace after its fork, inside the container's mount namespace, where /proc is the
  // container's and the init's host pid means nothing.
  int fd = strncmp(a.path, "/proc/", 6) == 0 && g.proc_fd >= 0 ? openat(g.proc_fd, a.path + 6, O_RDONLY | O_CLOEXEC)
                                                              : open(a.path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(errno, "open namespace %s", a.path);
  if (setns(fd, (int)a.nstype) < 0) die(errno, "join namespace %s", a.path);
  close(fd);
}

void op_userns(plan_reader *) {
  if (unshare(CLONE_NEWUSER) < 0) die(errno, "unshare user namespace");
  // The parent writes our uid_map/gid_map from outside, as only it can for several ranges. An
  // unprivileged parent can open /proc/<pid>/*_map only while we are dumpable (non-dumpable
  // makes those files root's): for that moment only, as runc's nsexec does.
  if (geteuid() != 0) prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  sync_stage(STAGE_USERMAP);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (setresgid(0, 0, 0) < 0) die(errno, "setresgid(0) in the new user namespace");
  if (setresuid(0, 0, 0) < 0) die(errno, "setresuid(0) in the new user namespace");
  // Becoming uid 0 in the namespace makes us dumpable again; stay closed to the container.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

void op_unshare(plan_reader *r) {
  const op_unshare_args a = rd_op_unshare(r);
  if (unshare((int)a.flags) < 0) die(errno, "unshare namespaces 0x%llx", (unsigned long long)a.flags);
}

// The init puts itself in its cgroups: a process moving its only thread (v1 `tasks`, "0") takes
// none of the kernel's global attach lock, whose first writer waits for an RCU grace period
// (several ms); the runtime writing our pid to cgroup.procs would. cgroup.procs is written
// only where no other way is open (see planCgroupJoin).
static void write_zero(const char *file) {
  int fd = open(file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) die(errno, "join cgroup: open %s", file);
  if (write(fd, "0", 1) != 1) die(errno, "join cgroup: write 0 to %s", file);
  close(fd);
}

void op_join_cgroup(plan_reader *r) { write_zero(rd_op_join_cgroup(r).file); }

static int cgroup_into_fd = -1;
static const char *cgroup_into_dir = nullptr;

void op_cgroup_into(plan_reader *r) {
  cgroup_into_dir = rd_op_cgroup_into(r).dir;
  cgroup_into_fd = open(cgroup_into_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgroup_into_fd < 0) die(errno, "open cgroup %s", cgroup_into_dir);
}

// clone(CLONE_PARENT) as fork, into the cgroup2 directory of OP_CGROUP_INTO when there is one.
// A kernel without clone3 or CLONE_INTO_CGROUP (before 5.7): this process joins it first.
static long clone_init() {
  if (cgroup_into_fd >= 0) {
    struct clone_args args = {};
    args.flags = CLONE_PARENT | CLONE_INTO_CGROUP;
    args.exit_signal = 0;  // with CLONE_PARENT the kernel wants none: the child gets ours (SIGCHLD)
    args.cgroup = (uint64_t)cgroup_into_fd;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid >= 0 || (errno != ENOSYS && errno != E2BIG && errno != EINVAL)) return pid;
    char file[4096];
    if (snprintf(file, sizeof file, "%s/cgroup.procs", cgroup_into_dir) >= (int)sizeof file)
      die(ENAMETOOLONG, "cgroup %s", cgroup_into_dir);
    write_zero(file);
  }
  return syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
}

void op_fork_init(plan_reader *) {
  // The child says nothing on the sync socket until our MSG_PID is sent: the runtime must know
  // the pid before the child's first stage (the husk server's faster replies once let an exec's
  // ready stage overtake it). It waits for this process to close its end of a pipe.
  int gate[2];
  if (pipe2(gate, O_CLOEXEC) < 0) die(errno, "pipe");
  // CLONE_PARENT makes the init a child of the runtime that spawned us (a sibling of this
  // process), so the runtime can wait for it and the engine's subreaper inherits it after.
  long pid = clone_init();
  if (pid < 0) die(errno, "clone the container init");
  if (pid == 0) {
    // Made in its cgroup by now; a later fork (exec's into the pid namespace) is a plain one.
    if (cgroup_into_fd >= 0) close(cgroup_into_fd);
    cgroup_into_fd = -1;
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    close(gate[1]);
    char c;
    ssize_t n;
    do n = read(gate[0], &c, 1);
    while (n < 0 && errno == EINTR);
    close(gate[0]);
    return;
  }
  close(gate[0]);
  send_msg(MSG_PID, 0, (int32_t)pid);
  // Open the gate now rather than at our exit, which takes longer.
  close(gate[1]);
  exit_now(0);
}
