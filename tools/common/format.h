// SPDX-License-Identifier: GPL-2.0
//
// printf into a std::string, for the host tools (uswiotlb-stat, the workload tools).
#pragma once

#include <cstdarg>
#include <cstdio>
#include <string>

namespace usw {

// Any length: a first vsnprintf sizes the string, a second fills it.
[[gnu::format(printf, 1, 2)]] inline std::string Format(const char* fmt, ...) {
  va_list ap, again;
  va_start(ap, fmt);
  va_copy(again, ap);
  int n = std::vsnprintf(nullptr, 0, fmt, ap);
  va_end(ap);
  std::string s(n > 0 ? n : 0, '\0');
  if (n > 0) std::vsnprintf(s.data(), s.size() + 1, fmt, again);
  va_end(again);
  return s;
}

}  // namespace usw
