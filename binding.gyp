{
  "targets": [
    {
      "target_name": "husk_contract",
      "type": "none",
      "actions": [
        {
          "action_name": "gen_contract",
          "inputs": ["src/plan/contract/ops.json", "scripts/gen-contract.mjs"],
          "outputs": ["addon/common/generated/contract.h", "addon/init/generated/op_args.h"],
          "action": ["node", "scripts/gen-contract.mjs"]
        }
      ]
    },
    {
      "target_name": "husk_native",
      "dependencies": ["husk_contract"],
      "sources": ["addon/binding.cc", "addon/napi/errors.cc", "addon/napi/fdwait.cc", "addon/napi/launch.cc", "addon/napi/processes.cc", "addon/napi/files.cc", "addon/napi/sockets.cc", "addon/napi/server.cc", "addon/napi/filters.cc", "addon/parent/spawn.cc", "addon/parent/console.cc", "addon/parent/seccomp.cc", "addon/parent/bpf.cc", "addon/parent/unix_stream.cc", "addon/common/launch.cc"],
      "libraries": ["-ldl"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-missing-field-initializers"]
    },
    {
      "target_name": "husk-init",
      "type": "executable",
      "dependencies": ["husk_contract"],
      "sources": [
        "addon/init/main.cc",
        "addon/init/plan_reader.cc",
        "addon/init/report.cc",
        "addon/init/safe_path.cc",
        "addon/init/ops_ns.cc",
        "addon/init/ops_mount.cc",
        "addon/init/no_pivot.cc",
        "addon/init/ops_tmpfs.cc",
        "addon/init/ops_sources.cc",
        "addon/init/ops_idmap.cc",
        "addon/init/ops_dev.cc",
        "addon/init/ops_proc.cc",
        "addon/init/ops_creds.cc",
        "addon/init/ops_console.cc",
        "addon/init/ops_exec.cc",
        "addon/init/ops_hooks.cc"
      ],
      "cflags_cc": ["-std=c++17", "-Os", "-Wall", "-Wextra", "-fno-exceptions", "-fno-rtti", "-Wno-missing-field-initializers", "<!@(node scripts/musl-flags.mjs cflags)"],
      "ldflags": ["-static", "-s", "<!@(node scripts/musl-flags.mjs ldflags)"]
    },
    {
      "target_name": "husk",
      "type": "executable",
      "dependencies": ["husk_contract"],
      "sources": ["addon/front/main.cc", "addon/common/launch.cc"],
      "cflags_cc": ["-std=c++17", "-Os", "-Wall", "-Wextra", "-fno-exceptions", "-fno-rtti", "-Wno-missing-field-initializers", "<!@(node scripts/musl-flags.mjs cflags)"],
      "ldflags": ["-static", "-s", "<!@(node scripts/musl-flags.mjs ldflags)"]
    }
  ]
}
