// Hooks the spec runs in the container's namespaces (createContainer, startContainer): the
// parent sends the state JSON, and each hook is forked and exec'd with it on stdin.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "init.h"

static char *state_json = nullptr;
static size_t state_len = 0;

void op_fetch_state(plan_reader *r) {
  const op_fetch_state_args a = rd_op_fetch_state(r);
  sync_stage(a.stage);
  // The payload follows as one message: header (type MSG_DATA, pid = length) then the bytes.
  size_t cap = 1 << 20;
  char *buf = (char *)malloc(cap);
  if (!buf) die(ENOMEM, "state buffer");
  ssize_t n;
  do n = recv(g.sync_fd, buf, cap, 0);
  while (n < 0 && errno == EINTR);
  if (n < (ssize_t)sizeof(husk_msg)) die(EPROTO, "sync: no state from the runtime");
  husk_msg m;
  memcpy(&m, buf, sizeof m);
  if (m.type != MSG_DATA || (size_t)m.pid != (size_t)n - sizeof m) die(EPROTO, "sync: bad state message");
  free(state_json);
  state_len = (size_t)m.pid;
  state_json = (char *)malloc(state_len + 1);
  memcpy(state_json, buf + sizeof m, state_len);
  state_json[state_len] = '\0';
  free(buf);
}

void op_hook(plan_reader *r) {
  const op_hook_args a = rd_op_hook(r);
  const char *path = a.path;
  uint32_t timeout = a.timeout;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) die(errno, "hook %s: pipe", path);
  pid_t pid = fork();
  if (pid < 0) die(errno, "hook %s: fork", path);
  if (pid == 0) {
    signal(SIGPIPE, SIG_DFL);
    dup2(pipefd[0], 0);
    // The container's root is the hook's cwd, as runc's: the rootfs before pivot_root
    // (createContainer), the new / after it (startContainer).
    if (g.root_fd >= 0 && fchdir(g.root_fd) < 0) exit_now(126);
    char *fallback[] = {(char *)path, nullptr};
    execve(path, a.args_n ? a.args : fallback, a.env);
    exit_now(127);
  }
  close(pipefd[0]);
  // A hook that does not read its stdin is no failure: SIGPIPE is ignored in husk-init.
  if (state_json) {
    size_t off = 0;
    while (off < state_len) {
      ssize_t w = write(pipefd[1], state_json + off, state_len - off);
      if (w <= 0) break;
      off += (size_t)w;
    }
  }
  close(pipefd[1]);
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  int status = 0;
  for (;;) {
    pid_t w = waitpid(pid, &status, timeout ? WNOHANG : 0);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) die(errno, "hook %s: wait", path);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    // In nanoseconds: whole seconds would end a hook started at x.9 s at x+1, 0.1 s in.
    int64_t ran = (int64_t)(now.tv_sec - start.tv_sec) * 1000000000 + (now.tv_nsec - start.tv_nsec);
    if (timeout && ran >= (int64_t)timeout * 1000000000) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      die(0, "hook %s did not finish within its timeout of %us", path, timeout);
    }
    struct timespec nap = {0, 5 * 1000 * 1000};
    nanosleep(&nap, nullptr);
  }
  if (WIFSIGNALED(status)) die(0, "hook %s was killed by signal %d", path, WTERMSIG(status));
  if (WEXITSTATUS(status) == 127) die(ENOENT, "hook %s could not be run", path);
  if (WEXITSTATUS(status) != 0) die(0, "hook %s exited with status %d", path, WEXITSTATUS(status));
}
