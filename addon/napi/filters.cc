// Kernel filters built in the parent: seccomp programs compiled with libseccomp, and the cgroup
// v2 device program attached to a container's directory.
#include "napi_common.h"
#include "../parent/bpf.h"
#include "../parent/seccomp.h"

static Napi::Value CompileSeccomp(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  seccomp_request req;
  req.default_action = o.Get("defaultAction").As<Napi::Number>().Uint32Value();
  Napi::Array arches = o.Get("arches").As<Napi::Array>();
  for (uint32_t i = 0; i < arches.Length(); i++) req.arches.push_back(arches.Get(i).As<Napi::String>().Utf8Value());
  Napi::Array rules = o.Get("rules").As<Napi::Array>();
  for (uint32_t i = 0; i < rules.Length(); i++) {
    Napi::Object r = rules.Get(i).As<Napi::Object>();
    seccomp_rule rule;
    rule.name = r.Get("name").As<Napi::String>().Utf8Value();
    rule.action = r.Get("action").As<Napi::Number>().Uint32Value();
    Napi::Array conds = r.Get("conds").As<Napi::Array>();
    for (uint32_t j = 0; j < conds.Length(); j++) {
      Napi::Object c = conds.Get(j).As<Napi::Object>();
      bool lossless;
      rule.conds.push_back({c.Get("index").As<Napi::Number>().Uint32Value(), c.Get("op").As<Napi::Number>().Uint32Value(),
                            c.Get("a").As<Napi::BigInt>().Uint64Value(&lossless), c.Get("b").As<Napi::BigInt>().Uint64Value(&lossless)});
    }
    req.rules.push_back(std::move(rule));
  }
  std::vector<uint8_t> bpf;
  std::vector<std::string> unknown;
  std::string err = seccomp_compile(req, &bpf, &unknown);
  if (!err.empty()) throw Napi::Error::New(env, err);
  Napi::Object out = Napi::Object::New(env);
  out.Set("bpf", Napi::Buffer<uint8_t>::Copy(env, bpf.data(), bpf.size()));
  Napi::Array u = Napi::Array::New(env, unknown.size());
  for (size_t i = 0; i < unknown.size(); i++) u.Set((uint32_t)i, unknown[i]);
  out.Set("unknown", u);
  return out;
}

static Napi::Value AttachDeviceProgram(const Napi::CallbackInfo &info) {
  std::string dir = info[0].As<Napi::String>().Utf8Value();
  Napi::Buffer<uint8_t> prog = info[1].As<Napi::Buffer<uint8_t>>();
  static char log[16384];
  log[0] = '\0';
  int rc = attach_device_program(dir.c_str(), prog.Data(), prog.Length(), log, sizeof log);
  if (rc < 0) {
    std::string what = "attach the device program to " + dir;
    if (log[0]) what += " (verifier: " + std::string(log).substr(0, 400) + ")";
    throw errno_error(info.Env(), -rc, what);
  }
  return info.Env().Undefined();
}

void register_filters(Napi::Env env, Napi::Object exports) {
  exports.Set("compileSeccomp", Napi::Function::New(env, CompileSeccomp));
  exports.Set("attachDeviceProgram", Napi::Function::New(env, AttachDeviceProgram));
  exports.Set("seccompVersion", Napi::Function::New(env, [](const Napi::CallbackInfo &info) -> Napi::Value {
    return Napi::String::New(info.Env(), seccomp_lib_version());
  }));
}
