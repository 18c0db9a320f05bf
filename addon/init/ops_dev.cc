// Device nodes and /dev symlinks, made through fds resolved inside the rootfs (CVE-2026-41579
// class: never through a path the container could have replaced with a symlink).
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "init.h"

// Split "/dev/foo/bar" into an O_PATH fd of "/dev/foo" (made if missing) and "bar".
static int open_parent(const char *path, char *name, size_t name_len) {
  char parent[PATH_MAX];
  if (snprintf(parent, sizeof parent, "%s", path) >= (int)sizeof parent) die(ENAMETOOLONG, "%s", path);
  char *slash = strrchr(parent, '/');
  if (!slash || !slash[1]) die(EINVAL, "bad device path %s", path);
  snprintf(name, name_len, "%s", slash + 1);
  if (slash == parent) slash[1] = '\0';
  else *slash = '\0';
  int fd = open_in_root(parent, CREATE_DIR, 0755);
  if (fd < 0) die(errno, "resolve %s in rootfs", parent);
  return fd;
}

void op_mknod(plan_reader *r) {
  const op_mknod_args a = rd_op_mknod(r);
  char name[NAME_MAX + 1];
  int dir = open_parent(a.path, name, sizeof name);
  // A node the image already has is used if it is the same device; anything else there is an
  // error (the spec's rule), never a file of the image deleted to make room.
  struct stat st;
  if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    bool same = (st.st_mode & S_IFMT) == (a.mode & S_IFMT) && (S_ISFIFO(st.st_mode) || st.st_rdev == (dev_t)a.rdev);
    if (!same) die(EEXIST, "device %s: a different file is already there", a.path);
    int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    char p[64];
    if (fd < 0 || fchownat(dir, name, a.uid, a.gid, AT_SYMLINK_NOFOLLOW) < 0 || chmod(fdpath(fd, p, sizeof p), a.mode & 07777) < 0)
      die(errno, "device %s: set owner and mode", a.path);
    close(fd);
    close(dir);
    return;
  }
  if (mknodat(dir, name, a.mode, (dev_t)a.rdev) == 0) {
    if (fchownat(dir, name, a.uid, a.gid, AT_SYMLINK_NOFOLLOW) < 0) die(errno, "chown device %s", a.path);
    // mknod applies the umask; the spec's mode is exact.
    int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    char p[64];
    if (fd < 0 || chmod(fdpath(fd, p, sizeof p), a.mode & 07777) < 0) die(errno, "chmod device %s", a.path);
    close(fd);
  } else if (errno == EPERM) {
    // In a user namespace mknod is refused: bind the host's node at the same path instead, as
    // runc does (before pivot_root the host's /dev is still reachable).
    const char *host = a.path;
    int f = openat(dir, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (f < 0) die(errno, "create bind target for device %s", a.path);
    close(f);
    int t = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    char target[64];
    if (t < 0 || mount(host, fdpath(t, target, sizeof target), nullptr, MS_BIND, nullptr) < 0) die(errno, "bind host device %s on %s", host, a.path);
    close(t);
  } else {
    die(errno, "mknod %s", a.path);
  }
  close(dir);
}

void op_symlink(plan_reader *r) {
  const op_symlink_args a = rd_op_symlink(r);
  char name[NAME_MAX + 1];
  int dir = open_parent(a.linkpath, name, sizeof name);
  if (symlinkat(a.target, dir, name) < 0 && errno != EEXIST) die(errno, "symlink %s -> %s", a.linkpath, a.target);
  close(dir);
}

// Stdio the engine passed as its own /dev/null (conmon's stdin, containerd's for a detached
// task) points at a mount of the host. After pivot_root it is swapped for the container's
// /dev/null, as runc does: criu cannot dump an fd on a mount the container does not have, and
// the container's fds then name nothing of the host's mount tree. Only a real null device
// (char 1:3, reached without following a link: /dev of an image without a /dev mount is the
// image's) replaces it; anything else leaves stdio as it came.
void op_reopen_dev_null() {
  int fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return;
  struct stat null_st;
  if (fstat(fd, &null_st) < 0 || !S_ISCHR(null_st.st_mode) || null_st.st_rdev != makedev(1, 3)) {
    close(fd);
    return;
  }
  for (int i = 0; i < 3; i++) {
    struct stat st;
    if (fstat(i, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != null_st.st_rdev) continue;
    // dup3 without O_CLOEXEC: stdio stays open across the exec.
    if (dup3(fd, i, 0) < 0) die(errno, "reopen /dev/null as fd %d", i);
  }
  close(fd);
}
