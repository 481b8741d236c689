// Legacy Rust names: `_ZN` <len><component>… `17h<16 hex>` `E` [.suffix]. The components are
// joined with `::` and unescaped (`$LT$` `<`, `$u7b$` `{`, `..` `::`, …), by libiberty's rules
// for what is accepted, refused and unescaped. Verbose, as GNU c++filt prints them, the hash
// stays as the last component (`foo::bar::h0123456789abcdef`); short, as perf, gdb and
// `nm -C` print them, it is dropped.
//
// These names are valid Itanium names too (which would print the same components, but not
// unescaped); like c++filt, the caller tries this reading first.
#include "demangle/rust_legacy.h"

#include <cstdint>
#include <vector>

namespace stackshot {

namespace {

constexpr std::string_view kPrefixes[] = {
    "_ZN",   // ELF
    "__ZN",  // Mach-O's extra underscore; accepted as rustc-demangle accepts it
    "ZN",    // the same, with the platform's underscore stripped
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

int lower_hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// `h` and 16 lowercase hex digits, at least 5 of them distinct (a real hash, not a name that
// happens to look like one).
bool is_hash(std::string_view s) {
  if (s.size() != 17 || s[0] != 'h') return false;
  unsigned seen = 0;
  for (size_t i = 1; i < s.size(); i++) {
    const int v = lower_hex_value(s[i]);
    if (v < 0) return false;
    seen |= 1u << v;
  }
  return __builtin_popcount(seen) >= 5;
}

// Splits `body` into its <decimal length><bytes> components; false if it is not exactly that.
bool split_components(std::string_view body, std::vector<std::string_view>* out) {
  size_t pos = 0;
  while (pos < body.size()) {
    if (!is_digit(body[pos])) return false;
    uint64_t len = static_cast<uint64_t>(body[pos++] - '0');
    if (len != 0) {
      while (pos < body.size() && is_digit(body[pos])) {
        len = len * 10 + static_cast<uint64_t>(body[pos++] - '0');
        if (len > body.size()) return false;
      }
    }
    if (len == 0 || len > body.size() - pos) return false;
    out->push_back(body.substr(pos, static_cast<size_t>(len)));
    pos += static_cast<size_t>(len);
  }
  return true;
}

// The character a `$…$` escape at the start of `s` stands for, and the escape's length; 0 if
// it is not one. `$uXX$` is any printable ASCII character, by its code.
char unescape(std::string_view s, size_t* escape_len) {
  if (s.size() < 3 || s[0] != '$') return 0;
  std::string_view e = s.substr(1);
  char c = 0;
  size_t code_len = 0;
  if (e[0] == 'C') {
    code_len = 1;
    c = ',';
  } else if (e.size() > 2) {
    code_len = 2;
    static constexpr struct {
      char a, b, c;
    } kTwoLetter[] = {{'S', 'P', '@'}, {'B', 'P', '*'}, {'R', 'F', '&'}, {'L', 'T', '<'},
                      {'G', 'T', '>'}, {'L', 'P', '('}, {'R', 'P', ')'}};
    for (const auto& t : kTwoLetter) {
      if (e[0] == t.a && e[1] == t.b) c = t.c;
    }
    if (c == 0 && e[0] == 'u' && e.size() > 3) {
      code_len = 3;
      const int hi = lower_hex_value(e[1]);
      const int lo = lower_hex_value(e[2]);
      if (hi < 0 || lo < 0 || hi > 7) return 0;
      c = static_cast<char>(hi << 4 | lo);
      if (c < 0x20) return 0;
    }
  }
  if (c == 0 || e.size() <= code_len || e[code_len] != '$') return 0;
  *escape_len = 2 + code_len;
  return c;
}

void append_component(std::string_view s, std::string* out) {
  // rustc puts `_` before a component that would start with an escape.
  if (s.size() >= 2 && s[0] == '_' && s[1] == '$') s.remove_prefix(1);
  while (!s.empty()) {
    size_t len;
    if (s[0] == '$') {
      const char c = unescape(s, &len);
      if (c == 0) {
        // Not an escape c++filt knows: the rest of the component verbatim.
        out->append(s);
        return;
      }
      out->push_back(c);
    } else if (s[0] == '.') {
      len = s.size() >= 2 && s[1] == '.' ? 2 : 1;
      out->append(len == 2 ? "::" : ".");
    } else {
      len = 0;
      while (len < s.size() && s[len] != '$' && s[len] != '.') len++;
      out->append(s.substr(0, len));
    }
    s.remove_prefix(len);
  }
}

}  // namespace

std::optional<std::string> demangle_rust_legacy(std::string_view name, bool verbose) {
  std::string_view sym;
  for (std::string_view prefix : kPrefixes) {
    if (name.substr(0, prefix.size()) == prefix) {
      sym = name.substr(prefix.size());
      break;
    }
  }
  if (sym.empty()) return std::nullopt;
  for (char c : sym) {
    if (!is_alnum(c) && c != '_' && c != '$' && c != '.' && c != ':' && c != '@') return std::nullopt;
  }
  // Drop a `.suffix` after the closing `E` (`.llvm.1234`): cut back to an `E` that ends the
  // name or is followed by a `.`.
  size_t end = sym.size();
  bool before_dot = true;
  while (end > 0 && !(before_dot && sym[end - 1] == 'E')) {
    before_dot = sym[end - 1] == '.';
    end--;
  }
  if (end == 0) return std::nullopt;
  const std::string_view body = sym.substr(0, end - 1);
  // Cheap filter before splitting: most C++ names do not end in a hash component.
  if (body.size() <= 19 || body.substr(body.size() - 19, 3) != "17h") return std::nullopt;
  std::vector<std::string_view> components;
  if (!split_components(body, &components) || !is_hash(components.back())) return std::nullopt;
  std::string out;
  out.reserve(body.size());
  const size_t shown = verbose ? components.size() : components.size() - 1;  // the hash last
  for (size_t i = 0; i < shown; i++) {
    if (i > 0) out.append("::");
    append_component(components[i], &out);
  }
  return out;
}

}  // namespace stackshot
