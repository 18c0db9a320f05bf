#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

// Apart, so that nothing of launch_init's frame lives across the vfork.
static pid_t __attribute__((noinline)) vfork_exec(int exe, const int *high, const int *high_stdio, int base, char *const *argv) {
  char *const envp[] = {nullptr};
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = vfork();
  if (pid == 0) {
    for (int i = 0; i < 3; i++)
      if (high_stdio[i] >= 0 && dup3(high_stdio[i], i, 0) < 0) _exit(126);
    for (int i = 0; i < FD_SLOTS; i++) {
      if (high[i] >= 0) {
        if (dup3(high[i], base + i, 0) < 0) _exit(126);
      } else {
        close(base + i);
      }
    }
    // Node marks its stdio close-on-exec; the container gets 0-2 and the preserved fds.
    for (int fd = 0; fd < base; fd++) fcntl(fd, F_SETFD, 0);
    syscall(SYS_execveat, exe, "", argv, envp, AT_EMPTY_PATH);
    _exit(127);
  }
  int e = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = e;
  return pid;
}

int launch_init(int exe, const int slots[FD_SLOTS], int preserve_fds, const int stdio[3], const char **what) {
  int high[FD_SLOTS] = {-1, -1, -1, -1};
  int high_stdio[3] = {-1, -1, -1};
  int high_exe = -1;
  int err = 0;
  pid_t pid = -1;
  const int base = 3 + preserve_fds;
  char base_arg[16];
  snprintf(base_arg, sizeof base_arg, "%d", base);
  char *const argv[] = {(char *)"husk-init", base_arg, nullptr};

  if (preserve_fds < 0 || preserve_fds > 512) {
    *what = "--preserve-fds out of range";
    return -EINVAL;
  }
  // Above every fd the child keeps, so the dup3s below never overwrite one another (or the
  // executable).
  high_exe = fcntl(exe, F_DUPFD_CLOEXEC, base + FD_SLOTS + 16);
  if (high_exe < 0) {
    err = -errno;
    *what = "dup the init executable";
    goto out;
  }
  for (int i = 0; i < FD_SLOTS; i++) {
    if (slots[i] < 0) continue;
    high[i] = fcntl(slots[i], F_DUPFD_CLOEXEC, base + FD_SLOTS + 16);
    if (high[i] < 0) {
      err = -errno;
      *what = "dup fds for the init";
      goto out;
    }
  }
  for (int i = 0; i < 3; i++) {
    if (stdio[i] < 0) continue;
    high_stdio[i] = fcntl(stdio[i], F_DUPFD_CLOEXEC, base + FD_SLOTS + 16);
    if (high_stdio[i] < 0) {
      err = -errno;
      *what = "dup the stdio fds for the init";
      goto out;
    }
  }

  pid = vfork_exec(high_exe, high, high_stdio, base, argv);
  if (pid < 0) {
    err = -errno;
    *what = "vfork";
  }

out:
  if (high_exe >= 0) close(high_exe);
  for (int i = 0; i < FD_SLOTS; i++)
    if (high[i] >= 0) close(high[i]);
  for (int i = 0; i < 3; i++)
    if (high_stdio[i] >= 0) close(high_stdio[i]);
  return err < 0 ? err : pid;
}
