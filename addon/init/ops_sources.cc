// Bind sources of a container with a user namespace, opened with the host's privileges: a
// source its mapped root cannot reach (a 0700 root-owned host directory) can still be bound, as
// runc does by opening it from its privileged parent. A helper forked before the user
// namespace keeps the host's credentials; once the first process has its mount namespace, the
// helper joins that namespace, opens each source (O_PATH, so an fd of a mount the init may bind
// from) and passes the fds back. The init then binds from the fds (op_mount, bind kind, slot).
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "init.h"

int source_fds[MAX_SOURCE_FDS] = {-1};
int source_errs[MAX_SOURCE_FDS];
static uint32_t nsources;
static int helper_sock = -1;
static pid_t helper_pid = -1;

// One message per source: an int errno (0 with the fd attached).
static void send_one(int sock, int fd, int err) {
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  struct iovec iov = {&err, sizeof err};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  char cbuf[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    memset(cbuf, 0, sizeof cbuf);
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) exit_now(1);
}

static int recv_one(int sock, int *err) {
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  struct iovec iov = {err, sizeof *err};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  char cbuf[CMSG_SPACE(sizeof(int))];
  msg.msg_control = cbuf;
  msg.msg_controllen = sizeof cbuf;
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n != (ssize_t)sizeof *err) {
    *err = n < 0 ? errno : EPIPE;
    return -1;
  }
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

void op_source_helper(plan_reader *r) {
  const op_source_helper_args a = rd_op_source_helper(r);
  char **sources = a.sources;
  nsources = a.sources_n;
  if (nsources > MAX_SOURCE_FDS) die(EINVAL, "malformed plan: %u bind sources", nsources);
  for (uint32_t i = 0; i < MAX_SOURCE_FDS; i++) source_fds[i] = -1;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) die(errno, "bind sources: socketpair");
  pid_t pid = fork();
  if (pid < 0) die(errno, "bind sources: fork the helper");
  if (pid == 0) {
    close(sv[0]);
    // Until the first process has its mount namespace (one byte), or gives up (EOF).
    char go;
    if (read(sv[1], &go, 1) != 1) exit_now(0);
    char rel[64];
    snprintf(rel, sizeof rel, "%d/ns/mnt", (int)getppid());
    // Our parent's ns/mnt: a magic link of a process of our own, safe to follow.
    int ns = openat(g.proc_fd, rel, O_RDONLY | O_CLOEXEC);
    int err = 0;
    if (ns < 0 || setns(ns, CLONE_NEWNS) < 0) err = errno;
    for (uint32_t i = 0; i < nsources; i++) {
      int fd = err ? -1 : open(sources[i], O_PATH | O_CLOEXEC);
      send_one(sv[1], fd, fd < 0 ? (err ? err : errno) : 0);
      if (fd >= 0) close(fd);
    }
    exit_now(0);
  }
  close(sv[1]);
  helper_sock = sv[0];
  helper_pid = pid;
}

void op_source_fds(plan_reader *) {
  if (helper_sock < 0) die(EINVAL, "malformed plan: bind sources without their helper");
  if (write(helper_sock, "g", 1) != 1) die(errno, "bind sources: wake the helper");
  for (uint32_t i = 0; i < nsources; i++) {
    int err = 0;
    source_fds[i] = recv_one(helper_sock, &err);
    source_errs[i] = err;
  }
  close(helper_sock);
  helper_sock = -1;
  waitpid(helper_pid, nullptr, 0);
}

int take_source_fd(uint32_t slot) {
  if (slot == 0 || slot > nsources) return -1;
  int fd = source_fds[slot - 1];
  source_fds[slot - 1] = -1;
  return fd;
}

// seal_host: a source the plan did not use (a failed or skipped mount) is a host fd too.
void close_source_fds(void) {
  for (uint32_t i = 0; i < nsources && i < MAX_SOURCE_FDS; i++)
    if (source_fds[i] >= 0) {
      close(source_fds[i]);
      source_fds[i] = -1;
    }
}
