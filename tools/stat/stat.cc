// SPDX-License-Identifier: GPL-2.0
//
// Pure logic of uswiotlb-stat; see stat.h.
#include "stat.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "../common/format.h"

namespace usw_stat {

// Widths: each column fits "reset", and the busy ones any rate FormatRate gives.
const std::vector<RateColumn> kRateColumns = {
    {"direct", 7, {"mapped_direct"}}, {"bounce", 7, {"bounced_*"}}, {"err", 5, {"map_errors"}},
    {"misuse", 6, {"misuse"}},        {"cache", 7, {"cache_*"}},    {"grow", 5, {"grows"}},
    {"shrink", 6, {"shrinks"}},
};

namespace {

bool Matches(std::string_view pattern, std::string_view name) {
  if (pattern.ends_with('*')) return name.starts_with(pattern.substr(0, pattern.size() - 1));
  return name == pattern;
}

bool InColumn(const RateColumn& col, std::string_view name) {
  return std::any_of(col.counters.begin(), col.counters.end(),
                     [&](std::string_view p) { return Matches(p, name); });
}

// An event count, which only a reload of the module takes down. Unknown files are left out
// unless a column sums them: they may be gauges.
bool Cumulative(std::string_view name) {
  if (std::find(std::begin(kGauges), std::end(kGauges), name) != std::end(kGauges)) return false;
  if (std::find(std::begin(kKnown), std::end(kKnown), name) != std::end(kKnown)) return true;
  return std::any_of(kRateColumns.begin(), kRateColumns.end(),
                     [&](const RateColumn& col) { return InColumn(col, name); });
}

std::optional<uint64_t> Get(const Counters& c, std::string_view name) {
  auto it = c.find(name);
  if (it == c.end()) return std::nullopt;
  return it->second;
}

// A file's content, or nothing if it cannot be read or is longer than any number: a debugfs
// file may report a size of 0, so read to the end rather than trust st_size.
std::optional<std::string> ReadSmall(int dfd, const char* name) {
  // O_NONBLOCK: a FIFO in a test directory must not hang the tool.
  int fd = openat(dfd, name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st;
  std::string text;
  char buf[64];
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  while (ok) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    text.append(buf, size_t(n));
    ok = text.size() <= sizeof(buf);
  }
  close(fd);
  if (!ok) return std::nullopt;
  return text;
}

std::string Describe(const std::string& dir, int err) {
  std::string s = dir + ": " + std::strerror(err);
  if (err == ENOENT || err == ENOTDIR) s += " (is debugfs mounted and uswiotlb loaded?)";
  if (err == EACCES || err == EPERM) s += " (debugfs is root's)";
  return s;
}

std::string U64(std::optional<uint64_t> v) { return v ? std::to_string(*v) : "-"; }

using usw::Format;

std::string Fixed(std::optional<double> v) { return v ? Format("%.1f", *v) : "-"; }

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20 || c >= 0x7f) {
      // Bytes above ASCII too: a file name need not be UTF-8, the JSON must be.
      out += Format("\\u%04x", c);
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

std::string JsonNumber(std::optional<uint64_t> v) { return v ? std::to_string(*v) : "null"; }
std::string JsonNumber(std::optional<double> v) { return v ? Format("%.3f", *v) : "null"; }

struct Field {
  std::string_view name;
  int width;
};
constexpr Field kGaugeColumns[] = {
    {"use%", 5}, {"used", 6}, {"hiwat", 6}, {"MiB", 6}, {"retire", 6},
};

void Cell(std::string& line, int width, const std::string& text) {
  if (!line.empty()) line += ' ';
  line += Format("%*s", width, text.c_str());
}

}  // namespace

std::optional<uint64_t> ParseValue(std::string_view text) {
  size_t end = text.find_last_not_of(" \t\n");
  if (end == text.npos) return std::nullopt;
  text = text.substr(0, end + 1);
  uint64_t v;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

Sample TakeSample(const std::string& dir, double t, std::string* error) {
  Sample s;
  s.t = t;
  DIR* d = opendir(dir.c_str());
  if (!d) {
    *error = Describe(dir, errno);
    return s;
  }
  for (;;) {
    errno = 0;  // readdir's end and its error differ only in errno; ReadSmall may set it
    const dirent* e = readdir(d);
    if (!e) break;
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    std::optional<uint64_t> v;
    if (auto text = ReadSmall(dirfd(d), e->d_name)) v = ParseValue(*text);
    if (v)
      s.values.emplace(name, *v);
    else
      s.skipped.emplace_back(name);
  }
  int err = errno;
  closedir(d);
  if (err) {
    s.values.clear();
    *error = Describe(dir, err);
  } else if (s.values.empty()) {
    *error = dir + (s.skipped.empty() ? ": empty (is uswiotlb loaded?)"
                                      : ": no file holds a number (is this uswiotlb's debugfs?)");
  }
  return s;
}

std::vector<std::string> OrderedNames(const Counters& c) {
  std::vector<std::string> names;
  for (std::string_view k : kKnown)
    if (c.contains(k)) names.emplace_back(k);
  for (const auto& [name, v] : c)
    if (std::find(std::begin(kKnown), std::end(kKnown), name) == std::end(kKnown))
      names.push_back(name);
  return names;
}

Pool PoolOf(const Counters& c) {
  Pool p;
  p.nslabs = Get(c, "nslabs");
  p.used = Get(c, "used");
  p.hiwater = Get(c, "used_hiwater");
  p.retiring = Get(c, "retiring");
  if (p.nslabs && *p.nslabs) {
    if (p.used) p.use_pct = 100.0 * double(*p.used) / double(*p.nslabs);
    if (p.hiwater) p.hiwater_pct = 100.0 * double(*p.hiwater) / double(*p.nslabs);
  }
  // pool_bytes is the pool's size; a module without it still has 2 KiB slots.
  if (auto bytes = Get(c, "pool_bytes"))
    p.mib = double(*bytes) / (1 << 20);
  else if (p.nslabs)
    p.mib = double(*p.nslabs) * 2048 / (1 << 20);
  return p;
}

Rates ComputeRates(const Sample& prev, const Sample& cur) {
  Rates r;
  r.seconds = cur.t - prev.t;
  r.per_second.assign(kRateColumns.size(), std::nullopt);
  if (cur.values.empty()) return r;
  if (prev.values.empty()) {
    r.reset = true;
    return r;
  }
  for (const auto& [name, v] : cur.values) {
    auto was = Get(prev.values, name);
    if (was && v < *was && Cumulative(name)) {
      r.reset = true;
      return r;
    }
  }
  if (r.seconds <= 0) return r;
  for (size_t i = 0; i < kRateColumns.size(); i++) {
    uint64_t delta = 0;
    bool any = false;
    for (const auto& [name, v] : cur.values) {
      auto was = Get(prev.values, name);
      if (!was || !InColumn(kRateColumns[i], name)) continue;
      delta += v - *was;
      any = true;
    }
    if (any) r.per_second[i] = double(delta) / r.seconds;
  }
  return r;
}

std::string FormatRate(double per_second) {
  if (per_second == 0) return "0";
  if (per_second < 0.05) return "<0.1";  // never 0.0 for an event that did happen
  if (per_second < 9.95) return Format("%.1f", per_second);
  if (per_second < 999999.5) return Format("%.0f", per_second);
  return Format("%.1fM", per_second / 1e6);
}

std::string FormatOnce(const Counters& c) {
  std::vector<std::string> names = OrderedNames(c);
  int nw = 0, vw = 0;
  for (const std::string& n : names) {
    nw = std::max(nw, int(n.size()));
    vw = std::max(vw, int(std::to_string(c.find(n)->second).size()));
  }
  std::string out;
  for (const std::string& n : names)
    out += Format("%-*s %*" PRIu64 "\n", nw, n.c_str(), vw, c.find(n)->second);
  Pool p = PoolOf(c);
  out += "pool: " + Fixed(p.mib) + " MiB, " + U64(p.used) + " of " + U64(p.nslabs) +
         " slots in use (" + Fixed(p.use_pct) + "%), high-water " + U64(p.hiwater) + " (" +
         Fixed(p.hiwater_pct) + "%), " + U64(p.retiring) + " segments retiring\n";
  return out;
}

std::string TableHeader() {
  std::string line;
  for (const Field& f : kGaugeColumns) Cell(line, f.width, std::string(f.name));
  for (const RateColumn& col : kRateColumns) Cell(line, col.width, std::string(col.name));
  return line;
}

std::string TableRow(const Counters& cur, const Rates& r) {
  std::string line;
  Pool p = PoolOf(cur);
  Cell(line, kGaugeColumns[0].width, Fixed(p.use_pct));
  Cell(line, kGaugeColumns[1].width, U64(p.used));
  Cell(line, kGaugeColumns[2].width, U64(p.hiwater));
  Cell(line, kGaugeColumns[3].width, Fixed(p.mib));
  Cell(line, kGaugeColumns[4].width, U64(p.retiring));
  for (size_t i = 0; i < kRateColumns.size(); i++) {
    const std::optional<double>& v = r.per_second[i];
    Cell(line, kRateColumns[i].width, r.reset ? "reset" : v ? FormatRate(*v) : "-");
  }
  return line;
}

std::string FormatJson(const Counters& c, const Rates* r) {
  std::string out = "{\"values\":{";
  const char* sep = "";
  for (const std::string& n : OrderedNames(c)) {
    out += sep + JsonString(n) + ":" + std::to_string(c.find(n)->second);
    sep = ",";
  }
  Pool p = PoolOf(c);
  out += "},\"pool\":{\"nslabs\":" + JsonNumber(p.nslabs) + ",\"used\":" + JsonNumber(p.used) +
         ",\"hiwater\":" + JsonNumber(p.hiwater) + ",\"retiring\":" + JsonNumber(p.retiring) +
         ",\"use_pct\":" + JsonNumber(p.use_pct) + ",\"hiwater_pct\":" + JsonNumber(p.hiwater_pct) +
         ",\"mib\":" + JsonNumber(p.mib) + "}";
  if (r) {
    out += ",\"seconds\":" + JsonNumber(std::optional(r->seconds)) +
           ",\"reset\":" + (r->reset ? "true" : "false") + ",\"rates\":{";
    for (size_t i = 0; i < kRateColumns.size(); i++)
      out += (i ? "," : "") + JsonString(kRateColumns[i].name) + ":" + JsonNumber(r->per_second[i]);
    out += "}";
  }
  return out + "}";
}

}  // namespace usw_stat
