// The receiving side of --console-socket: what an engine (conmon, containerd-shim) does, used
// by `run` with a terminal and by the tests.
#include "console.h"
#include "../common/one_fd.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int listen_unix(const char *path) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sa.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

int accept_fd(int listen_fd, int timeout_ms, char *name, size_t name_len) {
  struct pollfd p = {listen_fd, POLLIN, 0};
  int n;
  do n = poll(&p, 1, timeout_ms);
  while (n < 0 && errno == EINTR);
  if (n == 0) errno = ETIMEDOUT;
  if (n <= 0) return -1;
  int conn = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  if (conn < 0) return -1;
  one_fd_msg om;
  struct msghdr *mh = one_fd_init(&om, name, name_len - 1, -1, true);
  ssize_t got = recvmsg(conn, mh, MSG_CMSG_CLOEXEC);
  int e = errno;
  close(conn);
  if (got < 0) {
    errno = e;
    return -1;
  }
  name[got] = '\0';
  int fd = one_fd_take(mh);
  if (fd < 0) {
    errno = EPROTO;
    return -1;
  }
  return fd;
}
