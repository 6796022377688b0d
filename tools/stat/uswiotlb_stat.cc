// SPDX-License-Identifier: GPL-2.0
//
// uswiotlb-stat: uswiotlb's debugfs counters, once or as a vmstat-like table of rates; see
// usage below.
#include <time.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "../workload/cli.h"
#include "stat.h"

using namespace usw_stat;
using usw_workload::Args;
using usw_workload::Error;
using usw_workload::g_tool;
using usw_workload::Now;
using usw_workload::Say;

namespace {

constexpr char kUsage[] = R"(usage: uswiotlb-stat [options] [INTERVAL [COUNT]]

Prints uswiotlb's debugfs counters: every file of --dir that holds one decimal number.

Without INTERVAL: each counter, name and value, then the pool's use. With INTERVAL (seconds,
fractions allowed), like vmstat: a header, then a line every INTERVAL, COUNT of them (default:
until interrupted), each with the pool's state and the rates over the interval before it:

  use%    used / nslabs, in percent     direct  mapped_direct
  used    pool slots (2 KiB) in use     bounce  bounced_*, all reasons
  hiwat   used_hiwater, in slots        err     map_errors
  MiB     pool_bytes, in MiB            misuse  misuse
  retire  segments retiring             cache   cache_clean + cache_inval + cache_foreign
                                        grow    grows (growth steps)
                                        shrink  shrinks (times segments went back)

Rates are events per second: "reset" when a counter went down or the directory could not be
read the line before (the module was reloaded), "-" when the module has none of its counters.

  -i, --interval S  the same as INTERVAL
  -c, --count N     the same as COUNT
  --json            a JSON object per sample, one per line, instead:
                      {"values":{NAME:N,...},"pool":{"nslabs":N,"used":N,"hiwater":N,
                       "retiring":N,"use_pct":X,"hiwater_pct":X,"mib":X}}
                    and with INTERVAL also "seconds":X,"reset":BOOL,"rates":{COLUMN:X,...}
                    (null for a value that is missing or a rate not known)
  --dir PATH        the counters' directory (default /sys/kernel/debug/uswiotlb)
  -h, --help        this text

Files that are not one number are skipped; numeric files other than uswiotlb's own are shown
too, though not in the table. Exit status: 0 ok, 2 usage error or no counter readable at the
start (later, a sample that reads nothing is a line of "-" and a message on stderr).
)";

struct Options {
  std::string dir = kDefaultDir;
  double interval = 0;  // 0: once
  uint64_t count = 0;   // 0: until interrupted
  bool json = false;
};

std::optional<double> ParseInterval(std::string_view s) {
  auto v = usw_workload::ParseSeconds(s);
  if (!v || *v <= 0) return std::nullopt;
  return v;
}
std::optional<uint64_t> ParseCount(std::string_view s) {
  auto v = usw_workload::ParseU64(s);
  if (!v || *v == 0) return std::nullopt;
  return v;
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  Args args(argc, argv);
  std::string_view name;
  int positional = 0;
  while (args.Next(name)) {
    if (name == "-h" || name == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (name == "-i" || name == "--interval") {
      o.interval = args.Parsed(ParseInterval);
    } else if (name == "-c" || name == "--count") {
      o.count = args.Parsed(ParseCount);
    } else if (name == "--json") {
      o.json = true;
    } else if (name == "--dir") {
      o.dir = args.Value();
    } else if (!name.starts_with('-') && positional == 0) {
      positional++;
      auto v = ParseInterval(name);
      if (!v) USW_DIE("bad interval '%.*s'; see --help", int(name.size()), name.data());
      o.interval = *v;
    } else if (!name.starts_with('-') && positional == 1) {
      positional++;
      auto v = ParseCount(name);
      if (!v) USW_DIE("bad count '%.*s'; see --help", int(name.size()), name.data());
      o.count = *v;
    } else {
      args.Unknown();
    }
  }
  if (o.count && !o.interval) USW_DIE("a count needs an interval; see --help");
  return o;
}

void SleepUntil(double t) {
  timespec ts;
  ts.tv_sec = time_t(t);
  ts.tv_nsec = long((t - double(ts.tv_sec)) * 1e9);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace

int main(int argc, char** argv) {
  g_tool = "uswiotlb-stat";
  Options o = ParseOptions(argc, argv);
  std::string err;
  Sample prev = TakeSample(o.dir, Now(), &err);
  if (prev.values.empty()) USW_DIE("%s", err.c_str());
  if (!o.interval) {
    std::fputs(o.json ? (FormatJson(prev.values) + "\n").c_str() : FormatOnce(prev.values).c_str(),
               stdout);
    return 0;
  }
  if (!o.json) Say("%s", TableHeader().c_str());
  // Deadlines from the first sample, so that slow samples do not make the lines drift.
  const double t0 = prev.t;
  for (uint64_t i = 1; !o.count || i <= o.count; i++) {
    SleepUntil(t0 + double(i) * o.interval);
    Sample cur = TakeSample(o.dir, Now(), &err);
    if (cur.values.empty() && !prev.values.empty()) Error("%s", err.c_str());
    Rates r = ComputeRates(prev, cur);
    Say("%s", (o.json ? FormatJson(cur.values, &r) : TableRow(cur.values, r)).c_str());
    prev = std::move(cur);
  }
  return 0;
}
