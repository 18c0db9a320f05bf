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

static int openat2_res(int dirfd, const char *path, int flags, uint64_t resolve) {
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)flags | O_CLOEXEC;
  how.resolve = resolve | RESOLVE_NO_MAGICLINKS;
  const char *rel = path;
  while (*rel == '/') rel++;
  if (*rel == '\0') rel = ".";
  int fd;
  do fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
  while (fd < 0 && (errno == EAGAIN || errno == EINTR));
  return fd;
}

static int openat2_in_root(int root, const char *path, int flags) {
  return openat2_res(root, path, flags, RESOLVE_IN_ROOT);
}

static bool ensure_root_fd(void) {
  // A process joining a container (exec) has the container's root as "/" after setns(mnt).
  if (g.root_fd < 0) g.root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  return g.root_fd >= 0;
}

// Splits `path` into its parent (into `parent`, "/" for a top-level name) and its last
// component (into `last`); "." and ".." as the last component are refused (EINVAL).
static bool split_last(const char *path, char *parent, char *last) {
  size_t len = strnlen(path, PATH_MAX);
  if (len >= PATH_MAX) {
    errno = ENAMETOOLONG;
    return false;
  }
  memcpy(parent, path, len + 1);
  while (len > 1 && parent[len - 1] == '/') parent[--len] = '\0';
  char *slash = strrchr(parent, '/');
  if (snprintf(last, NAME_MAX + 1, "%s", slash ? slash + 1 : parent) >= NAME_MAX + 1) {
    errno = ENAMETOOLONG;
    return false;
  }
  if (slash == nullptr || slash == parent) strcpy(parent, "/");
  else *slash = '\0';
  if (strcmp(last, "..") == 0 || strcmp(last, ".") == 0 || last[0] == '\0') {
    errno = EINVAL;
    return false;
  }
  return true;
}

// The kernel's own limit on links followed in one lookup.
#define MAX_LINKS 40

static int open_in_root_links(const char *path, int create, mode_t mode, int links) {
  if (!ensure_root_fd()) return -1;
  int fd = openat2_in_root(g.root_fd, path, O_PATH);
  if (fd >= 0 || errno != ENOENT || create == CREATE_NONE) return fd;

  char parent[PATH_MAX];
  char last[NAME_MAX + 1];
  if (!split_last(path, parent, last)) return -1;
  int pfd = open_in_root_links(parent, CREATE_DIR, 0755, links);
  if (pfd < 0) return -1;
  int rc;
  if (create == CREATE_DIR) {
    rc = mkdirat(pfd, last, mode);
  } else {
    rc = openat(pfd, last, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode);
    if (rc >= 0) close(rc);
  }
  if (rc < 0 && errno == EEXIST) {
    // A dangling symlink (an image's /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf):
    // make what it names, as runc does. Its target is looked up again inside the root, and each
    // missing component is made by fd under a parent resolved there, so nothing the link (or a
    // racer swapping it) says can lead out of the rootfs.
    struct stat st;
    if (fstatat(pfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      ssize_t n = readlinkat(pfd, last, target, sizeof target - 1);
      close(pfd);
      if (n < 0) return -1;
      target[n] = '\0';
      if (links >= MAX_LINKS) {
        errno = ELOOP;
        return -1;
      }
      char next[PATH_MAX];
      int w = target[0] == '/' ? snprintf(next, sizeof next, "%s", target)
                               : snprintf(next, sizeof next, "%s/%s", parent, target);
      if (w < 0 || (size_t)w >= sizeof next) {
        errno = ENAMETOOLONG;
        return -1;
      }
      return open_in_root_links(next, create, mode, links + 1);
    }
  }
  if (rc < 0 && errno != EEXIST) {
    int e = errno;
    close(pfd);
    errno = e;
    return -1;
  }
  // What was just made, under the parent it was made in; a link swapped in there since is
  // looked up afresh from the root instead.
  fd = openat2_res(pfd, last, O_PATH, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
  close(pfd);
  if (fd >= 0) return fd;
  return openat2_in_root(g.root_fd, path, O_PATH);
}

int open_in_root(const char *path, int create, mode_t mode) { return open_in_root_links(path, create, mode, 0); }

int open_dir_in_root_nofollow(const char *path) {
  if (!ensure_root_fd()) return -1;
  const uint64_t strict = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS;
  int fd = openat2_res(g.root_fd, path, O_PATH | O_DIRECTORY, strict);
  if (fd >= 0 || errno != ENOENT) return fd;
  char parent[PATH_MAX];
  char last[NAME_MAX + 1];
  if (!split_last(path, parent, last)) return -1;
  int pfd = open_dir_in_root_nofollow(parent);
  if (pfd < 0) return -1;
  // mkdirat never follows a link in its last component: a name raced in stays as it is and
  // the open below refuses it.
  if (mkdirat(pfd, last, 0755) < 0 && errno != EEXIST) {
    int e = errno;
    close(pfd);
    errno = e;
    return -1;
  }
  fd = openat2_res(pfd, last, O_PATH | O_DIRECTORY, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS);
  int e = errno;
  close(pfd);
  errno = e;
  return fd;
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
  close_source_fds();
  for (int i = 0; i < MAX_IDMAP_TREES; i++)
    if (idmap_trees[i] >= 0) {
      close(idmap_trees[i]);
      idmap_trees[i] = -1;
    }
  if (g.root_fd >= 0) close(g.root_fd);
  g.root_fd = -1;
  if (g.console_fd >= 0) close(g.console_fd);
  g.console_fd = -1;
  if (chdir("/") < 0) die(errno, "chdir to the container's root");
}
