// Seccomp filters are built with libseccomp, the library runc and crun use, loaded with dlopen
// so building husk needs no libseccomp headers and a host without it only fails when a config
// asks for seccomp. The filter is exported as BPF bytes; husk-init only loads them.
#include "seccomp.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <map>

namespace {

struct scmp_arg_cmp {
  unsigned int arg;
  int op;
  uint64_t datum_a;
  uint64_t datum_b;
};

struct lib {
  void *(*init)(uint32_t);
  void (*release)(void *);
  int (*arch_add)(void *, uint32_t);
  int (*arch_remove)(void *, uint32_t);
  uint32_t (*arch_native)(void);
  uint32_t (*arch_resolve_name)(const char *);
  int (*resolve_name)(const char *);
  int (*resolve_name_arch)(uint32_t, const char *);
  int (*rule_add_array)(void *, uint32_t, int, unsigned int, const scmp_arg_cmp *);
  int (*export_bpf)(void *, int);
  int (*attr_set)(void *, int, uint32_t);
  const unsigned int *(*version)(void);
  bool ok = false;
  std::string error;
};

lib &seccomp_lib() {
  static lib l;
  static bool tried = false;
  if (tried) return l;
  tried = true;
  void *h = dlopen("libseccomp.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    l.error = "libseccomp.so.2 not found: install libseccomp2 (apt-get install libseccomp2) to use linux.seccomp";
    return l;
  }
  l.init = (void *(*)(uint32_t))dlsym(h, "seccomp_init");
  l.release = (void (*)(void *))dlsym(h, "seccomp_release");
  l.arch_add = (int (*)(void *, uint32_t))dlsym(h, "seccomp_arch_add");
  l.arch_remove = (int (*)(void *, uint32_t))dlsym(h, "seccomp_arch_remove");
  l.arch_native = (uint32_t(*)(void))dlsym(h, "seccomp_arch_native");
  l.arch_resolve_name = (uint32_t(*)(const char *))dlsym(h, "seccomp_arch_resolve_name");
  l.resolve_name = (int (*)(const char *))dlsym(h, "seccomp_syscall_resolve_name");
  l.resolve_name_arch = (int (*)(uint32_t, const char *))dlsym(h, "seccomp_syscall_resolve_name_arch");
  l.rule_add_array = (int (*)(void *, uint32_t, int, unsigned int, const scmp_arg_cmp *))dlsym(h, "seccomp_rule_add_array");
  l.export_bpf = (int (*)(void *, int))dlsym(h, "seccomp_export_bpf");
  l.attr_set = (int (*)(void *, int, uint32_t))dlsym(h, "seccomp_attr_set");
  l.version = (const unsigned int *(*)(void))dlsym(h, "seccomp_version");
  if (!l.init || !l.release || !l.arch_add || !l.arch_native || !l.arch_resolve_name || !l.resolve_name || !l.resolve_name_arch || !l.rule_add_array ||
      !l.export_bpf || !l.attr_set) {
    l.error = "libseccomp.so.2 lacks a needed function (too old?)";
    return l;
  }
  l.ok = true;
  return l;
}

const int SCMP_FLTATR_CTL_TSYNC = 4;
const int SCMP_FLTATR_API_TSKIP = 5;
// x32 calls on x86_64 carry this bit; they are the x32 architecture's, left to the filter.
const uint32_t X32_SYSCALL_BIT = 0x40000000;

sock_filter stmt(uint16_t code, uint32_t k) { return {code, 0, 0, k}; }
sock_filter jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) { return {code, jt, jf, k}; }

// The ENOSYS stub (runc's patchbpf, in our own words): per architecture of the filter, a call
// whose number is above the highest the profile names returns ENOSYS; everything else goes on
// to libseccomp's program, which starts by loading the architecture again.
std::vector<sock_filter> enosys_stub(const std::map<uint32_t, int> &max_by_arch) {
  std::vector<sock_filter> blocks;
  for (const auto &[arch, max] : max_by_arch) {
    bool x86_64 = arch == AUDIT_ARCH_X86_64;
    std::vector<sock_filter> b;
    b.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
    // [ld nr] [x32? -> pass] [> max? -> enosys : pass] [ret ENOSYS] [pass: ja filter]
    if (x86_64) b.push_back(jump(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 2, 0));
    b.push_back(jump(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)max, 0, 1));
    b.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)));
    b.push_back(stmt(BPF_JMP | BPF_JA, 0));  // k set below: to the filter's start
    blocks.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, arch, 0, (uint8_t)b.size()));
    blocks.insert(blocks.end(), b.begin(), b.end());
  }
  // Each block's pass jump goes over the blocks after it.
  for (size_t i = 0; i < blocks.size(); i++)
    if (blocks[i].code == (BPF_JMP | BPF_JA)) blocks[i].k = (uint32_t)(blocks.size() - i - 1);
  std::vector<sock_filter> out;
  out.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  out.insert(out.end(), blocks.begin(), blocks.end());
  return out;
}

}  // namespace

