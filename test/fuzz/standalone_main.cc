// Runs a fuzz target's entry point once on each file given (or on each file of each directory
// given), without libFuzzer: how `npm test` replays the seed corpus and the regression inputs
// with any C++ compiler. Prints how many inputs ran; a finding aborts (FUZZ_CHECK, sanitizers).
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool run_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A copy of exactly `size` bytes on the heap, so ASan sees reads past the end as libFuzzer does.
  auto* copy = new uint8_t[bytes.size() + (bytes.empty() ? 1 : 0)];
  std::copy(bytes.begin(), bytes.end(), copy);
  std::fprintf(stderr, "input: %s\n", path.c_str());
  LLVMFuzzerTestOneInput(copy, bytes.size());
  delete[] copy;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  size_t count = 0;
  for (int i = 1; i < argc; i++) {
    const std::string arg = argv[i];
    struct stat st;
    if (stat(arg.c_str(), &st) != 0) {
      std::fprintf(stderr, "no such input: %s\n", arg.c_str());
      return 2;
    }
    std::vector<std::string> files;
    if (S_ISDIR(st.st_mode)) {
      DIR* dir = opendir(arg.c_str());
      if (dir == nullptr) return 2;
      while (dirent* e = readdir(dir)) {
        const std::string name = e->d_name;
        if (name == "." || name == ".." || name[0] == '.') continue;
        files.push_back(arg + "/" + name);
      }
      closedir(dir);
      std::sort(files.begin(), files.end());
    } else {
      files.push_back(arg);
    }
    for (const std::string& f : files) {
      if (!run_file(f)) {
        std::fprintf(stderr, "cannot read %s\n", f.c_str());
        return 2;
      }
      count++;
    }
  }
  std::printf("ran %zu inputs\n", count);
  return 0;
}
