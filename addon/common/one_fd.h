// One fd passed with SCM_RIGHTS: the seccomp listener (husk-init to the runtime, the runtime to a
// seccomp agent) and the pty master (husk-init to the console socket, which husk also receives).
#pragma once
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

struct one_fd_msg {
  struct msghdr mh;
  struct iovec iov;
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctl;
};

// Sets up `m` for one sendmsg/recvmsg of `len` bytes at `data`; with fd >= 0, the fd rides along.
static inline struct msghdr *one_fd_init(struct one_fd_msg *m, void *data, size_t len, int fd, bool with_control) {
  memset(m, 0, sizeof *m);
  m->iov.iov_base = data;
  m->iov.iov_len = len;
  m->mh.msg_iov = &m->iov;
  m->mh.msg_iovlen = 1;
  if (!with_control) return &m->mh;
  m->mh.msg_control = m->ctl.buf;
  m->mh.msg_controllen = sizeof m->ctl.buf;
  if (fd >= 0) {
    struct cmsghdr *c = CMSG_FIRSTHDR(&m->mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  return &m->mh;
}

// The last fd a received message carried (-1 if none); any others are closed.
static inline int one_fd_take(struct msghdr *mh) {
  int fd = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      if (fd >= 0) close(fd);
      memcpy(&fd, CMSG_DATA(c), sizeof(int));
    }
  return fd;
}
