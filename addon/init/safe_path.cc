// Every path inside the container is resolved relative to the rootfs with RESOLVE_IN_ROOT, so a
// symlink planted in the rootfs (absolute or with ..) can never lead out of it; the caller then
// works on the returned O_PATH fd and never on a path string the container could swap.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "init.h"

static int openat2_in_root(int root, const char *path, int flags) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)flags | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const char *rel = path;
  while (*rel == '/') rel++;
  if (*rel == '\0') rel = ".";
  int fd;
  do fd = (int)syscall(SYS_openat2, root, rel, &how, sizeof how);
  while (fd < 0 && (errno == EAGAIN || errno == EINTR));
  return fd;
}

int open_in_root(const char *path, int create, mode_t mode) {
  // A process joining a container (exec) has the container's root as "/" after setns(mnt).
  if (g.root_fd < 0) {
    g.root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (g.root_fd < 0) return -1;
  }
  int fd = openat2_in_root(g.root_fd, path, O_PATH);
  if (fd >= 0 || errno != ENOENT || create == CREATE_NONE) return fd;

  char parent[PATH_MAX];
  size_t len = strnlen(path, sizeof parent);
  if (len >= sizeof parent) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(parent, path, len + 1);
  while (len > 1 && parent[len - 1] == '/') parent[--len] = '\0';
  char *slash = strrchr(parent, '/');
  char last[NAME_MAX + 1];
  if (snprintf(last, sizeof last, "%s", slash ? slash + 1 : parent) >= (int)sizeof last) {
    errno = ENAMETOOLONG;
    return -1;
  }
  if (slash == nullptr || slash == parent) strcpy(parent, "/");
  else *slash = '\0';
  if (strcmp(last, "..") == 0 || strcmp(last, ".") == 0) {
    errno = EINVAL;
    return -1;
  }
  int pfd = open_in_root(parent, CREATE_DIR, 0755);
  if (pfd < 0) return -1;
  int rc;
  if (create == CREATE_DIR) {
    rc = mkdirat(pfd, last, mode);
  } else {
    rc = openat(pfd, last, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode);
    if (rc >= 0) close(rc);
  }
  if (rc < 0 && errno != EEXIST) {
    int e = errno;
    close(pfd);
    errno = e;
    return -1;
  }
  close(pfd);
  return openat2_in_root(g.root_fd, path, O_PATH);
}

void fd_path(int fd, char *buf, size_t len) {
  char link[64];
  snprintf(link, sizeof link, "self/fd/%d", fd);
  ssize_t n = g.proc_fd >= 0 ? readlinkat(g.proc_fd, link, buf, len - 1) : -1;
  buf[n < 0 ? 0 : n] = '\0';
}

const char *fdpath(int fd, char *buf, size_t len) {
  if (g.proc_fd < 0) die(EBADF, "internal: procfs handle used after it was closed");
  if (fchdir(g.proc_fd) < 0) die(errno, "chdir to the procfs handle");
  snprintf(buf, len, "self/fd/%d", fd);
  return buf;
}

int proc_open(const char *rel, int flags) {
  if (g.proc_fd < 0) {
    errno = EBADF;
    return -1;
  }
  // "self" is procfs's own link; nothing below may lead off the procfs mount.
  if (strncmp(rel, "self/", 5) == 0) return openat(g.proc_fd, rel, flags | O_NOFOLLOW | O_CLOEXEC);
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)flags | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS;
  return (int)syscall(SYS_openat2, g.proc_fd, rel, &how, sizeof how);
}

void close_proc(void) {
  if (g.proc_fd >= 0) close(g.proc_fd);
  g.proc_fd = -1;
}

// Before a fork into a pid namespace others can see into (exec, an init joining a pod's pid
// namespace): a process there is open to /proc/<pid>/fd, cwd and root of anyone with
// CAP_SYS_PTRACE and no user namespace, non-dumpable or not (CVE-2016-9962 class). So nothing
// of the host may be open or be the cwd by then: the procfs handle (whose ".." is the host's
// root), the rootfs handle, the console socket, and a cwd fdpath left in the host procfs.
void seal_host(void) {
  close_proc();
  if (g.root_fd >= 0) close(g.root_fd);
  g.root_fd = -1;
  if (g.console_fd >= 0) close(g.console_fd);
  g.console_fd = -1;
  if (chdir("/") < 0) die(errno, "chdir to the container's root");
}
