// SPDX-License-Identifier: GPL-2.0
//
// Process glue shared by the two tools' main()s: options, clocks, messages and exit codes.
//
// Exit codes: 0 all verified, 1 the run failed (the RESULT line says status=FAIL), 2 a usage
// or setup error (a message on stderr, no RESULT line).
#pragma once

#include <time.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "workload.h"

namespace usw_workload {

inline const char* g_tool = "usw-workload";

inline double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// "tool: message" on stderr. Flushes stdout first: the demo may send both streams to one file
// and take the RESULT line as its last line.
[[gnu::format(printf, 1, 2)]] inline void Error(const char* fmt, ...) {
  std::fflush(stdout);
  std::fprintf(stderr, "%s: ", g_tool);
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

// A progress line on stdout, flushed so that it shows up in order with stderr's.
[[gnu::format(printf, 1, 2)]] inline void Say(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::putchar('\n');
  std::fflush(stdout);
}

#define USW_DIE(...)    \
  do {                  \
    Error(__VA_ARGS__); \
    std::exit(2);       \
  } while (0)

// Walks "--name value" and "--name=value" arguments.
class Args {
 public:
  Args(int argc, char** argv) : argc_(argc), argv_(argv) {}

  // The next option's name, or false at the end.
  bool Next(std::string_view& name) {
    if (++i_ >= argc_) return false;
    name = argv_[i_];
    inline_value_ = {};
    has_inline_ = false;
    if (size_t eq = name.find('='); name.starts_with("--") && eq != name.npos) {
      inline_value_ = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline_ = true;
    }
    name_ = name;
    return true;
  }
  std::string_view Value() {
    if (has_inline_) return inline_value_;
    if (i_ + 1 >= argc_) USW_DIE("%.*s needs a value; see --help", int(name_.size()), name_.data());
    return argv_[++i_];
  }
  template <typename T>
  T Parsed(std::optional<T> (*parse)(std::string_view)) {
    std::string_view v = Value();
    std::optional<T> r = parse(v);
    if (!r)
      USW_DIE("bad value '%.*s' for %.*s; see --help", int(v.size()), v.data(), int(name_.size()),
              name_.data());
    return *r;
  }
  [[noreturn]] void Unknown() {
    USW_DIE("unknown argument '%.*s'; see --help", int(name_.size()), name_.data());
  }

 private:
  int argc_;
  char** argv_;
  int i_ = 0;
  std::string_view name_, inline_value_;
  bool has_inline_ = false;
};

}  // namespace usw_workload
