// Unix stream sockets (the console socket, D-Bus) and the terminal size of a pty master.
#include "napi_common.h"
#include "../parent/console.h"
#include "../parent/unix_stream.h"

static Napi::Value ListenUnix(const Napi::CallbackInfo &info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = listen_unix(path.c_str());
  if (fd < 0) throw errno_error(info.Env(), errno, "listen on " + path);
  return Napi::Number::New(info.Env(), fd);
}

static Napi::Value AcceptFd(const Napi::CallbackInfo &info) {
  int lfd = info[0].As<Napi::Number>().Int32Value();
  int timeout = info[1].As<Napi::Number>().Int32Value();
  char name[256];
  int fd = accept_fd(lfd, timeout, name, sizeof name);
  if (fd < 0) throw errno_error(info.Env(), errno, "receive fd on console socket");
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("fd", fd);
  o.Set("name", std::string(name));
  return o;
}

static Napi::Value ConnectUnix(const Napi::CallbackInfo &info) {
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = connect_unix_stream(path.c_str());
  if (fd < 0) throw errno_error(info.Env(), errno, "connect to " + path);
  return Napi::Number::New(info.Env(), fd);
}

// Returns the bytes read, an empty buffer at end of stream, or null when nothing came in time.
static Napi::Value ReadWithin(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = info[0].As<Napi::Number>().Int32Value();
  int timeout = info[1].As<Napi::Number>().Int32Value();
  static uint8_t buf[65536];
  ssize_t got = read_within(fd, buf, sizeof buf, timeout);
  if (got < 0) {
    if (errno == ETIMEDOUT) return env.Null();
    throw errno_error(env, errno, "read");
  }
  return Napi::Buffer<uint8_t>::Copy(env, buf, (size_t)got);
}

static Napi::Value SetWinsize(const Napi::CallbackInfo &info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct winsize ws;
  memset(&ws, 0, sizeof ws);
  ws.ws_row = (unsigned short)info[1].As<Napi::Number>().Uint32Value();
  ws.ws_col = (unsigned short)info[2].As<Napi::Number>().Uint32Value();
  if (ioctl(fd, TIOCSWINSZ, &ws) < 0) throw errno_error(info.Env(), errno, "set the terminal size");
  return info.Env().Undefined();
}

void register_sockets(Napi::Env env, Napi::Object exports) {
  exports.Set("listenUnix", Napi::Function::New(env, ListenUnix));
  exports.Set("acceptFd", Napi::Function::New(env, AcceptFd));
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix));
  exports.Set("readWithin", Napi::Function::New(env, ReadWithin));
  exports.Set("setWinsize", Napi::Function::New(env, SetWinsize));
}
