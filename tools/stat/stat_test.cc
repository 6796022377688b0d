// SPDX-License-Identifier: GPL-2.0
//
// Host tests of uswiotlb-stat: its pure logic (stat.cc) on fake debugfs directories in a
// temporary directory, with the samples' times chosen by the test, and the built tool end to
// end. USWIOTLB_STAT is the path of the built tool.
#include "stat.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "../common/format.h"

namespace usw_stat {
namespace {

// --- a minimal JSON reader ------------------------------------------------------------------

// Checks that text is exactly one JSON value (RFC 8259's grammar, in ASCII) and flattens it:
// "a.b" -> the scalar at that path, strings unescaped (\u00XX as one byte), numbers, true, false
// and null as written, array elements by index.
class Json {
 public:
  static std::optional<std::map<std::string, std::string>> Parse(std::string_view text) {
    Json j(text);
    j.Space();
    if (!j.Value("") || (j.Space(), j.at_ != text.size())) return std::nullopt;
    return j.out_;
  }

 private:
  explicit Json(std::string_view s) : s_(s) {}

  bool Value(const std::string& path) {
    if (Peek('{')) return Object(path);
    if (Peek('[')) return Array(path);
    std::string v;
    if (Peek('"')) {
      if (!String(v)) return false;
    } else if (!Literal(v) && !Number(v)) {
      return false;
    }
    out_[path] = v;
    return true;
  }
  bool Object(const std::string& path) {
    at_++;
    Space();
    if (Eat('}')) return true;
    do {
      std::string key;
      Space();
      if (!Peek('"') || !String(key)) return false;
      Space();
      if (!Eat(':')) return false;
      Space();
      if (!Value(path.empty() ? key : path + "." + key)) return false;
      Space();
    } while (Eat(','));
    return Eat('}');
  }
  bool Array(const std::string& path) {
    at_++;
    Space();
    if (Eat(']')) return true;
    int i = 0;
    do {
      Space();
      if (!Value(path + "." + std::to_string(i++))) return false;
      Space();
    } while (Eat(','));
    return Eat(']');
  }
  bool String(std::string& v) {
    for (at_++; at_ < s_.size(); at_++) {
      unsigned char c = s_[at_];
      if (c == '"') {
        at_++;
        return true;
      }
      if (c < 0x20 || c >= 0x80) return false;  // the tool writes ASCII only, all else escaped
      if (c != '\\') {
        v += char(c);
        continue;
      }
      if (++at_ >= s_.size()) return false;
      switch (s_[at_]) {
        case '"':
        case '\\':
        case '/':
          v += s_[at_];
          break;
        case 'b':
          v += '\b';
          break;
        case 'f':
          v += '\f';
          break;
        case 'n':
          v += '\n';
          break;
        case 'r':
          v += '\r';
          break;
        case 't':
          v += '\t';
          break;
        case 'u': {
          if (at_ + 4 >= s_.size()) return false;
          std::string hex(s_.substr(at_ + 1, 4));
          if (hex.find_first_not_of("0123456789abcdefABCDEF") != hex.npos) return false;
          v += char(std::stoi(hex, nullptr, 16));  // only \u00XX is ever written
          at_ += 4;
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }
  bool Literal(std::string& v) {
    for (std::string_view lit : {"true", "false", "null"})
      if (s_.substr(at_).starts_with(lit)) {
        v = lit;
        at_ += lit.size();
        return true;
      }
    return false;
  }
  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  bool Number(std::string& v) {
    size_t start = at_;
    Eat('-');
    if (Eat('0')) {
    } else if (!Digits()) {
      return false;
    }
    if (Eat('.') && !Digits()) return false;
    if (Eat('e') || Eat('E')) {
      if (!Eat('+')) Eat('-');
      if (!Digits()) return false;
    }
    v = s_.substr(start, at_ - start);
    return true;
  }
  bool Digits() {
    size_t start = at_;
    while (at_ < s_.size() && s_[at_] >= '0' && s_[at_] <= '9') at_++;
    return at_ > start;
  }
  void Space() {
    while (at_ < s_.size() && std::string_view(" \t\n\r").find(s_[at_]) != std::string_view::npos)
      at_++;
  }
  bool Peek(char c) const { return at_ < s_.size() && s_[at_] == c; }
  bool Eat(char c) { return Peek(c) ? (at_++, true) : false; }

  std::string_view s_;
  size_t at_ = 0;
  std::map<std::string, std::string> out_;
};

// --- fake debugfs directories ---------------------------------------------------------------

class FakeDir : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uswiotlb-stat-test.XXXXXX";
    ASSERT_TRUE(mkdtemp(tmpl));
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  // Every file src/debugfs.c creates, as it formats them ("%llu\n"); value i * 10 + 1.
  void WriteAll() {
    uint64_t v = 1;
    for (std::string_view name : kKnown) {
      Write(std::string(name), std::to_string(v) + "\n");
      v += 10;
    }
  }
  Sample Take(double t = 0) {
    err_.clear();
    return TakeSample(dir_, t, &err_);
  }

  std::string dir_, err_;
};

// The shared formatter: any length, where the tools' own once cut at a fixed buffer.
TEST(Format, AnyLength) {
  EXPECT_EQ(usw::Format("%s=%d", "a", 7), "a=7");
  EXPECT_EQ(usw::Format("%s", ""), "");
  std::string long_arg(3000, 'x');
  std::string s = usw::Format("[%s]%d", long_arg.c_str(), 42);
  EXPECT_EQ(s.size(), 3004u);
  EXPECT_EQ(s.substr(s.size() - 3), "]42");
}

TEST(ParseValue, OneDecimalNumber) {
  EXPECT_EQ(ParseValue("0\n"), 0u);
  EXPECT_EQ(ParseValue("12345"), 12345u);
  EXPECT_EQ(ParseValue("7 \t\n\n"), 7u);
  EXPECT_EQ(ParseValue("18446744073709551615\n"), UINT64_MAX);
  for (const char* bad :
       {"", "\n", " 1", "-1", "+1", "1 2", "12abc", "abc", "0x10", "1.5", "18446744073709551616"})
    EXPECT_EQ(ParseValue(bad), std::nullopt) << bad;
}

TEST_F(FakeDir, ReadsEveryCounter) {
  WriteAll();
  Sample s = Take(42.5);
  EXPECT_EQ(err_, "");
  EXPECT_EQ(s.t, 42.5);
  EXPECT_TRUE(s.skipped.empty());
  ASSERT_EQ(s.values.size(), std::size(kKnown));
  uint64_t v = 1;
  for (std::string_view name : kKnown) {
    EXPECT_EQ(s.values[std::string(name)], v) << name;
    v += 10;
  }
}

TEST_F(FakeDir, SkipsWhatIsNotANumber) {
  Write("mapped_direct", "5\n");
  Write("junk", "hello\n");
  Write("empty", "");
  Write("negative", "-3\n");
  Write("two", "1 2\n");
  Write("long", std::string(100, '1') + "\n");   // beyond any u64, and the read buffer
  Write("spaced", "9" + std::string(100, ' '));  // a number, but longer than one can be
  std::filesystem::create_directory(dir_ + "/subdir");
  ASSERT_EQ(mkfifo((dir_ + "/fifo").c_str(), 0600), 0);  // would block a plain read
  Write("extra_counter", "77\n");
  Sample s = Take();
  EXPECT_EQ(err_, "");
  EXPECT_EQ(s.values, (Counters{{"extra_counter", 77}, {"mapped_direct", 5}}));
  std::sort(s.skipped.begin(), s.skipped.end());
  EXPECT_EQ(s.skipped, (std::vector<std::string>{"empty", "fifo", "junk", "long", "negative",
                                                 "spaced", "subdir", "two"}));
}

TEST_F(FakeDir, NoCounterIsAnError) {
  Sample s = TakeSample(dir_ + "/missing", 0, &err_);
  EXPECT_TRUE(s.values.empty());
  EXPECT_EQ(err_, dir_ +
                      "/missing: No such file or directory (is debugfs mounted and uswiotlb "
                      "loaded?)");
  Write("file", "1\n");
  TakeSample(dir_ + "/file", 0, &err_);
  EXPECT_EQ(err_, dir_ + "/file: Not a directory (is debugfs mounted and uswiotlb loaded?)");
  std::filesystem::remove(dir_ + "/file");
  EXPECT_TRUE(Take().values.empty());
  EXPECT_EQ(err_, dir_ + ": empty (is uswiotlb loaded?)");
  Write("junk", "x\n");
  EXPECT_TRUE(Take().values.empty());
  EXPECT_EQ(err_, dir_ + ": no file holds a number (is this uswiotlb's debugfs?)");
}

// --- derived values -------------------------------------------------------------------------

TEST(OrderedNames, KnownInDebugfsOrderThenOthersSorted) {
  Counters c{{"zeta", 1}, {"map_errors", 2}, {"alpha", 3}, {"nslabs", 4}, {"bounced_force", 5}};
  EXPECT_EQ(OrderedNames(c),
            (std::vector<std::string>{"nslabs", "bounced_force", "map_errors", "alpha", "zeta"}));
}

TEST(PoolOf, UseHighWaterAndSize) {
  Pool p = PoolOf({{"nslabs", 16384},
                   {"used", 4096},
                   {"used_hiwater", 8192},
                   {"pool_bytes", 33554432},
                   {"retiring", 2}});
  EXPECT_EQ(p.nslabs, 16384u);
  EXPECT_EQ(p.used, 4096u);
  EXPECT_EQ(p.hiwater, 8192u);
  EXPECT_EQ(p.retiring, 2u);
  EXPECT_EQ(p.use_pct, 25.0);
  EXPECT_EQ(p.hiwater_pct, 50.0);
  EXPECT_EQ(p.mib, 32.0);
  // Without pool_bytes (an older module) the size follows from 2 KiB slots; without nslabs
  // there are no percentages.
  EXPECT_EQ(PoolOf({{"nslabs", 1024}}).mib, 2.0);
  Pool q = PoolOf({{"used", 5}, {"used_hiwater", 6}});
  EXPECT_EQ(q.use_pct, std::nullopt);
  EXPECT_EQ(q.hiwater_pct, std::nullopt);
  EXPECT_EQ(q.mib, std::nullopt);
  EXPECT_EQ(PoolOf({{"nslabs", 0}, {"used", 0}}).use_pct, std::nullopt);
}

// --- rates ----------------------------------------------------------------------------------

// Rates by column name.
std::map<std::string, std::optional<double>> ByName(const Rates& r) {
  std::map<std::string, std::optional<double>> m;
  for (size_t i = 0; i < kRateColumns.size(); i++)
    m[std::string(kRateColumns[i].name)] = r.per_second.at(i);
  return m;
}

const Counters kBefore = {
    {"nslabs", 16384},        {"used", 300},            {"used_hiwater", 900},
    {"pool_bytes", 1 << 25},  {"retiring", 1},          {"mapped_direct", 1000},
    {"bounced_mask", 10},     {"bounced_straddle", 20}, {"bounced_force", 30},
    {"bounced_align", 40},    {"bounced_foreign", 50},  {"map_errors", 0},
    {"misuse", 3},            {"cache_clean", 100},     {"cache_inval", 200},
    {"cache_foreign", 0},     {"grows", 4},             {"shrinks", 5},
    {"foreign_direct", 7},    {"grow_us", 1000},
};

TEST_F(FakeDir, RatesOverAKnownInterval) {
  for (const auto& [name, v] : kBefore) Write(name, std::to_string(v) + "\n");
  Sample prev = Take(10);
  // Two seconds later; the gauges went down (hiwater restarted by writing 0), which is no reset.
  Counters after = kBefore;
  after["used"] = 0;
  after["used_hiwater"] = 0;
  after["retiring"] = 0;
  after["mapped_direct"] += 600;
  after["bounced_mask"] += 1;
  after["bounced_straddle"] += 2;
  after["bounced_force"] += 3;
  after["bounced_align"] += 4;
  after["bounced_foreign"] += 10;
  after["map_errors"] += 1;
  after["cache_clean"] += 7;
  after["cache_inval"] += 8;
  after["cache_foreign"] += 9;
  after["grows"] += 2;
  for (const auto& [name, v] : after) Write(name, std::to_string(v) + "\n");
  Sample cur = Take(12);
  Rates r = ComputeRates(prev, cur);
  EXPECT_EQ(r.seconds, 2.0);
  EXPECT_FALSE(r.reset);
  using R = std::optional<double>;
  EXPECT_EQ(ByName(r), (std::map<std::string, R>{{"direct", 300.0},
                                                 {"bounce", 10.0},
                                                 {"err", 0.5},
                                                 {"misuse", 0.0},
                                                 {"cache", 12.0},
                                                 {"grow", 1.0},
                                                 {"shrink", 0.0}}));
  EXPECT_EQ(TableRow(cur.values, r),
            "  0.0      0      0   32.0      0     300      10   0.5      0      12   1.0      0");
}

TEST(Rates, EveryBouncedCounterCountsAndMissingOnesAreUnknown) {
  // A bounce reason this tool does not know yet is in the sum; a counter only in the later
  // sample (the module got it in between) is not; a column without counters is unknown.
  Sample prev{0, {{"bounced_force", 1}, {"bounced_new", 1}}, {}};
  Sample cur{4, {{"bounced_force", 5}, {"bounced_new", 9}, {"mapped_direct", 100}}, {}};
  auto r = ByName(ComputeRates(prev, cur));
  EXPECT_EQ(r["bounce"], 3.0);
  EXPECT_EQ(r["direct"], std::nullopt);
  EXPECT_EQ(r["cache"], std::nullopt);
  // No time between the samples: no rate.
  EXPECT_EQ(ByName(ComputeRates(cur, cur))["bounce"], std::nullopt);
}

TEST(Rates, ACounterThatGoesDownIsAReset) {
  Sample prev{0, kBefore, {}};
  for (const char* name : {"mapped_direct", "bounced_force", "cache_inval", "foreign_direct",
                           "grow_us", "bounced_new"}) {
    Sample cur{1, kBefore, {}};
    for (auto& [n, v] : cur.values) v += 5;  // everything else moved on
    if (!prev.values.contains(name)) prev.values[name] = 6;
    cur.values[name] = 0;
    Rates r = ComputeRates(prev, cur);
    EXPECT_TRUE(r.reset) << name;
    for (const auto& v : r.per_second) EXPECT_EQ(v, std::nullopt) << name;
    EXPECT_EQ(TableRow(cur.values, r),
              "  1.9    305    905   32.0      6   reset   reset reset  reset   reset reset  reset")
        << name;
  }
  // An unknown file may be a gauge: its going down is no reset.
  prev.values["other"] = 9;
  Sample cur{1, kBefore, {}};
  cur.values["other"] = 1;
  cur.values["bounced_new"] = 6;
  EXPECT_FALSE(ComputeRates(prev, cur).reset);
}

TEST(Rates, AfterAnUnreadableSampleAResetThenUnknownWhileUnreadable) {
  Sample good{0, kBefore, {}}, gone{1, {}, {}};
  Rates r = ComputeRates(good, gone);
  EXPECT_FALSE(r.reset);
  EXPECT_EQ(TableRow(gone.values, r),
            "    -      -      -      -      -       -       -     -      -       -     -      -");
  good.t = 2;
  r = ComputeRates(gone, good);
  EXPECT_TRUE(r.reset);
  for (const auto& v : r.per_second) EXPECT_EQ(v, std::nullopt);
}

TEST(FormatRate, ShortAndNeverZeroForAnEvent) {
  EXPECT_EQ(FormatRate(0), "0");
  EXPECT_EQ(FormatRate(0.01), "<0.1");
  EXPECT_EQ(FormatRate(0.5), "0.5");
  EXPECT_EQ(FormatRate(9.94), "9.9");
  EXPECT_EQ(FormatRate(9.96), "10");
  EXPECT_EQ(FormatRate(12.4), "12");
  EXPECT_EQ(FormatRate(123456), "123456");
  EXPECT_EQ(FormatRate(2.5e6), "2.5M");
}

// --- output ---------------------------------------------------------------------------------

std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  for (std::string s; in >> s;) w.push_back(s);
  return w;
}

// Where each whitespace-separated field of `line` ends.
std::vector<size_t> FieldEnds(const std::string& line) {
  std::vector<size_t> ends;
  for (size_t i = 0; i < line.size(); i++)
    if (line[i] != ' ' && (i + 1 == line.size() || line[i + 1] == ' ')) ends.push_back(i);
  return ends;
}

TEST(Table, ColumnsRightAlignedUnderTheHeader) {
  EXPECT_EQ(Words(TableHeader()),
            (std::vector<std::string>{"use%", "used", "hiwat", "MiB", "retire", "direct", "bounce",
                                      "err", "misuse", "cache", "grow", "shrink"}));
  Sample prev{0, kBefore, {}};
  Sample cur{1, kBefore, {}};
  cur.values["mapped_direct"] += 123456;
  cur.values["misuse"] += 1;
  cur.values["used"] = 16384;
  Rates r = ComputeRates(prev, cur);
  std::string row = TableRow(cur.values, r);
  EXPECT_EQ(Words(row), (std::vector<std::string>{"100.0", "16384", "900", "32.0", "1", "123456",
                                                  "0", "0", "1.0", "0", "0", "0"}));
  EXPECT_EQ(FieldEnds(row), FieldEnds(TableHeader())) << TableHeader() << "\n" << row;
  EXPECT_LE(TableHeader().size(), 83u);
}

TEST(Once, EveryCounterThenThePool) {
  Counters c{{"nslabs", 16384},        {"used", 2048},  {"used_hiwater", 4096},
             {"pool_bytes", 33554432}, {"retiring", 0}, {"mapped_direct", 12345},
             {"zz_extra", 1}};
  EXPECT_EQ(FormatOnce(c),
            "nslabs           16384\n"
            "used              2048\n"
            "used_hiwater      4096\n"
            "pool_bytes    33554432\n"
            "retiring             0\n"
            "mapped_direct    12345\n"
            "zz_extra             1\n"
            "pool: 32.0 MiB, 2048 of 16384 slots in use (12.5%), high-water 4096 (25.0%), "
            "0 segments retiring\n");
  EXPECT_EQ(FormatOnce({{"x", 1}}),
            "x 1\npool: - MiB, - of - slots in use (-%), high-water - (-%), - segments retiring\n");
}

TEST(Json, OnceExactly) {
  EXPECT_EQ(FormatJson({{"nslabs", 1024}, {"used", 256}, {"zz", 3}}),
            R"({"values":{"nslabs":1024,"used":256,"zz":3},"pool":{"nslabs":1024,"used":256,)"
            R"("hiwater":null,"retiring":null,"use_pct":25.000,"hiwater_pct":null,"mib":2.000}})");
}

TEST(Json, ValidAndReadsBack) {
  // The reader first: what it accepts must be JSON, for the checks below to mean anything.
  auto ref = Json::Parse(R"( {"a": {"b": [1, -2.5e3, "x\"\u0041"]}, "c": null, "d": true} )");
  ASSERT_TRUE(ref);
  EXPECT_EQ((*ref)["a.b.0"], "1");
  EXPECT_EQ((*ref)["a.b.1"], "-2.5e3");
  EXPECT_EQ((*ref)["a.b.2"], "x\"A");
  EXPECT_EQ((*ref)["c"], "null");
  for (const char* bad : {"", "{", "{}x", "{\"a\":}", "{\"a\":1,}", "{a:1}", "{\"a\":01}",
                          "{\"a\":.5}", "{\"a\":nan}", "{\"a\":1.}", "{\"a\":\"\n\"}", "[1 2]"})
    EXPECT_FALSE(Json::Parse(bad)) << bad;

