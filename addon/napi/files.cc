// File calls Node lacks or makes slow: batched and background writes (cgroup files), background
// rmdirs, renameat2(RENAME_EXCHANGE), errno-returning unlink, flock.
#include "napi_common.h"
#include <sys/mount.h>

// One write of a small file on the thread pool, in the background: resolves to 0 or an errno,
// never rejects (for writes whose only value is a head start, see primeCgroupAttach).
class WriteWorker : public Napi::AsyncWorker {
 public:
  WriteWorker(Napi::Env env, std::string path, std::string data)
      : Napi::AsyncWorker(env), path_(std::move(path)), data_(std::move(data)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    int fd = open(path_.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      err_ = errno;
      return;
    }
    if (write(fd, data_.data(), data_.size()) != (ssize_t)data_.size()) err_ = errno ? errno : EIO;
    close(fd);
  }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), err_)); }

 private:
  std::string path_, data_;
  int err_ = 0;
  Napi::Promise::Deferred deferred_;
};

// rmdir of each path in order, on the thread pool: resolves to the errno of each (0: removed).
// Lets delete remove a stopped container's cgroups while the main thread removes its state.
class RmdirsWorker : public Napi::AsyncWorker {
 public:
  RmdirsWorker(Napi::Env env, std::vector<std::string> paths)
      : Napi::AsyncWorker(env), paths_(std::move(paths)), errs_(paths_.size(), 0), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    for (size_t i = 0; i < paths_.size(); i++)
      if (rmdir(paths_[i].c_str()) < 0) errs_[i] = errno;
  }
  void OnOK() override {
    Napi::Array a = Napi::Array::New(Env(), errs_.size());
    for (size_t i = 0; i < errs_.size(); i++) a.Set((uint32_t)i, Napi::Number::New(Env(), errs_[i]));
    deferred_.Resolve(a);
  }

 private:
  std::vector<std::string> paths_;
  std::vector<int> errs_;
  Napi::Promise::Deferred deferred_;
};

static Napi::Value RmdirsInBackground(const Napi::CallbackInfo &info) {
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<std::string> paths;
  for (uint32_t i = 0; i < arr.Length(); i++) paths.push_back(arr.Get(i).As<Napi::String>().Utf8Value());
  auto *w = new RmdirsWorker(info.Env(), std::move(paths));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

static Napi::Value WriteInBackground(const Napi::CallbackInfo &info) {
  auto *w = new WriteWorker(info.Env(), info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

// renameat2(RENAME_EXCHANGE): the errno, 0 when done. A state record replaced this way (and the
// old one unlinked) costs ext4 far less than a rename over it, which makes ext4 allocate the new
// file's blocks at once (auto_da_alloc), and an unlink later has to free them.
static Napi::Value Exchange(const Napi::CallbackInfo &info) {
  std::string a = info[0].As<Napi::String>().Utf8Value();
  std::string b = info[1].As<Napi::String>().Utf8Value();
  long rc = syscall(SYS_renameat2, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE);
  return Napi::Number::New(info.Env(), rc < 0 ? errno : 0);
}

// unlink without an exception for a file that is not there: the errno, 0 when done.
static Napi::Value Unlink(const Napi::CallbackInfo &info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  return Napi::Number::New(info.Env(), unlink(path.c_str()) < 0 ? errno : 0);
}

// Each value into its existing file (no O_CREAT, truncated), in order, stopping at the first
// failure: the errno of each write (0: done; entries after a failure stay 0 and unwritten).
// One call instead of three fs calls a file: a container's cgroup limits and device rules are a
// dozen small writes on create's critical path.
static Napi::Value WriteFiles(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Array paths = info[0].As<Napi::Array>();
  Napi::Array values = info[1].As<Napi::Array>();
  uint32_t n = paths.Length();
  Napi::Array errs = Napi::Array::New(env, n);
  bool failed = false;
  for (uint32_t i = 0; i < n; i++) {
    int err = 0;
    if (!failed) {
      std::string path = paths.Get(i).As<Napi::String>().Utf8Value();
      std::string value = values.Get(i).As<Napi::String>().Utf8Value();
      int fd = open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
      if (fd < 0) {
        err = errno;
      } else {
        ssize_t w = write(fd, value.data(), value.size());
        if (w < 0) err = errno;
        else if ((size_t)w != value.size()) err = EIO;
        close(fd);
      }
      failed = err != 0;
    }
    errs.Set(i, Napi::Number::New(env, err));
  }
  return errs;
}

// flock on an fd, so concurrent husk processes serialise on one container.
static Napi::Value Flock(const Napi::CallbackInfo &info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int op = info[1].As<Napi::Number>().Int32Value();
  int rc;
  do rc = flock(fd, op);
  while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    if (errno == EWOULDBLOCK) return Napi::Boolean::New(info.Env(), false);
    throw errno_error(info.Env(), errno, "flock");
  }
  return Napi::Boolean::New(info.Env(), true);
}

// Detaches the mount on top of a path (and every mount below it): the rootfs bind of a container
// that had no mount namespace of its own. Returns 0 or an errno.
static Napi::Value UmountDetach(const Napi::CallbackInfo &info) {
  std::string p = info[0].As<Napi::String>().Utf8Value();
  int rc = umount2(p.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
  return Napi::Number::New(info.Env(), rc < 0 ? errno : 0);
}

// A recursive bind of a directory (criu restore's root: the rootfs as a mount of its own).
static Napi::Value BindMount(const Napi::CallbackInfo &info) {
  std::string src = info[0].As<Napi::String>().Utf8Value();
  std::string dst = info[1].As<Napi::String>().Utf8Value();
  int rc = mount(src.c_str(), dst.c_str(), nullptr, MS_BIND | MS_REC, nullptr);
  return Napi::Number::New(info.Env(), rc < 0 ? errno : 0);
}

void register_files(Napi::Env env, Napi::Object exports) {
  exports.Set("bindMount", Napi::Function::New(env, BindMount));
  exports.Set("writeInBackground", Napi::Function::New(env, WriteInBackground));
  exports.Set("rmdirsInBackground", Napi::Function::New(env, RmdirsInBackground));
  exports.Set("exchange", Napi::Function::New(env, Exchange));
  exports.Set("unlink", Napi::Function::New(env, Unlink));
  exports.Set("writeFiles", Napi::Function::New(env, WriteFiles));
  exports.Set("flock", Napi::Function::New(env, Flock));
  exports.Set("umountDetach", Napi::Function::New(env, UmountDetach));
}
