#pragma once
#include <stdint.h>
#include <string>
#include <vector>

struct seccomp_cond {
  uint32_t index;
  uint32_t op;  // SCMP_CMP_* (1..7)
  uint64_t a, b;
};

struct seccomp_rule {
  std::string name;
  uint32_t action;  // a complete SCMP_ACT_* value (errno already folded in)
  std::vector<seccomp_cond> conds;
};

struct seccomp_request {
  uint32_t default_action;
  std::vector<std::string> arches;
  std::vector<seccomp_rule> rules;
  // Names whose highest number, per architecture, bounds the stub put before the filter:
  // anything above it gets ENOSYS. Empty: no stub.
  std::vector<std::string> enosys_above;
};

// Compiles with libseccomp (dlopen'd) into a classic BPF program. Names the kernel's
// libseccomp does not know are returned in *unknown and skipped. Returns "" on success or
// the error text.
std::string seccomp_compile(const seccomp_request &req, std::vector<uint8_t> *bpf, std::vector<std::string> *unknown);

// "major.minor.micro" of the libseccomp found, or "" when there is none.
std::string seccomp_lib_version();
