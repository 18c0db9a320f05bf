// A seccomp agent for the SCMP_ACT_NOTIFY tests: it accepts the runtime's connections on a unix
// socket, logs the container process state each one carries, and answers the notified calls of
// every listener it was given:
//   mkdir/mkdirat of an absolute path P: makes P-<metadata> in the container instead, returns 0
//   chmod/fchmod/fchmodat: fails them with ENOMEDIUM
//   anything else: lets the kernel run it (SECCOMP_USER_NOTIF_FLAG_CONTINUE)
// usage: seccomp-agent <socket> <log file>
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_LISTENERS 32

static FILE *logf;
static struct {
  int fd;
  char meta[128];
} listeners[MAX_LISTENERS];
static int nlisteners;

// The state is read to EOF: the runtime sends one state per connection and then closes it.
static void take_connection(int conn) {
  static char buf[1 << 16];
  size_t len = 0;
  int got_fd = -1;
  for (;;) {
    union {
      char b[CMSG_SPACE(sizeof(int))];
      struct cmsghdr align;
    } ctl;
    struct iovec iov = {buf + len, sizeof buf - 1 - len};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.b;
    mh.msg_controllen = sizeof ctl.b;
    ssize_t n = recvmsg(conn, &mh, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(&got_fd, CMSG_DATA(c), sizeof(int));
    len += (size_t)n;
    if (len >= sizeof buf - 1) break;
  }
  close(conn);
  buf[len] = '\0';
  fprintf(logf, "STATE %s\n", buf);
  fprintf(logf, "FD %s\n", got_fd >= 0 ? "yes" : "no");
  fflush(logf);
  if (got_fd < 0 || nlisteners == MAX_LISTENERS) return;
  listeners[nlisteners].fd = got_fd;
  listeners[nlisteners].meta[0] = '\0';
  const char *m = strstr(buf, "\"metadata\":\"");
  if (m) {
    m += strlen("\"metadata\":\"");
    size_t k = 0;
    while (m[k] && m[k] != '"' && k < sizeof listeners[0].meta - 1) k++;
    memcpy(listeners[nlisteners].meta, m, k);
    listeners[nlisteners].meta[k] = '\0';
  }
  nlisteners++;
}

static int read_string(pid_t pid, unsigned long addr, char *out, size_t size) {
  char mem[64];
  snprintf(mem, sizeof mem, "/proc/%d/mem", pid);
  int fd = open(mem, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = pread(fd, out, size - 1, (off_t)addr);
  close(fd);
  if (n <= 0) return -1;
  out[n] = '\0';
  return (size_t)strnlen(out, size) < size - 1 ? 0 : -1;
}

static void answer(int i) {
  int fd = listeners[i].fd;
  struct seccomp_notif req;
  struct seccomp_notif_resp resp;
  memset(&req, 0, sizeof req);
  memset(&resp, 0, sizeof resp);
  if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) return;
  resp.id = req.id;
  long nr = req.data.nr;
  if (nr == SYS_mkdir || nr == SYS_mkdirat) {
    char path[4096];
    unsigned long arg = nr == SYS_mkdir ? req.data.args[0] : req.data.args[1];
    if (read_string(req.pid, arg, path, sizeof path) < 0 || path[0] != '/') {
      resp.error = -EINVAL;
    } else if (ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &req.id) < 0) {
      return;  // the caller died meanwhile: the path may belong to someone else now
    } else {
      char target[4300];
      snprintf(target, sizeof target, "/proc/%d/root%s-%s", req.pid, path, listeners[i].meta);
      resp.error = mkdir(target, 0755) < 0 ? -errno : 0;
      fprintf(logf, "MKDIR %s -> %d\n", path, resp.error);
      fflush(logf);
    }
  } else if (nr == SYS_chmod || nr == SYS_fchmod || nr == SYS_fchmodat) {
    resp.error = -ENOMEDIUM;
  } else {
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  }
  ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  signal(SIGPIPE, SIG_IGN);
  logf = fopen(argv[2], "a");
  if (!logf) return 1;
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {0};
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[1]);
  unlink(argv[1]);
  if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(s, 16) < 0) return 1;
  fprintf(logf, "READY\n");
  fflush(logf);
  for (;;) {
    struct pollfd p[MAX_LISTENERS + 1];
    p[0].fd = s;
    p[0].events = POLLIN;
    for (int i = 0; i < nlisteners; i++) {
      p[i + 1].fd = listeners[i].fd;
      p[i + 1].events = POLLIN;
    }
    if (poll(p, (nfds_t)nlisteners + 1, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (p[0].revents & POLLIN) {
      int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
      if (c >= 0) take_connection(c);
    }
    for (int i = nlisteners - 1; i >= 0; i--) {
      short r = p[i + 1].revents;
      if (r & POLLIN) answer(i);
      else if (r & (POLLHUP | POLLERR)) {
        // Every process of that filter is gone.
        close(listeners[i].fd);
        listeners[i] = listeners[--nlisteners];
      }
    }
  }
}