  Sample prev{5, kBefore, {}};
  Sample cur{7.5, kBefore, {}};
  cur.values["mapped_direct"] += 5;
  cur.values["map_errors"] += 1;
  cur.values["strange \"name\"\\\n\x01\xff"] = 4;  // a file name is any bytes but '/' and NUL
  Rates r = ComputeRates(prev, cur);
  std::string text = FormatJson(cur.values, &r);
  EXPECT_EQ(text.find('\n'), text.npos);
  auto j = Json::Parse(text);
  ASSERT_TRUE(j) << text;
  for (const auto& [name, v] : cur.values) {
    if (name.starts_with("strange")) continue;
    EXPECT_EQ((*j)["values." + name], std::to_string(v)) << name;
  }
  EXPECT_EQ((*j)["values.strange \"name\"\\\n\x01\xff"], "4") << text;
  EXPECT_EQ((*j)["seconds"], "2.500");
  EXPECT_EQ((*j)["reset"], "false");
  EXPECT_EQ((*j)["rates.direct"], "2.000");
  EXPECT_EQ((*j)["rates.err"], "0.400");
  EXPECT_EQ((*j)["rates.bounce"], "0.000");
  EXPECT_EQ((*j)["pool.use_pct"], "1.831");
  EXPECT_EQ((*j)["pool.mib"], "32.000");
  // A reset: rates are null, values still there.
  cur.values["mapped_direct"] = 0;
  r = ComputeRates(prev, cur);
  j = Json::Parse(FormatJson(cur.values, &r));
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)["reset"], "true");
  EXPECT_EQ((*j)["rates.direct"], "null");
  EXPECT_EQ((*j)["rates.shrink"], "null");
  EXPECT_EQ((*j)["values.mapped_direct"], "0");
  // Nothing read: empty values, every pool field null.
  j = Json::Parse(FormatJson({}, &r));
  ASSERT_TRUE(j);
  EXPECT_EQ((*j)["pool.nslabs"], "null");
  EXPECT_EQ(j->count("values.nslabs"), 0u);
}