std::string seccomp_lib_version() {
  lib &l = seccomp_lib();
  if (!l.ok || !l.version) return "";
  const unsigned int *v = l.version();  // struct scmp_version { major, minor, micro }
  return std::to_string(v[0]) + "." + std::to_string(v[1]) + "." + std::to_string(v[2]);
}

std::string seccomp_compile(const seccomp_request &req, std::vector<uint8_t> *bpf, std::vector<std::string> *unknown) {
  lib &l = seccomp_lib();
  if (!l.ok) return l.error;
  void *ctx = l.init(req.default_action);
  if (!ctx) return "seccomp_init failed (bad defaultAction?)";
  std::string err;
  l.attr_set(ctx, SCMP_FLTATR_API_TSKIP, 1);
  l.attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 0);
  std::vector<uint32_t> arch_tokens = {l.arch_native()};
  for (const std::string &a : req.arches) {
    uint32_t token = l.arch_resolve_name(a.c_str());
    if (token) arch_tokens.push_back(token);
    if (!token) {
      err = "unknown seccomp architecture " + a;
      break;
    }
    int rc = l.arch_add(ctx, token);
    if (rc < 0 && rc != -EEXIST) {
      err = "seccomp: add architecture " + a + ": " + strerror(-rc);
      break;
    }
  }
  for (size_t i = 0; err.empty() && i < req.rules.size(); i++) {
    const seccomp_rule &r = req.rules[i];
    int nr = l.resolve_name(r.name.c_str());
    if (nr == -1) {  // __NR_SCMP_ERROR: not a syscall this libseccomp knows on these arches
      unknown->push_back(r.name);
      continue;
    }
    std::vector<scmp_arg_cmp> cmps;
    for (const seccomp_cond &c : r.conds) cmps.push_back({c.index, (int)c.op, c.a, c.b});
    int rc = l.rule_add_array(ctx, r.action, nr, (unsigned)cmps.size(), cmps.empty() ? nullptr : cmps.data());
    if (rc < 0) err = "seccomp: rule for " + r.name + ": " + strerror(-rc);
  }
  // The highest number the profile names on each architecture (libseccomp's tokens are the
  // kernel's AUDIT_ARCH values); negative numbers are libseccomp's pseudo-syscalls.
  std::map<uint32_t, int> max_by_arch;
  for (uint32_t arch : arch_tokens)
    for (const std::string &name : req.enosys_above) {
      int nr = l.resolve_name_arch(arch, name.c_str());
      if (nr < 0) continue;
      auto it = max_by_arch.find(arch);
      if (it == max_by_arch.end() || nr > it->second) max_by_arch[arch] = nr;
    }
  if (err.empty()) {
    int fd = memfd_create("husk-seccomp", MFD_CLOEXEC);
    if (fd < 0) err = std::string("memfd: ") + strerror(errno);
    else {
      int rc = l.export_bpf(ctx, fd);
      if (rc < 0) err = std::string("seccomp export: ") + strerror(-rc);
      else {
        off_t len = lseek(fd, 0, SEEK_END);
        bpf->resize((size_t)len);
        if (pread(fd, bpf->data(), (size_t)len, 0) != len) err = "seccomp export: short read";
        else if (!max_by_arch.empty()) {
          std::vector<sock_filter> stub = enosys_stub(max_by_arch);
          const uint8_t *s = (const uint8_t *)stub.data();
          bpf->insert(bpf->begin(), s, s + stub.size() * sizeof(sock_filter));
        }
      }
      close(fd);
    }
  }
  l.release(ctx);
  return err;
}
