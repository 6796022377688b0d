// SPDX-License-Identifier: GPL-2.0
//
// Pure logic of uswiotlb-stat: reading the module's debugfs counters into a map, rates between
// two samples, and the text, table and JSON output. The clock is the caller's (every sample
// carries the time it was taken), so the host tests are deterministic.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace usw_stat {

inline constexpr char kDefaultDir[] = "/sys/kernel/debug/uswiotlb";

// File name -> value, for every file of the directory that holds one decimal number.
using Counters = std::map<std::string, uint64_t, std::less<>>;

// The files src/debugfs.c creates, in its order: the once and JSON output lists them in this
// order, then any other numeric file by name.
inline constexpr std::string_view kKnown[] = {
    "nslabs", "used", "used_hiwater", "pool_setup_us", "pool_bytes", "retiring", "grows",
    "grown_segments", "grow_us", "grow_failures", "shrinks", "shrunk_segments", "mapped_direct",
    "bounced_mask", "bounced_straddle", "bounced_force", "bounced_align", "bounced_foreign",
    "foreign_direct", "foreign_bounced", "map_errors", "misuse", "cache_clean", "cache_inval",
    "cache_foreign",
};
// Of those, the ones that are not event counts: they may go down without the module having
// been reloaded (used_hiwater too: writing 0 restarts it).
inline constexpr std::string_view kGauges[] = {
    "nslabs", "used", "used_hiwater", "pool_setup_us", "pool_bytes", "retiring",
};

// Parses one debugfs file's content: a decimal number, optionally followed by white space.
std::optional<uint64_t> ParseValue(std::string_view text);

struct Sample {
  double t = 0;     // seconds on the caller's clock, when it was read
  Counters values;  // empty: nothing could be read
  std::vector<std::string> skipped;  // files that were not one number, or not readable
};

// Reads every regular file of `dir` that holds one decimal number. Other files are skipped
// (listed in skipped). On an error that leaves no counter, values is empty and *error says
// why, as "DIR: reason (hint)".
Sample TakeSample(const std::string& dir, double t, std::string* error);

// Names of `c` in output order: kKnown's order, then the others sorted.
std::vector<std::string> OrderedNames(const Counters& c);

// The pool's use, derived from nslabs, used, used_hiwater and pool_bytes; nullopt where a file
// is missing (or nslabs is 0, for the percentages).
struct Pool {
  std::optional<uint64_t> nslabs, used, hiwater, retiring;
  std::optional<double> use_pct, hiwater_pct, mib;
};
Pool PoolOf(const Counters& c);

// The table's rate columns: events per second of the counters each one sums. A name ending
// in '*' stands for every counter with that prefix.
struct RateColumn {
  std::string_view name;  // in the header and the JSON
  int width;              // in the table
  std::vector<std::string_view> counters;
};
extern const std::vector<RateColumn> kRateColumns;

struct Rates {
  double seconds = 0;  // between the two samples
  // A counter went down (the module was reloaded), or the earlier sample read nothing (the
  // module was gone): no rate is known.
  bool reset = false;
  // Per kRateColumns entry; nullopt when reset, or when none of its counters is in both samples.
  std::vector<std::optional<double>> per_second;
};
Rates ComputeRates(const Sample& prev, const Sample& cur);

// "once" output: every counter, name and value, one per line, then the pool's use.
std::string FormatOnce(const Counters& c);

// Interval output: the header, then one row per sample, columns right-aligned under it.
std::string TableHeader();
std::string TableRow(const Counters& cur, const Rates& r);

// One JSON object on one line (no newline): values and pool, plus seconds, reset and rates
// when `r` is given.
std::string FormatJson(const Counters& c, const Rates* r = nullptr);

// A rate in at most 6 characters: 0, 0.5, 12, 123456, 12.3M.
std::string FormatRate(double per_second);

}  // namespace usw_stat
