// Loads a cgroup device program and attaches it to a cgroup v2 directory (what the kernel
// offers instead of devices.allow/deny). The program comes ready from src/plan/devices-bpf.ts.
#include "bpf.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long sys_bpf(int cmd, union bpf_attr *attr) { return syscall(SYS_bpf, cmd, attr, sizeof *attr); }

int attach_device_program(const char *cgroup_dir, const void *insns, size_t len, char *log, size_t log_len) {
  union bpf_attr load;
  memset(&load, 0, sizeof load);
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = (uint64_t)(uintptr_t)insns;
  load.insn_cnt = (uint32_t)(len / sizeof(struct bpf_insn));
  load.license = (uint64_t)(uintptr_t) "Apache-2.0";
  load.log_buf = (uint64_t)(uintptr_t)log;
  load.log_size = (uint32_t)log_len;
  load.log_level = log_len ? 1 : 0;
  int prog = (int)sys_bpf(BPF_PROG_LOAD, &load);
  if (prog < 0) return -errno;
  int dir = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    int e = errno;
    close(prog);
    return -e;
  }
  union bpf_attr at;
  memset(&at, 0, sizeof at);
  at.target_fd = (uint32_t)dir;
  at.attach_bpf_fd = (uint32_t)prog;
  at.attach_type = BPF_CGROUP_DEVICE;
  at.attach_flags = BPF_F_ALLOW_MULTI;
  long rc = sys_bpf(BPF_PROG_ATTACH, &at);
  int e = errno;
  close(dir);
  close(prog);  // the attachment keeps the program alive for as long as the cgroup
  return rc < 0 ? -e : 0;
}
