// --no-pivot: the rootfs is moved over / and chrooted into, so the old root's mounts stay in
// the mount namespace underneath it. Unreachable by path, they still count for the kernel's
// "is this filesystem already fully visible" check (mount_too_revealing): a host procfs or
// sysfs left there lets a process in a nested user namespace mount a fresh, unmasked proc or
// sysfs, which pivot_root (that detaches the old root) refuses. So every full proc and sysfs
// mount outside the rootfs is detached first (or covered where it cannot be), as runc does.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>
#include "init.h"

// mountinfo escapes space, tab, newline and backslash as \ooo; decoded in place.
static void unescape(char *s) {
  char *o = s;
  for (char *p = s; *p; p++) {
    if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
      *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
      p += 3;
    } else {
      *o++ = *p;
    }
  }
  *o = '\0';
}

static char *read_mountinfo(void) {
  int fd = proc_open("self/mountinfo", O_RDONLY);
  if (fd < 0) die(errno, "no-pivot: open /proc/self/mountinfo");
  size_t cap = 1 << 16, len = 0;
  char *buf = (char *)malloc(cap);
  if (!buf) die(ENOMEM, "no-pivot: mountinfo buffer");
  for (;;) {
    if (len + 1 >= cap) {
      char *more = (char *)realloc(buf, cap *= 2);
      if (!more) die(ENOMEM, "no-pivot: mountinfo buffer");
      buf = more;
    }
    ssize_t n = read(fd, buf + len, cap - len - 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die(errno, "no-pivot: read /proc/self/mountinfo");
    if (n == 0) break;
    len += (size_t)n;
  }
  close(fd);
  buf[len] = '\0';
  return buf;
}

static bool under(const char *path, const char *dir) {
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--;
  return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

// One mountinfo line: "id parent maj:min root mountpoint opts [optional...] - fstype src super".
// True for a full (root "/") proc or sysfs mount outside the rootfs; *mp is its mountpoint.
static bool host_pseudo_fs(char *line, const char *rootfs, char **mp) {
  char *field[5];
  char *save = nullptr;
  char *tok = strtok_r(line, " ", &save);
  for (int i = 0; i < 5; i++, tok = strtok_r(nullptr, " ", &save)) {
    if (!tok) return false;
    field[i] = tok;
  }
  while (tok && strcmp(tok, "-") != 0) tok = strtok_r(nullptr, " ", &save);
  char *fstype = tok ? strtok_r(nullptr, " ", &save) : nullptr;
  if (!fstype || (strcmp(fstype, "proc") != 0 && strcmp(fstype, "sysfs") != 0)) return false;
  if (strcmp(field[3], "/") != 0) return false;
  unescape(field[4]);
  if (under(field[4], rootfs)) return false;
  *mp = field[4];
  return true;
}

void hide_host_pseudo_fs(void) {
  // The rootfs as the kernel names it (mountinfo has no symlinks in it).
  char rootfs[PATH_MAX];
  fd_path(g.root_fd, rootfs, sizeof rootfs);
  if (rootfs[0] != '/') die(EINVAL, "no-pivot: cannot name the rootfs %s", g.rootfs);
  char *text = read_mountinfo();
  // Lines in order, so children come after their parents; undone deepest (last) first.
  size_t count = 0;
  for (char *p = text; *p; p++)
    if (*p == '\n') count++;
  char **lines = (char **)calloc(count + 1, sizeof *lines);
  if (!lines) die(ENOMEM, "no-pivot: mountinfo lines");
  size_t n = 0;
  for (char *save = nullptr, *l = strtok_r(text, "\n", &save); l; l = strtok_r(nullptr, "\n", &save))
    lines[n++] = l;
  for (size_t i = n; i-- > 0;) {
    char *mp = nullptr;
    if (!host_pseudo_fs(lines[i], rootfs, &mp)) continue;
    // A slave first: the detach must never propagate to the host's mounts.
    if (mount(nullptr, mp, nullptr, MS_SLAVE | MS_REC, nullptr) < 0) {
      if (errno == ENOENT) continue;  // under a parent detached already
      die(errno, "no-pivot: make %s a slave", mp);
    }
    if (umount2(mp, MNT_DETACH) == 0) continue;
    // Mounts locked into a user namespace cannot be detached: covered instead.
    if (errno != EINVAL && errno != EPERM) die(errno, "no-pivot: detach %s", mp);
    if (mount("tmpfs", mp, "tmpfs", MS_RDONLY, "size=0k") < 0) die(errno, "no-pivot: cover %s", mp);
  }
  free(lines);
  free(text);
}
