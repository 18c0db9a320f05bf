// HOME for a process whose environment has none: the home field of the first /etc/passwd entry
// with the process's uid, "/" when there is none, as runc sets it. Read after pivot_root and
// after the host's procfs handle is closed, so the path resolves in the container and nothing
// it links to reaches the host. Matched by the uid field only: a user *named* "1000" is not uid
// 1000 (CVE-2016-3697). No heap: one static read buffer, lines longer than it are skipped.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "init.h"

static char buf[8192];

// name:password:uid:gid:gecos:home:shell. Returns the home field's start (ends at ':' or '\0').
static const char *home_if_uid(char *line, uint32_t uid) {
  char *field[7];
  int n = 0;
  field[n++] = line;
  for (char *c = line; *c && n < 7; c++)
    if (*c == ':') {
      *c = '\0';
      field[n++] = c + 1;
    }
  if (n < 6) return nullptr;
  const char *u = field[2];
  if (!*u) return nullptr;
  uint64_t v = 0;
  for (const char *c = u; *c; c++) {
    if (*c < '0' || *c > '9') return nullptr;
    v = v * 10 + (uint64_t)(*c - '0');
    if (v > 0xffffffffu) return nullptr;
  }
  if (v != uid) return nullptr;
  char *colon = strchr(field[5], ':');  // "home" may be followed by shell
  if (colon) *colon = '\0';
  return field[5];
}

static const char *lookup(uint32_t uid) {
  // O_NONBLOCK: a fifo planted at /etc/passwd must not hang the init; only a regular file counts.
  int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return nullptr;
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return nullptr;
  }
  size_t have = 0;
  bool skipping = false;  // inside a line longer than buf
  const char *found = nullptr;
  for (;;) {
    ssize_t got = read(fd, buf + have, sizeof buf - 1 - have);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break;
    have += (size_t)got;
    buf[have] = '\0';
    char *start = buf;
    char *nl;
    while ((nl = (char *)memchr(start, '\n', have - (size_t)(start - buf)))) {
      *nl = '\0';
      if (!skipping && (found = home_if_uid(start, uid))) break;
      skipping = false;
      start = nl + 1;
    }
    if (found) break;
    size_t rest = have - (size_t)(start - buf);
    if (got == 0) {  // the last line has no newline
      if (rest && !skipping) found = home_if_uid(start, uid);
      break;
    }
    if (rest == sizeof buf - 1) {  // no newline in a full buffer: skip to the next one
      skipping = true;
      rest = 0;
    }
    memmove(buf, start, rest);
    have = rest;
  }
  close(fd);
  return found;
}

void op_home_from_passwd(plan_reader *r) {
  const op_home_from_passwd_args a = rd_op_home_from_passwd(r);
  const char *home = lookup(a.uid);
  snprintf(g.home_env, sizeof g.home_env, "HOME=%s", home ? home : "/");
}
