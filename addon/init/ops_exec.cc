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
#include <sys/uio.h>
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
    // Readable and empty: not `start`. With the fifo read-write no writer's end-of-file shows
    // here; a wakeup without a byte is taken for nothing all the same: look again in a while.
    struct timespec nap = {0, 10 * 1000 * 1000};
    nanosleep(&nap, nullptr);
  }
  // Kept, close-on-exec (hooks and the program never see it), for OP_START_HOOKS_PASSED.
  fcntl(g.fifo_fd, F_SETFD, FD_CLOEXEC);
}

// `start` waits for the startContainer hooks: a second byte in the fifo says they all passed,
// and stays there after the init is gone (an engine's subreaper or systemd may reap it before
// start looks). By write, or writev where the container's seccomp filter (loaded before the
// hooks) denies write; a filter denying both leaves start to judge by what it sees in /proc.
void op_start_hooks_passed() {
  if (g.fifo_fd < 0) return;
  char one = '1';
  if (write(g.fifo_fd, &one, 1) != 1) {
    struct iovec iov = {&one, 1};
    (void)writev(g.fifo_fd, &iov, 1);
  }
}

void op_exec(plan_reader *r) {
  const op_exec_args a = rd_op_exec(r);
  if (a.argv_n == 0) die(EINVAL, "no process args");
  const char *path = g.exec_path[0] ? g.exec_path : a.argv[0];
  signal(SIGPIPE, SIG_DFL);  // ignored signals stay ignored across execve
  char **env = a.env;
  char *with_home[a.env_n + 2];  // on the stack: no heap before exec
  if (g.home_env[0]) {
    // Asked for because the HOME the process would see is empty: every HOME= gives way.
    uint32_t n = 0;
    for (uint32_t i = 0; i < a.env_n; i++)
      if (strncmp(a.env[i], "HOME=", 5) != 0) with_home[n++] = a.env[i];
    with_home[n++] = g.home_env;
    with_home[n] = nullptr;
    env = with_home;
  }
  execve(path, a.argv, env);
  die(errno, "exec %s", path);
}
