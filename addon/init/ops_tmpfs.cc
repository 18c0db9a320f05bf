// A tmpfs in mounts[]: as runc does, it takes the mode of the directory it covers when the
// config gives no mode= (a 1777 /tmp stays 1777), and with tmpcopyup gets a copy of what that
// directory held. Every step works on fds: the covered directory is opened before the mount
// (an fd opened then still reaches it), and the copy creates each name with *at calls that
// never follow a link, so nothing in the image can lead the copy out of the new tmpfs.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include "init.h"

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

static void copy_file(int from_dir, int to_dir, const char *name, const struct stat *st, const char *dest) {
  int in = openat(from_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (in < 0) die(errno, "tmpcopyup %s: open %s", dest, name);
  int out = openat(to_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st->st_mode & 07777);
  if (out < 0) die(errno, "tmpcopyup %s: create %s", dest, name);
  static char buf[65536];
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die(errno, "tmpcopyup %s: read %s", dest, name);
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(out, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) die(errno, "tmpcopyup %s: write %s", dest, name);
      off += w;
    }
  }
  close(in);
  close(out);
}

// Owner, mode and times of `name` in `to_dir` as `st` says (a link: owner and times only).
static void copy_meta(int to_dir, const char *name, const struct stat *st, const char *dest) {
  if (fchownat(to_dir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
    die(errno, "tmpcopyup %s: chown %s", dest, name);
  if (!S_ISLNK(st->st_mode) && fchmodat(to_dir, name, st->st_mode & 07777, 0) < 0)
    die(errno, "tmpcopyup %s: chmod %s", dest, name);
  struct timespec times[2] = {st->st_atim, st->st_mtim};
  utimensat(to_dir, name, times, AT_SYMLINK_NOFOLLOW);
}

static void copy_dir(int from_dir, int to_dir, const char *dest, int depth) {
  if (depth > 256) die(ELOOP, "tmpcopyup %s: directories nested too deep", dest);
  char buf[4096];
  for (;;) {
    long n = syscall(SYS_getdents64, from_dir, buf, sizeof buf);
    if (n < 0) die(errno, "tmpcopyup %s: read a directory", dest);
    if (n == 0) return;
    for (long off = 0; off < n;) {
      struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
      off += d->d_reclen;
      const char *name = d->d_name;
      if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
      struct stat st;
      if (fstatat(from_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) die(errno, "tmpcopyup %s: stat %s", dest, name);
      if (S_ISDIR(st.st_mode)) {
        if (mkdirat(to_dir, name, 0700) < 0) die(errno, "tmpcopyup %s: mkdir %s", dest, name);
        int sub_from = openat(from_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int sub_to = openat(to_dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub_from < 0 || sub_to < 0) die(errno, "tmpcopyup %s: open %s", dest, name);
        copy_dir(sub_from, sub_to, dest, depth + 1);
        close(sub_from);
        close(sub_to);
      } else if (S_ISREG(st.st_mode)) {
        copy_file(from_dir, to_dir, name, &st, dest);
      } else if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t len = readlinkat(from_dir, name, target, sizeof target - 1);
        if (len < 0) die(errno, "tmpcopyup %s: readlink %s", dest, name);
        target[len] = '\0';
        if (symlinkat(target, to_dir, name) < 0) die(errno, "tmpcopyup %s: symlink %s", dest, name);
      } else if (mknodat(to_dir, name, st.st_mode, st.st_rdev) < 0) {
        die(errno, "tmpcopyup %s: mknod %s", dest, name);
      }
      copy_meta(to_dir, name, &st, dest);
    }
  }
}

int tmpfs_before(int fd, uint32_t opts, const char *dest, struct stat *covered) {
  if (fstat(fd, covered) < 0) die(errno, "stat %s before mounting tmpfs on it", dest);
  if (!(opts & TMPFS_COPYUP)) return -1;
  int lower = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lower < 0) die(errno, "tmpcopyup %s: open the directory", dest);
  return lower;
}

void tmpfs_after(int fd, int lower, uint32_t opts, const char *dest, const struct stat *covered) {
  if (lower >= 0) {
    int upper = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (upper < 0) die(errno, "tmpcopyup %s: open the new tmpfs", dest);
    copy_dir(lower, upper, dest, 0);
    close(upper);
    close(lower);
  }
  if (opts & TMPFS_INHERIT_MODE) {
    char p[64];
    if (chmod(fdpath(fd, p, sizeof p), covered->st_mode & 07777) < 0) die(errno, "chmod the tmpfs on %s", dest);
  }
}