// --- the tool -------------------------------------------------------------------------------

struct Output {
  int status;
  std::string out;  // stdout and stderr
  std::vector<std::string> Lines() const {
    std::vector<std::string> v;
    std::istringstream in(out);
    for (std::string l; std::getline(in, l);) v.push_back(l);
    return v;
  }
};

Output Exec(const std::string& args) {
  Output r{-1, ""};
  FILE* p = popen((std::string(USWIOTLB_STAT) + " " + args + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), p)) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TEST_F(FakeDir, ToolOnceJsonAndInterval) {
  WriteAll();
  Write("junk", "not a number\n");
  Write("zz_extra", "99\n");
  Output once = Exec("--dir " + dir_);
  ASSERT_EQ(once.status, 0) << once.out;
  std::vector<std::string> lines = once.Lines();
  ASSERT_EQ(lines.size(), std::size(kKnown) + 2) << once.out;  // + zz_extra and the pool line
  EXPECT_EQ(Words(lines[12]), (std::vector<std::string>{"mapped_direct", "121"}));
  EXPECT_EQ(Words(lines[std::size(kKnown)]), (std::vector<std::string>{"zz_extra", "99"}));
  EXPECT_TRUE(lines.back().starts_with("pool: 0.0 MiB, 11 of 1 slots in use (1100.0%)"))
      << lines.back();

  Output json = Exec("--json --dir=" + dir_);
  ASSERT_EQ(json.status, 0) << json.out;
  auto j = Json::Parse(json.out);
  ASSERT_TRUE(j) << json.out;
  EXPECT_EQ((*j)["values.map_errors"], "201");
  EXPECT_EQ((*j)["values.zz_extra"], "99");
  EXPECT_EQ(j->count("values.junk"), 0u);

  Output table = Exec("--dir " + dir_ + " 0.05 2");
  ASSERT_EQ(table.status, 0) << table.out;
  lines = table.Lines();
  ASSERT_EQ(lines.size(), 3u) << table.out;
  EXPECT_EQ(lines[0], TableHeader());
  EXPECT_EQ(Words(lines[1]), (std::vector<std::string>{"1100.0", "11", "21", "0.0", "51", "0", "0",
                                                       "0", "0", "0", "0", "0"}));

  Output jsons = Exec("--json -i 0.05 -c 3 --dir " + dir_);
  ASSERT_EQ(jsons.status, 0) << jsons.out;
  ASSERT_EQ(jsons.Lines().size(), 3u) << jsons.out;
  for (const std::string& l : jsons.Lines()) {
    auto s = Json::Parse(l);
    ASSERT_TRUE(s) << l;
    EXPECT_EQ((*s)["rates.direct"], "0.000");
    EXPECT_EQ((*s)["reset"], "false");
  }
}

TEST_F(FakeDir, ToolErrorsExitTwo) {
  Output r = Exec("--dir " + dir_ + "/missing");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "uswiotlb-stat: " + dir_ +
                       "/missing: No such file or directory (is debugfs mounted and uswiotlb "
                       "loaded?)\n");
  Write("junk", "x\n");
  r = Exec("--dir " + dir_);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("no file holds a number"), std::string::npos) << r.out;
  Write("used", "1\n");
  EXPECT_EQ(Exec("--dir " + dir_).status, 0);
  for (const char* bad : {"0", "-1", "x", "1 0", "1 x", "1 2 3", "-c 2", "--bogus", "--dir"})
    EXPECT_EQ(Exec("--dir " + dir_ + " " + bad).status, 2) << bad;
  Output help = Exec("--help");
  EXPECT_EQ(help.status, 0);
  EXPECT_TRUE(help.out.starts_with("usage: uswiotlb-stat")) << help.out;
}

}  // namespace
}  // namespace usw_stat
