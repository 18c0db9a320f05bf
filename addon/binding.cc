// The addon's entry: each file of addon/napi/ registers the functions of its concern. The
// mechanism they wrap lives in addon/parent/ and addon/common/.
#include "napi/napi_common.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  register_launch(env, exports);
  register_processes(env, exports);
  register_files(env, exports);
  register_sockets(env, exports);
  register_server(env, exports);
  register_filters(env, exports);
  return exports;
}

NODE_API_MODULE(husk_native, Init)
