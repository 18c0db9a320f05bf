// Errors and stage messages go to the parent over the sync socket as fixed-size records, so
// the parent can name the config entry (by op index) and the errno.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include "init.h"
#include "../common/one_fd.h"

// Without no_new_privs the container's seccomp filter is loaded before the last messages, and a
// profile may lack any one call (the stress fuzzing found profiles without sendto, read, write):
// each record goes by the first of four calls the filter lets through. A broken socket fails
// them all alike.
static bool sync_write(const void *buf, size_t len) {
  struct iovec iov = {const_cast<void *>(buf), len};
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  for (int how = 0; how < 4; how++) {
    ssize_t n;
    do {
      if (how == 0) n = write(g.sync_fd, buf, len);
      else if (how == 1) n = send(g.sync_fd, buf, len, MSG_NOSIGNAL);
      else if (how == 2) n = writev(g.sync_fd, &iov, 1);
      else n = sendmsg(g.sync_fd, &mh, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)len) return true;
    if (n >= 0 || errno == EPIPE) return false;  // a short record, or nobody listening
  }
  return false;
}

static ssize_t sync_read(void *buf, size_t len) {
  struct iovec iov = {buf, len};
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  ssize_t n = -1;
  for (int how = 0; how < 4; how++) {
    do {
      if (how == 0) n = recv(g.sync_fd, buf, len, 0);
      else if (how == 1) n = read(g.sync_fd, buf, len);
      else if (how == 2) n = readv(g.sync_fd, &iov, 1);
      else n = recvmsg(g.sync_fd, &mh, 0);
    } while (n < 0 && errno == EINTR);
    if (n >= 0) return n;
  }
  return n;
}

void send_msg(uint32_t type, uint32_t stage, int32_t pid) {
  husk_msg m;
  memset(&m, 0, sizeof m);
  m.type = type;
  m.stage = stage;
  m.op = g.op_index;
  m.pid = pid;
  if (!sync_write(&m, sizeof m)) die(errno, "sync: send");
}

static void await_ack() {
  husk_msg reply;
  ssize_t n = sync_read(&reply, sizeof reply);
  if (n != (ssize_t)sizeof reply) exit_now(1);  // the parent is gone: nothing to report to
  if (reply.type != MSG_ACK) exit_now(1);
}

void sync_stage(uint32_t stage) {
  send_msg(MSG_SYNC, stage, 0);
  await_ack();
}

// The filter is loaded, so this runs under it: sendmsg is the one call here a profile must not
// send to the agent (the plan refuses that), since the agent gets the fd only through it. Our
// copy is closed before waiting, so that when the agent goes away the kernel fails the
// container's notified calls with ENOSYS instead of blocking them.
void hand_over_listener(int fd) {
  husk_msg m;
  memset(&m, 0, sizeof m);
  m.type = MSG_SECCOMP_FD;
  m.op = g.op_index;
  one_fd_msg om;
  struct msghdr *mh = one_fd_init(&om, &m, sizeof m, fd, true);
  ssize_t n;
  do n = sendmsg(g.sync_fd, mh, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n != (ssize_t)sizeof m) die(n < 0 ? err : EPROTO, "send the seccomp listener to the runtime");
  await_ack();
}

void exit_now(int code) {
  syscall(SYS_exit_group, code);
  syscall(SYS_exit, code);
  __builtin_trap();
}

void die(int err, const char *fmt, ...) {
  husk_msg m;
  memset(&m, 0, sizeof m);
  m.type = MSG_ERROR;
  m.op = g.op_index;
  m.err = err;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m.text, sizeof m.text, fmt, ap);
  va_end(ap);
  if (g.sync_fd < 0 || !sync_write(&m, sizeof m)) {
    // Nobody listens any more (after `start`): the container's stderr is the only place left.
    dprintf(2, "husk-init: %s%s%s\n", m.text, err ? ": " : "", err ? strerror(err) : "");
  }
  exit_now(err == ENOENT || err == EACCES ? 127 : 1);
}
