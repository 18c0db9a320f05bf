// The last steps: find the program, wait for `start` on the exec fifo, exec.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <time.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <unistd.h>
#include "init.h"

static bool executable(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

void op_lookup_exec(plan_reader *r) {
  const op_lookup_exec_args a = rd_op_lookup_exec(r);
  if (strchr(a.arg0, '/')) {
    struct stat st;
    if (stat(a.arg0, &st) < 0) die(errno, "exec: \"%s\"", a.arg0);
    if (S_ISDIR(st.st_mode)) die(EACCES, "exec: \"%s\": is a directory", a.arg0);
    snprintf(g.exec_path, sizeof g.exec_path, "%s", a.arg0);
    return;
  }
  const char *p = a.path;
  while (*p) {
    const char *end = strchrnul(p, ':');
    int n = snprintf(g.exec_path, sizeof g.exec_path, "%.*s/%s", (int)(end - p), p, a.arg0);
    if (end == p) n = snprintf(g.exec_path, sizeof g.exec_path, "./%s", a.arg0);
    if (n < (int)sizeof g.exec_path && executable(g.exec_path)) return;
    p = *end ? end + 1 : end;
  }
  g.exec_path[0] = '\0';
  die(0, "exec: \"%s\": executable file not found in $PATH", a.arg0);
}

void op_wait_start(plan_reader *) {
  // The read end of the exec fifo, opened by the runtime: `start` writes one byte. No writer
  // has been attached yet, so select waits (no hang-up) until start opens the fifo.
  if (g.fifo_fd < 0) die(EBADF, "no exec fifo");
  // select, not poll: poll refuses more fds than RLIMIT_NOFILE, which a config may set to 0.
  if (g.fifo_fd >= FD_SETSIZE) die(EBADF, "exec fifo fd %d is too high for select", g.fifo_fd);
  // The byte is seen (FIONREAD), not read: without no_new_privs this runs under the container's
  // seccomp profile, which may not allow read; the byte goes with the fifo at exec.
  for (;;) {
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(g.fifo_fd, &rd);
    int n = select(g.fifo_fd + 1, &rd, nullptr, nullptr, nullptr);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die(errno, "wait on the exec fifo");
    int avail = 0;
    if (ioctl(g.fifo_fd, FIONREAD, &avail) < 0) die(errno, "wait on the exec fifo");
    if (avail > 0) break;
    // Readable and empty: some writer opened the fifo and closed it without a byte. That is not
    // `start`; the end-of-file stays until the next writer, so look again in a while.
    struct timespec nap = {0, 10 * 1000 * 1000};
    nanosleep(&nap, nullptr);
  }
  close(g.fifo_fd);
  g.fifo_fd = -1;
}

void op_exec(plan_reader *r) {
  const op_exec_args a = rd_op_exec(r);
  if (a.argv_n == 0) die(EINVAL, "no process args");
  const char *path = g.exec_path[0] ? g.exec_path : a.argv[0];
  signal(SIGPIPE, SIG_DFL);  // ignored signals stay ignored across execve
  execve(path, a.argv, a.env);
  die(errno, "exec %s", path);
}
