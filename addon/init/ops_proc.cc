// Per-process settings: hostname, sysctls, rlimits, oom score, personality.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/magic.h>
#include "init.h"

void op_hostname(plan_reader *r, bool domain) {
  const char *name = domain ? rd_op_domainname(r).name : rd_op_hostname(r).name;
  int rc = domain ? setdomainname(name, strlen(name)) : sethostname(name, strlen(name));
  if (rc < 0) die(errno, "set %s %s", domain ? "domainname" : "hostname", name);
}

// procfs writes go through the host procfs handle opened before any namespace or mount
// change, so no mount the container controls (over /proc, /proc/self or a /proc/sys file) can
// redirect them (CVE-2025-52881 class). Sysctl files act on the writer's namespaces, which
// are the container's by now.
static void write_proc(const char *rel, const char *value, const char *what) {
  int w = proc_open(rel, O_WRONLY);
  if (w < 0) die(errno, "%s: open /proc/%s", what, rel);
  size_t len = strlen(value);
  if (write(w, value, len) != (ssize_t)len) die(errno, "%s: write %s to /proc/%s", what, value, rel);
  close(w);
}

void op_sysctl(plan_reader *r) {
  const op_sysctl_args a = rd_op_sysctl(r);
  char path[PATH_MAX];
  int n = snprintf(path, sizeof path, "sys/%s", a.key);
  if (n >= (int)sizeof path) die(ENAMETOOLONG, "sysctl %s", a.key);
  for (char *c = path + 4; *c; c++)
    if (*c == '.') *c = '/';
  write_proc(path, a.value, "sysctl");
}

void op_oom_score_adj(plan_reader *r) {
  const op_oom_score_adj_args a = rd_op_oom_score_adj(r);
  write_proc("self/oom_score_adj", a.value, "oom_score_adj");
}

void op_rlimit(plan_reader *r) {
  const op_rlimit_args a = rd_op_rlimit(r);
  uint32_t res = a.resource;
  struct rlimit rl;
  rl.rlim_cur = a.soft;
  rl.rlim_max = a.hard;
  if (setrlimit((int)res, &rl) < 0) die(errno, "setrlimit %u (soft %llu, hard %llu)", res, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
}

void op_personality(plan_reader *r) {
  const op_personality_args a = rd_op_personality(r);
  if (personality((unsigned long)a.persona) < 0) die(errno, "personality 0x%llx", (unsigned long long)a.persona);
}

void op_ioprio(plan_reader *r) {
  const op_ioprio_args a = rd_op_ioprio(r);
  // ioprio_set(IOPRIO_WHO_PROCESS, 0 = ourselves, value)
  if (syscall(SYS_ioprio_set, 1, 0, (int)a.value) < 0) die(errno, "ioprio_set class %u level %u", a.value >> 13, a.value & 7);
}

// struct sched_attr, first version (48 bytes): what sched_setattr takes on every kernel that has it.
struct sched_attr_v0 {
  uint32_t size, policy;
  uint64_t flags;
  int32_t nice;
  uint32_t priority;
  uint64_t runtime, deadline, period;
};

void op_scheduler(plan_reader *r) {
  sched_attr_v0 a;
  memset(&a, 0, sizeof a);
  a.size = sizeof a;
  const op_scheduler_args f = rd_op_scheduler(r);
  a.policy = f.policy;
  a.flags = f.flags;
  a.nice = f.nice;
  a.priority = f.priority;
  a.runtime = f.runtime;
  a.deadline = f.deadline;
  a.period = f.period;
  if (syscall(SYS_sched_setattr, 0, &a, 0) < 0) die(errno, "sched_setattr policy %u", a.policy);
}

void op_proc_write(plan_reader *r) {
  const op_proc_write_args a = rd_op_proc_write(r);
  if (strncmp(a.path, "/proc/", 6) != 0) die(EINVAL, "malformed plan: procfs path %s", a.path);
  write_proc(a.path + 6, a.value, "procfs");
}
