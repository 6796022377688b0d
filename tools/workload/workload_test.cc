// SPDX-License-Identifier: GPL-2.0
//
// Host tests of the workload tools: their pure logic (workload.cc), and usw-blkcheck end to
// end on a temporary file. USW_BLKCHECK and USW_NETCHECK are the paths of the built tools.
#include "workload.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

namespace usw_workload {
namespace {

std::vector<uint8_t> Model(uint64_t seed, uint64_t off, size_t len) {
  std::vector<uint8_t> v(len);
  ModelFill(seed, off, v);
  return v;
}

// --- disk model ----------------------------------------------------------------------------

TEST(Model, AnyWindowMatchesTheFullRegion) {
  const std::vector<uint8_t> full = Model(42, 0, 20000);
  // Every start mod 8 and lengths that end mid-word, short and long.
  for (uint64_t off : {0, 1, 7, 8, 13, 4095, 4096, 12345})
    for (size_t len : {0, 1, 5, 8, 9, 64, 777, 4096})
      ASSERT_EQ(Model(42, off, len),
                std::vector<uint8_t>(full.begin() + off, full.begin() + off + len))
          << "off " << off << " len " << len;
}

TEST(Model, DeterministicAndSeedDependent) {
  EXPECT_EQ(Model(7, 512, 4096), Model(7, 512, 4096));
  EXPECT_NE(Model(7, 512, 4096), Model(8, 512, 4096));
  // Cycles derive their seeds, so consecutive cycles really write different data.
  EXPECT_NE(Model(Derive(7, 0), 0, 4096), Model(Derive(7, 1), 0, 4096));
  // Position matters: a block is not a copy of the one before it.
  EXPECT_NE(Model(7, 0, 512), Model(7, 512, 512));
}

TEST(Model, BytesLookRandom) {
  std::vector<uint8_t> v = Model(3, 0, 1 << 16);
  std::vector<int> hist(256);
  for (uint8_t b : v) hist[b]++;
  // 256 per value expected; a broken mix (e.g. constant words) would be far off.
  for (int h : hist) EXPECT_GT(h, 128);
}

TEST(RegionSum, OrderIndependent) {
  std::vector<uint8_t> v = Model(5, 0, 1 << 16);
  RegionSum whole, parts;
  whole.Add(0, v);
  for (const Extent& e : PlanExtents(v.size(), 512, 9))
    parts.Add(e.off, std::span(v).subspan(e.off, e.len));
  EXPECT_EQ(whole.value(), parts.value());
}

TEST(RegionSum, ChangesWhenOneByteOrBitChanges) {
  std::vector<uint8_t> v = Model(5, 0, 8192);
  RegionSum ref;
  ref.Add(0, v);
  for (size_t i : {0, 1, 7, 8, 4095, 8191}) {
    for (uint8_t bit : {0x01, 0x80}) {
      std::vector<uint8_t> w = v;
      w[i] ^= bit;
      RegionSum s;
      s.Add(0, w);
      EXPECT_NE(s.value(), ref.value()) << "byte " << i;
    }
  }
  // Swapped words too: the hash is keyed by position.
  std::vector<uint8_t> w = v;
  std::swap_ranges(w.begin(), w.begin() + 8, w.begin() + 8);
  RegionSum s;
  s.Add(0, w);
  EXPECT_NE(s.value(), ref.value());
}

TEST(RegionSum, RejectsUnalignedExtents) {
  std::vector<uint8_t> v(16);
  RegionSum s;
  EXPECT_THROW(s.Add(4, v), std::invalid_argument);
  EXPECT_THROW(s.Add(0, std::span(v).first(12)), std::invalid_argument);
}

// --- extent plans --------------------------------------------------------------------------

void ExpectTiling(const std::vector<Extent>& plan, uint64_t region, uint32_t block) {
  std::vector<Extent> sorted = plan;
  std::sort(sorted.begin(), sorted.end(), [](auto& x, auto& y) { return x.off < y.off; });
  uint64_t at = 0;
  for (const Extent& e : sorted) {
    ASSERT_EQ(e.off, at) << "gap or overlap";
    ASSERT_GT(e.len, 0u);
    ASSERT_LE(e.len, kMaxExtent);
    ASSERT_EQ(e.off % block, 0u);
    ASSERT_EQ(e.len % block, 0u);
    at += e.len;
  }
  ASSERT_EQ(at, region);
}

TEST(PlanExtents, TilesTheRegionExactlyOnce) {
  for (uint32_t block : {512, 4096})
    for (uint64_t region :
         {uint64_t(block), uint64_t(block) * 3, uint64_t(1) << 20, (uint64_t(64) << 20) + 7 * 4096})
      for (uint64_t seed : {1, 2, 99}) {
        SCOPED_TRACE(testing::Message() << "block " << block << " region " << region);
        ExpectTiling(PlanExtents(region, block, seed), region, block);
      }
}

TEST(PlanExtents, MixesSizesAndMisalignsOffsets) {
  std::vector<Extent> plan = PlanExtents(64 << 20, 512, 1);
  std::set<uint64_t> sizes;
  size_t misaligned = 0, not_page_multiple = 0;
  for (const Extent& e : plan) {
    sizes.insert(e.len);
    // Offset not a multiple of the extent's own size (for a power of two: not naturally
    // aligned).
    if (e.off % e.len) misaligned++;
    if (e.len % kPageSize) not_page_multiple++;
  }
  EXPECT_GE(sizes.size(), 6u);
  EXPECT_TRUE(sizes.count(4096) && sizes.count(kMaxExtent) && sizes.count(128 * 1024 + 512));
  EXPECT_GT(misaligned, plan.size() / 2);
  EXPECT_GT(not_page_multiple, 0u);
}

TEST(PlanExtents, ShuffledAndSeeded) {
  std::vector<Extent> a = PlanExtents(16 << 20, 512, 1);
  EXPECT_EQ(a, PlanExtents(16 << 20, 512, 1));
  EXPECT_NE(a, PlanExtents(16 << 20, 512, 2));
  EXPECT_FALSE(std::is_sorted(a.begin(), a.end(), [](auto& x, auto& y) { return x.off < y.off; }));
}

TEST(PlanExtents, LargeBlocksRoundSizesUp) {
  for (const Extent& e : PlanExtents(8 << 20, 4096, 3)) EXPECT_EQ(e.len % 4096, 0u);
}

TEST(PlanExtents, RejectsBadArguments) {
  EXPECT_THROW(PlanExtents(1000, 512, 1), std::invalid_argument);
  EXPECT_THROW(PlanExtents(3 * 1536, 1536, 1), std::invalid_argument);
  EXPECT_THROW(PlanExtents(4096, 0, 1), std::invalid_argument);
  EXPECT_TRUE(PlanExtents(0, 512, 1).empty());
}

TEST(BufferOffset, UnalignedMultiplesOfTheAlignment) {
  for (uint32_t align : {4, 8, 64, 512, 2048}) {
    std::set<uint32_t> seen;
    for (uint64_t io = 0; io < 1000; io++) {
      uint32_t off = BufferOffset(11, io, align);
      ASSERT_EQ(off % align, 0u);
      ASSERT_GT(off, 0u);  // never page aligned: every buffer >= 4K crosses a page
      ASSERT_LT(off, kPageSize);
      seen.insert(off);
    }
    EXPECT_GE(seen.size(), std::min<size_t>(50, kPageSize / align - 1)) << "align " << align;
  }
  EXPECT_EQ(BufferOffset(11, 5, 4096), 0u);
}

TEST(BufferOffset, AlignmentFallbackEndsAtAPage) {
  std::vector<uint32_t> chain;
  for (uint32_t a = 4; a; a = StrongerAlignment(a)) chain.push_back(a);
  EXPECT_EQ(chain.front(), 4u);
  EXPECT_EQ(chain.back(), kPageSize);
  EXPECT_EQ(chain.size(), 11u);
}

// --- command lines and RESULT lines --------------------------------------------------------

TEST(Parse, Sizes) {
  EXPECT_EQ(ParseSize("64M"), uint64_t(64) << 20);
  EXPECT_EQ(ParseSize("48m"), uint64_t(48) << 20);
  EXPECT_EQ(ParseSize("4K"), 4096u);
  EXPECT_EQ(ParseSize("2G"), uint64_t(2) << 30);
  EXPECT_EQ(ParseSize("1000"), 1000u);
  for (const char* bad : {"", "M", "1.5M", "-1", "12X", "1MM", "99999999999999999999"})
    EXPECT_FALSE(ParseSize(bad)) << bad;
  EXPECT_FALSE(ParseSize("17179869184G"));  // overflows
}

TEST(Parse, NumbersAndSeconds) {
  EXPECT_EQ(ParseU64("0x10"), 16u);
  EXPECT_EQ(ParseU64("010"), 10u);
  EXPECT_FALSE(ParseU64("0x"));
  EXPECT_FALSE(ParseU64("12a"));
  EXPECT_EQ(ParseSeconds("2.5"), 2.5);
  EXPECT_EQ(ParseSeconds("10"), 10.0);
  EXPECT_FALSE(ParseSeconds("-1"));
  EXPECT_FALSE(ParseSeconds("inf"));
  EXPECT_EQ(CleanLabel("ours 1=x"), "ours_1_x");
  EXPECT_EQ(CleanLabel(""), "-");
}

TEST(Result, BlkLine) {
  BlkResult r{"base1", 2, 96000000, 48000000, 0, 0, 2.0, 0.5, 3.04, 4, true};
  EXPECT_EQ(FormatResult(r),
            "RESULT tool=blk label=base1 cycles=2 bytes_written=96000000 bytes_verified=48000000 "
            "mismatches=0 io_errors=0 write_MBps=48.0 read_MBps=96.0 seconds=3.0 align=4 "
            "status=ok");
  r.ok = false;
  r.read_seconds = 0;
  EXPECT_NE(FormatResult(r).find("read_MBps=0.0 "), std::string::npos);
  EXPECT_TRUE(FormatResult(r).ends_with(" status=FAIL"));
}

TEST(Result, NetLine) {
  NetResult r{"flips", 2000, 1574000, 0, 0, 3, 2.0, true};
  EXPECT_EQ(FormatResult(r),
            "RESULT tool=net label=flips frames=2000 bytes=1574000 corrupt=0 lost=0 retries=3 "
            "MBps=0.8 seconds=2.0 status=ok");
}

// --- frames --------------------------------------------------------------------------------

const FrameCtx kCtx{0x1234, {0x52, 0x54, 0, 0x12, 0x34, 0x56}, {0x52, 0x54, 0, 0x12, 0x34, 0x57}};

TEST(Crc32, KnownValue) {
  const char* s = "123456789";
  EXPECT_EQ(Crc32({reinterpret_cast<const uint8_t*>(s), 9}), 0xcbf43926u);
}

TEST(Frame, RoundTripsEverySize) {
  for (size_t len = kMinFrame; len <= kMaxFrame; len++) {
    for (uint64_t seq : {2, 3}) {  // both directions
      std::vector<uint8_t> f = EncodeFrame(kCtx, seq, len);
      ASSERT_EQ(f.size(), len);
      ASSERT_FALSE(FrameMismatch(kCtx, f, seq, len)) << len;
      const Mac& dst = seq % 2 ? kCtx.a : kCtx.b;
      ASSERT_TRUE(std::equal(dst.begin(), dst.end(), f.begin()));
      ASSERT_EQ(f[12], 0x88);
      ASSERT_EQ(f[13], 0xb5);
    }
  }
}

TEST(Frame, SizesCoverTheRange) {
  std::set<size_t> sizes;
  bool odd = false, even = false;
  for (uint64_t seq = 0; seq < 2000; seq++) {
    size_t len = FrameLen(9, seq);
    ASSERT_GE(len, kMinFrame);
    ASSERT_LE(len, kMaxFrame);
    sizes.insert(len);
    (len % 2 ? odd : even) = true;
  }
  EXPECT_TRUE(sizes.count(kMinFrame) && sizes.count(kMaxFrame));
  EXPECT_TRUE(odd && even);
  EXPECT_GT(sizes.size(), 700u);
}

TEST(Frame, BodiesDifferBySeqAndSeed) {
  std::vector<uint8_t> a = EncodeFrame(kCtx, 4, 1000), b = EncodeFrame(kCtx, 6, 1000);
  EXPECT_FALSE(std::equal(a.begin() + kFrameHeader, a.end(), b.begin() + kFrameHeader));
  FrameCtx other = kCtx;
  other.seed++;
  std::vector<uint8_t> c = EncodeFrame(other, 4, 1000);
  EXPECT_FALSE(std::equal(a.begin() + kFrameHeader, a.end(), c.begin() + kFrameHeader));
}

TEST(Frame, EverySingleBitFlipIsCaught) {
  for (size_t len : {kMinFrame, size_t(61), size_t(777), kMaxFrame}) {
    const std::vector<uint8_t> f = EncodeFrame(kCtx, 4, len);
    for (size_t bit = 0; bit < len * 8; bit++) {
      std::vector<uint8_t> g = f;
      g[bit / 8] ^= uint8_t(1 << bit % 8);
      ASSERT_TRUE(FrameMismatch(kCtx, g, 4, len)) << "bit " << bit;
      // As received: corrupt, except a flipped ethertype, which the socket would not deliver.
      Verdict v = CheckFrame(kCtx, g, FrameRxSide(4), 5).verdict;
      if (bit / 8 == 12 || bit / 8 == 13)
        ASSERT_EQ(v, Verdict::kForeign);
      else
        ASSERT_EQ(v, Verdict::kCorrupt) << "bit " << bit << " of " << len;
    }
  }
}

TEST(Frame, TruncatedAndPaddedFramesAreCorrupt) {
  std::vector<uint8_t> f = EncodeFrame(kCtx, 4);
  for (size_t cut : {size_t(1), size_t(4), f.size() - kFrameHeader, f.size() - 2})
    EXPECT_EQ(CheckFrame(kCtx, std::span(f).first(f.size() - cut), 1, 5).verdict, Verdict::kCorrupt)
        << "cut " << cut;
  std::vector<uint8_t> padded = f;
  padded.resize(f.size() + 4);
  EXPECT_EQ(CheckFrame(kCtx, padded, 1, 5).verdict, Verdict::kCorrupt);
  EXPECT_EQ(CheckFrame(kCtx, std::span(f).first(10), 1, 5).verdict, Verdict::kCorrupt);
}

TEST(Frame, WrongSeqIsRejected) {
  std::vector<uint8_t> f = EncodeFrame(kCtx, 4, 500);
  EXPECT_TRUE(FrameMismatch(kCtx, f, 6, 500));
  // A well-formed frame for a seq not yet sent, or received on its own sender's side.
  std::vector<uint8_t> g = EncodeFrame(kCtx, 8);
  EXPECT_EQ(CheckFrame(kCtx, g, FrameRxSide(8), 8).verdict, Verdict::kCorrupt);
  EXPECT_EQ(CheckFrame(kCtx, g, FrameRxSide(8), 9).verdict, Verdict::kOk);
  EXPECT_EQ(CheckFrame(kCtx, g, FrameRxSide(8) ^ 1, 9).verdict, Verdict::kCorrupt);
}

TEST(Frame, CheckAcceptsEveryFrameAndIgnoresOtherRuns) {
  for (uint64_t seq = 0; seq < 500; seq++) {
    Check c = CheckFrame(kCtx, EncodeFrame(kCtx, seq), FrameRxSide(seq), 500);
    ASSERT_EQ(c.verdict, Verdict::kOk) << c.why;
    ASSERT_EQ(c.seq, seq);
  }
  FrameCtx other = kCtx;
  other.seed = 77;
  EXPECT_EQ(CheckFrame(kCtx, EncodeFrame(other, 3), FrameRxSide(3), 500).verdict,
            Verdict::kForeign);
}

// --- usw-blkcheck end to end ---------------------------------------------------------------

struct Output {
  int status;
  std::string out;  // stdout and stderr
  std::string Last() const {
    std::string s = out.substr(0, out.find_last_not_of('\n') + 1);
    return s.substr(s.rfind('\n') + 1);  // npos + 1 == 0
  }
  std::string Field(const std::string& key) const {
    std::string line = " " + Last() + " ";
    size_t at = line.find(" " + key + "=");
    if (at == line.npos) return "";
    at += key.size() + 2;
    return line.substr(at, line.find(' ', at) - at);
  }
};

Output Exec(const std::string& args) {
  Output r{-1, ""};
  FILE* p = popen((args + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof(buf), p)) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

class BlkCheck : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/usw-blkcheck-test.XXXXXX";
    ASSERT_TRUE(mkdtemp(tmpl));
    dir_ = tmpl;
    file_ = dir_ + "/disk";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  Output Blk(const std::string& args) {
    return Exec(std::string(USW_BLKCHECK) + " --dev " + file_ + " --no-direct " + args);
  }

  std::string dir_, file_;
};

TEST_F(BlkCheck, WritesAndVerifiesAFile) {
  Output r = Blk("--bytes 3M --seed 7 --label t1");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.Field("status"), "ok") << r.out;
  EXPECT_EQ(r.Last().rfind("RESULT tool=blk label=t1 cycles=1 ", 0), 0u) << r.Last();
  EXPECT_EQ(r.Field("bytes_written"), "3145728");
  EXPECT_EQ(r.Field("bytes_verified"), "3145728");
  EXPECT_EQ(r.Field("mismatches"), "0");
  EXPECT_EQ(r.Field("io_errors"), "0");
  EXPECT_EQ(std::filesystem::file_size(file_), 3u << 20);
  // The file holds the model.
  std::ifstream f(file_, std::ios::binary);
  std::vector<uint8_t> got(1 << 20);
  f.seekg(1 << 20);
  f.read(reinterpret_cast<char*>(got.data()), got.size());
  EXPECT_EQ(got, Model(Derive(7, 0), 1 << 20, 1 << 20));
}

TEST_F(BlkCheck, OneCorruptByteIsFound) {
  Output w = Blk("--bytes 2M --seed 9 --write-only");
  ASSERT_EQ(w.status, 0) << w.out;
  EXPECT_EQ(w.Field("bytes_verified"), "0");
  {
    std::fstream f(file_, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(1234567);
    char c;
    f.read(&c, 1);
    c ^= 0x20;
    f.seekp(1234567);
    f.write(&c, 1);
  }
  Output v = Blk("--bytes 2M --seed 9 --verify-only");
  EXPECT_EQ(v.status, 1) << v.out;
  EXPECT_EQ(v.Field("status"), "FAIL");
  EXPECT_EQ(v.Field("mismatches"), "1");
  EXPECT_EQ(v.Field("bytes_written"), "0");
  EXPECT_NE(v.out.find("mismatch at offset 1234567"), std::string::npos) << v.out;
  // The wrong seed finds nearly every byte wrong.
  Output s = Blk("--bytes 2M --seed 10 --verify-only");
  EXPECT_EQ(s.status, 1);
  EXPECT_GT(std::stoull(s.Field("mismatches")), 2000000u);
}

TEST_F(BlkCheck, SecondsRepeatCycles) {
  Output r = Blk("--bytes 1M --seconds 0.3 --align 4");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_GT(std::stoull(r.Field("cycles")), 1u);
  EXPECT_EQ(r.Field("align"), "4");
  EXPECT_EQ(std::stoull(r.Field("bytes_verified")), std::stoull(r.Field("cycles")) << 20);
}

TEST_F(BlkCheck, VerifyOnlyAfterAFullRunWithMoreCyclesFails) {
  // Cycle 2 wrote different data than cycle 1, which --verify-only expects.
  ASSERT_EQ(Blk("--bytes 1M --seconds 0.2").status, 0);
  EXPECT_EQ(Blk("--bytes 1M --verify-only").status, 1);
}

TEST_F(BlkCheck, SetupErrorsExitTwoWithoutResult) {
  Output r = Exec(std::string(USW_BLKCHECK) + " --dev " + dir_ + "/missing/disk --no-direct");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out.find("RESULT"), std::string::npos);
  EXPECT_NE(r.out.find("usw-blkcheck: "), std::string::npos) << r.out;
  EXPECT_EQ(Blk("--bytes 1M --verify-only").status, 2);  // the file does not exist yet
  EXPECT_EQ(Blk("--bytes 1X").status, 2);
  EXPECT_EQ(Blk("--bytes 1M --write-only --seconds 2").status, 2);
  EXPECT_EQ(Exec(std::string(USW_BLKCHECK) + " --help").status, 0);
}

TEST(NetCheck, SetupErrorsExitTwoWithoutResult) {
  Output r = Exec(std::string(USW_NETCHECK) + " --a usw-none0 --b usw-none1 --frames 1");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_EQ(r.out.find("RESULT"), std::string::npos);
  EXPECT_EQ(Exec(std::string(USW_NETCHECK) + " --a x --b x").status, 2);
  EXPECT_EQ(Exec(std::string(USW_NETCHECK) + " --help").status, 0);
}

}  // namespace
}  // namespace usw_workload
