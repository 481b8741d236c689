#include "capture/exe_image.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "arch/registers.h"

namespace stackshot {

ExeImage exe_image(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/exe";
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd == -1) return ExeImage::kUnknown;
  unsigned char header[EI_NIDENT + 4] = {};
  struct stat st;
  ssize_t n = -1;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) n = pread(fd, header, sizeof header, 0);
  close(fd);
  if (n != static_cast<ssize_t>(sizeof header) || std::memcmp(header, ELFMAG, SELFMAG) != 0) return ExeImage::kUnknown;
  uint16_t machine;
  std::memcpy(&machine, header + EI_NIDENT + 2, sizeof machine);  // e_machine, after e_type
  const bool native =
      header[EI_CLASS] == ELFCLASS64 && header[EI_DATA] == ELFDATA2LSB && machine == native_elf_machine();
  return native ? ExeImage::kNative : ExeImage::kForeign;
}

ExeImage exe_image(pid_t pid, const std::string& identity) {
  thread_local pid_t native_pid = 0;
  thread_local std::string native_identity;
  if (pid == native_pid && !identity.empty() && identity == native_identity) return ExeImage::kNative;
  const ExeImage image = exe_image(pid);
  if (image == ExeImage::kNative && !identity.empty()) {
    native_pid = pid;
    native_identity = identity;
  }
  return image;
}

}  // namespace stackshot
