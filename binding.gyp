{
  "targets": [
    {
      "target_name": "stackshot",
      "sources": [
        "native/binding/addon.cc",
        "native/binding/capture_binding.cc",
        "native/binding/demangle_binding.cc",
        "native/binding/memory_binding.cc",
        "native/binding/symbols_binding.cc",
        "native/binding/unwind_binding.cc",
        "native/binding/xz_binding.cc",
        "native/capture/arena.cc",
        "native/capture/capture.cc",
        "native/capture/exec_guard.cc",
        "native/capture/paths.cc",
        "native/capture/blocked/blocked_capture.cc",
        "native/capture/blocked/task_files.cc",
        "native/capture/proc_maps.cc",
        "native/capture/stack_reader.cc",
        "native/capture/task_list.cc",
        "native/capture/tracee.cc",
        "native/capture/tracee_events.cc",
        "native/capture/tracer_thread.cc",
        "native/capture/perf/perf_event.cc",
        "native/capture/perf/ring.cc",
        "native/capture/perf/sample_format.cc",
        "native/capture/perf/thread_sampler.cc",
        "native/compress/xz_decoder.cc",
        "native/demangle/demangle.cc",
        "native/demangle/itanium.cc",
        "native/demangle/punycode.cc",
        "native/demangle/rust_legacy.cc",
        "native/demangle/rust_v0.cc",
        "native/symbols/symbol_index.cc",
        "native/unwind/unwinder.cc",
        "native/unwind/cfi_registry.cc",
        "native/unwind/cfi/cfa_program.cc",
        "native/unwind/cfi/cfi_table.cc",
        "native/unwind/cfi/dwarf_reader.cc",
        "native/unwind/cfi/eh_frame.cc",
        "native/unwind/cfi/eh_frame_hdr.cc",
        "native/unwind/cfi/fde_index.cc",
        "native/arch/x86_64/first_frame.cc",
        "native/arch/x86_64/signal_frame.cc",
        "native/arch/aarch64/first_frame.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-O2", "-fexceptions", "-Wall", "-Wextra", "-fno-omit-frame-pointer"],
      "cflags_cc!": ["-fno-exceptions"],
      "conditions": [
        ["target_arch=='x64'", { "sources": ["native/arch/x86_64/registers.cc", "native/capture/perf/x86_64/sample_regs.cc"]  }],
        ["target_arch=='arm64'", { "sources": ["native/arch/aarch64/registers.cc", "native/capture/perf/aarch64/sample_regs.cc"] }]
      ]
    }
  ]
}
