// One message with up to HUSK_FRONT_MAX_FDS fds (SCM_RIGHTS): the front protocol's transport,
// used by the front binary and the server's side of the addon alike.
#pragma once
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "front_protocol.h"

// Sends len bytes with nfds fds. Returns the bytes sent, or -1 with errno.
static inline ssize_t send_with_fds(int s, const void *data, size_t len, const int *fds, int nfds) {
  if (nfds < 0 || nfds > HUSK_FRONT_MAX_FDS) {
    errno = EINVAL;
    return -1;
  }
  struct iovec iov = {(void *)data, len};
  union {
    char buf[CMSG_SPACE(sizeof(int) * HUSK_FRONT_MAX_FDS)];
    struct cmsghdr align;
  } ctl;
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (nfds > 0) {
    mh.msg_control = ctl.buf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  ssize_t n;
  do n = sendmsg(s, &mh, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n;
}

// Receives one message into buf and its fds (close-on-exec) into fds[HUSK_FRONT_MAX_FDS].
// Returns what recvmsg did (bytes, 0 at end, -1 with errno); *nfds is set in every case, so
// the caller closes what came even with a failure. A truncated message fails with EMSGSIZE.
static inline ssize_t recv_with_fds(int s, void *buf, size_t len, int *fds, int *nfds, int flags) {
  union {
    char b[CMSG_SPACE(sizeof(int) * HUSK_FRONT_MAX_FDS)];
    struct cmsghdr align;
  } ctl;
  struct iovec iov = {buf, len};
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctl.b;
  mh.msg_controllen = sizeof ctl.b;
  ssize_t got;
  do got = recvmsg(s, &mh, MSG_CMSG_CLOEXEC | flags);
  while (got < 0 && errno == EINTR);
  int err = errno;
  *nfds = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < n && *nfds < HUSK_FRONT_MAX_FDS; i++)
      memcpy(&fds[(*nfds)++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
  }
  if (got > 0 && (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
    errno = EMSGSIZE;
    return -1;
  }
  errno = err;
  return got;
}
