// Whether a process runs a program of this addon's architecture, from its executable's ELF
// header: a 32-bit (i386) program on x86-64 has another register layout, and no capture path
// may read it as ours (ptrace returns a shorter register set; /proc's syscall file and perf
// samples give its registers in another form). src/procfs/elf-class.ts refuses such a process
// first, with a hint; this is the native side's own guard, for callers of the raw binding.
#pragma once
#include <sys/types.h>

#include <string>

namespace stackshot {

enum class ExeImage { kNative, kForeign, kUnknown };

// Reads 20 bytes of /proc/<pid>/exe (non-blocking, regular files only). kUnknown when it cannot
// be read (then the ptrace path's own register-size check still stands).
ExeImage exe_image(pid_t pid);

// The same, answered kNative without a read when this thread found pid's image native at its
// last look and `identity` (image_identity: its auxv) reads the same. A new image comes with a
// new auxv: another entry, program headers, random bytes; a 32-bit one's is 32-bit words.
ExeImage exe_image(pid_t pid, const std::string& identity);

}  // namespace stackshot
