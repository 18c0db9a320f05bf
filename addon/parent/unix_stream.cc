// Unix stream connections: the runtime's calls are synchronous, so a plain blocking socket,
// with poll (or SO_SNDTIMEO) for time limits.
#include "unix_stream.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

int connect_unix_stream(const char *path, int send_timeout_ms) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof sa.sun_path) {
    errno = n == 0 ? EINVAL : ENAMETOOLONG;
    return -1;
  }
  memcpy(sa.sun_path, path, n);
  // Abstract names are not NUL-terminated: the address length says where they end.
  bool abstract = path[0] == '@';
  if (abstract) sa.sun_path[0] = '\0';
  socklen_t len = abstract ? (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n) : (socklen_t)sizeof sa;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (send_timeout_ms > 0) {
    struct timeval tv = {send_timeout_ms / 1000, (send_timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  int rc;
  do rc = connect(fd, (struct sockaddr *)&sa, len);
  while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

ssize_t read_within(int fd, void *buf, size_t len, int timeout_ms) {
  struct pollfd p = {fd, POLLIN, 0};
  int n;
  do n = poll(&p, 1, timeout_ms);
  while (n < 0 && errno == EINTR);
  if (n == 0) errno = ETIMEDOUT;
  if (n <= 0) return -1;
  ssize_t got;
  do got = read(fd, buf, len);
  while (got < 0 && errno == EINTR);
  return got;
}
