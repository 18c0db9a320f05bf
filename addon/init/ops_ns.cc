// Namespaces: join by path, make new ones, and fork the container's init into a new pid ns.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "init.h"

void op_setns(plan_reader *r) {
  uint32_t type = rd_u32(r);
  const char *path = rd_str(r);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(errno, "open namespace %s", path);
  if (setns(fd, (int)type) < 0) die(errno, "join namespace %s", path);
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
  uint64_t flags = rd_u64(r);
  if (unshare((int)flags) < 0) die(errno, "unshare namespaces 0x%llx", (unsigned long long)flags);
}

void op_fork_init(plan_reader *) {
  // The child says nothing on the sync socket until our MSG_PID is sent: the runtime must know
  // the pid before the child's first stage (the husk server's faster replies once let an exec's
  // ready stage overtake it). It waits for this process to close its end of a pipe.
  int gate[2];
  if (pipe2(gate, O_CLOEXEC) < 0) die(errno, "pipe");
  // CLONE_PARENT makes the init a child of the runtime that spawned us (a sibling of this
  // process), so the runtime can wait for it and the engine's subreaper inherits it after.
  long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) die(errno, "clone the container init");
  if (pid == 0) {
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
  _exit(0);
}
