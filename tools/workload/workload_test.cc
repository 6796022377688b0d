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
#include <map>
#include <optional>
#include <set>
#include <sstream>
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
  NetResult r{"flips", 2000, 1574000, 0, 0, 0, 3, 2.0, true};
  EXPECT_EQ(FormatResult(r),
            "RESULT tool=net label=flips frames=2000 bytes=1574000 corrupt=0 lost=0 stray=0 "
            "retries=3 MBps=0.8 seconds=2.0 status=ok");
  r.stray = 2;
  r.ok = false;
  EXPECT_NE(FormatResult(r).find(" stray=2 retries=3 "), std::string::npos);
  EXPECT_TRUE(FormatResult(r).ends_with(" status=FAIL"));
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
  Check c = CheckFrame(kCtx, EncodeFrame(other, 3), FrameRxSide(3), 500);
  EXPECT_EQ(c.verdict, Verdict::kOtherRun);
  EXPECT_EQ(c.why, "frame 3 (1513 bytes) of another run, seed 77");
  // Its seq, side and length do not matter: all of it is the other run's business.
  EXPECT_EQ(CheckFrame(kCtx, EncodeFrame(other, 900, 100), 0, 5).verdict, Verdict::kOtherRun);
}

// --- the frame exchange over a simulated wire ----------------------------------------------

// A wire with a virtual clock: Wait jumps to the next arrival rather than sleeping. Each
// transmission arrives as the copies its fate lists: by default one, intact, `latency` later.
class FakeLink : public Link {
 public:
  struct Copy {
    double delay = 0;         // on top of the latency: later frames overtake this one
    int flip = -1;            // offset of a byte to corrupt
    bool wrong_side = false;  // delivered back to the sender's side
  };
  struct Tx {
    double at;
    uint64_t seq;
  };

  explicit FakeLink(double latency = 0.001) : latency_(latency) {}

  // Faults, by transmission number (0 is the first Send, retransmissions count) or by seq.
  std::map<uint64_t, std::vector<Copy>> fate;  // {}: lost on the wire
  std::set<uint64_t> lose_seq;                 // every copy of these is lost
  std::set<uint64_t> full;                     // refused with kDropped, like a full queue
  std::optional<uint64_t> fail;                // fails fatally

  // A frame from some other sender, arriving on `side` at time `at`.
  void Inject(double at, int side, std::vector<uint8_t> frame) {
    wire_.emplace(at, Arrival{side, std::move(frame)});
  }

  // What happened.
  std::vector<Tx> sent;  // every Send, refused ones too
  std::vector<std::pair<double, std::string>> errors;
  std::vector<std::string> says;
  size_t on_the_wire() const { return wire_.size(); }
  uint64_t Frames() const {  // distinct frames sent
    uint64_t n = 0;
    for (const Tx& t : sent) n = std::max(n, t.seq + 1);
    return n;
  }
  size_t Sends(uint64_t seq) const {
    return std::count_if(sent.begin(), sent.end(), [&](const Tx& t) { return t.seq == seq; });
  }

  double Now() override { return now_; }

  Sent Send(uint64_t seq, std::span<const uint8_t> frame) override {
    uint64_t n = sent.size();
    sent.push_back({now_, seq});
    if (fail == n) {
      Error("sending frame " + std::to_string(seq) + ": injected failure");
      return Sent::kFailed;
    }
    if (full.count(n)) return Sent::kDropped;
    if (lose_seq.count(seq)) return Sent::kOk;
    auto it = fate.find(n);
    for (const Copy& c : it == fate.end() ? std::vector<Copy>{{}} : it->second) {
      std::vector<uint8_t> f(frame.begin(), frame.end());
      if (c.flip >= 0) f.at(c.flip) ^= 0x10;
      Inject(now_ + latency_ + c.delay, FrameRxSide(seq) ^ c.wrong_side, std::move(f));
    }
    return Sent::kOk;
  }

  bool Wait(double seconds, const Receiver& rx) override {
    EXPECT_GT(seconds, 0) << "a wait that lets no time pass would spin";
    double until = now_ + seconds;
    if (wire_.empty() || wire_.begin()->first > until) {
      now_ = until;
      return true;
    }
    now_ = std::max(now_, wire_.begin()->first);  // injected frames may be due already
    while (!wire_.empty() && wire_.begin()->first <= now_) {
      Arrival a = std::move(wire_.begin()->second);
      wire_.erase(wire_.begin());
      rx(a.side, a.frame);
    }
    return true;
  }

  void Error(const std::string& line) override { errors.push_back({now_, line}); }
  void Say(const std::string& line) override { says.push_back(line); }

 private:
  struct Arrival {
    int side;
    std::vector<uint8_t> frame;
  };
  double latency_;
  double now_ = 0;
  std::multimap<double, Arrival> wire_;  // by arrival time, ties in sending order
};

// Every counter and the verdict, to compare in one go.
std::string Counts(const NetResult& r) {
  std::ostringstream s;
  s << "frames=" << r.frames << " corrupt=" << r.corrupt << " lost=" << r.lost
    << " stray=" << r.stray << " retries=" << r.retries << " dups=" << r.dups
    << " foreign=" << r.foreign << " ok=" << r.ok;
  return s.str();
}

uint64_t Bytes(uint64_t frames) {
  uint64_t n = 0;
  for (uint64_t seq = 0; seq < frames; seq++) n += FrameLen(kCtx.seed, seq);
  return n;
}

class NetRun : public testing::Test {
 protected:
  NetRun() {
    o_.frames = 40;
    o_.retries = 3;
  }
  NetResult Run() { return RunNetCheck(o_, kCtx, link_); }
  // The messages, for failures.
  std::string Log() const {
    std::string s;
    for (const auto& [at, line] : link_.errors)
      s += "error at " + std::to_string(at) + ": " + line + "\n";
    for (const std::string& line : link_.says) s += line + "\n";
    return s;
  }
  // No frame was sent for the first time after time t.
  void ExpectNoNewFramesAfter(double t) const {
    uint64_t next = 0;
    for (const FakeLink::Tx& tx : link_.sent) {
      if (tx.seq < next) continue;
      EXPECT_LE(tx.at, t) << "frame " << tx.seq << " sent after the run should have stopped";
      next = tx.seq + 1;
    }
  }

  NetOptions o_;
  FakeLink link_;
};

TEST_F(NetRun, CleanLinkVerifiesEveryFrame) {
  NetResult r = Run();
  EXPECT_EQ(Counts(r), "frames=40 corrupt=0 lost=0 stray=0 retries=0 dups=0 foreign=0 ok=1")
      << Log();
  EXPECT_EQ(r.bytes, Bytes(40));
  EXPECT_EQ(link_.sent.size(), 40u);
  EXPECT_EQ(std::count_if(link_.sent.begin(), link_.sent.end(), [](auto& t) { return t.at == 0; }),
            8);  // the window
  EXPECT_TRUE(link_.errors.empty()) << Log();
  ASSERT_EQ(link_.says.size(), 1u);
  EXPECT_EQ(link_.says[0],
            "usw-netcheck: 40 frames verified of 40 sent, 0 retransmissions, 0 duplicates and 0 "
            "foreign frames ignored");
  // Five round trips of 1 ms, then one timeout of listening for late copies.
  EXPECT_NEAR(r.seconds, 0.005, 1e-9);
  EXPECT_NEAR(link_.Now(), 0.205, 0.0015);
}

TEST_F(NetRun, FrameLostOnceIsSentAgain) {
  o_.frames = 1000;  // the loop keeps turning while frame 5 waits for its timeout
  link_.fate[5] = {};
  NetResult r = Run();
  EXPECT_EQ(Counts(r), "frames=1000 corrupt=0 lost=0 stray=0 retries=1 dups=0 foreign=0 ok=1")
      << Log();
  EXPECT_EQ(r.bytes, Bytes(1000));
  ASSERT_EQ(link_.Sends(5), 2u);
  auto first =
      std::find_if(link_.sent.begin(), link_.sent.end(), [](auto& t) { return t.seq == 5; });
  auto again = std::find_if(first + 1, link_.sent.end(), [](auto& t) { return t.seq == 5; });
  EXPECT_GE(again->at - first->at, 0.2);  // the timeout, not earlier
  EXPECT_LT(again->at - first->at, 0.202);
}

TEST_F(NetRun, FullQueueIsLikeALoss) {
  link_.full = {4, 17};
  EXPECT_EQ(Counts(Run()), "frames=40 corrupt=0 lost=0 stray=0 retries=2 dups=0 foreign=0 ok=1")
      << Log();
}

TEST_F(NetRun, FrameLostForeverFailsAndStopsTheRun) {
  // --seconds: frames enough by the time frame 100 is lost, so only the loss fails the run.
  o_.frames = 20;
  o_.seconds = 10;
  link_.lose_seq = {100};
  NetResult r = Run();
  EXPECT_EQ(link_.Sends(100), 4u);  // first copy and 3 retransmissions
  ASSERT_FALSE(link_.errors.empty());
  auto [lost_at, line] = link_.errors.back();
  EXPECT_EQ(line, "frame 100 (" + std::to_string(FrameLen(kCtx.seed, 100)) +
                      " bytes, a -> b) lost: not received after 3 retransmissions");
  ExpectNoNewFramesAfter(lost_at);
  EXPECT_LT(r.seconds, 1);
  uint64_t sent = link_.Frames();
  EXPECT_GT(sent, 100u);
  EXPECT_EQ(Counts(r), "frames=" + std::to_string(sent - 1) +
                           " corrupt=0 lost=1 stray=0 retries=3 dups=0 foreign=0 ok=0")
      << Log();
}

TEST_F(NetRun, CorruptFrameFails) {
  link_.fate[39] = {{.flip = 100}};  // the last frame: all are verified in the end
  NetResult r = Run();
  EXPECT_EQ(Counts(r), "frames=40 corrupt=1 lost=0 stray=0 retries=1 dups=0 foreign=0 ok=0")
      << Log();
  ASSERT_EQ(link_.errors.size(), 1u);
  EXPECT_TRUE(link_.errors[0].second.starts_with("a: corrupt frame: frame 39 (")) << Log();
}

TEST_F(NetRun, CorruptFrameStopsNewFrames) {
  o_.frames = 1000;
  link_.fate[10] = {{.flip = kFrameHeader + 1}};
  NetResult r = Run();
  ASSERT_EQ(link_.errors.size(), 1u);
  ExpectNoNewFramesAfter(link_.errors[0].first);
  uint64_t sent = link_.Frames();
  EXPECT_LT(sent, 30u);
  EXPECT_EQ(Counts(r), "frames=" + std::to_string(sent) +
                           " corrupt=1 lost=0 stray=0 retries=1 dups=0 foreign=0 ok=0");
}

TEST_F(NetRun, CorruptReportsAreCapped) {
  // The first copies of frames 0..7 and their retransmissions: 16 corrupt, then all good.
  for (uint64_t n = 0; n < 16; n++) link_.fate[n] = {{.flip = 50}};
  NetResult r = Run();
  EXPECT_EQ(Counts(r), "frames=8 corrupt=16 lost=0 stray=0 retries=16 dups=0 foreign=0 ok=0")
      << Log();
  ASSERT_EQ(link_.errors.size(), kMaxFrameReports + 1);
  EXPECT_EQ(link_.errors.back().second, "16 corrupt frames in all, the first 8 shown");
}

TEST_F(NetRun, DuplicatesAreCheckedAndCountedOnce) {
  link_.fate[3] = {{}, {}};
  link_.fate[20] = {{}, {.delay = 0.05}};
  NetResult r = Run();
  EXPECT_EQ(Counts(r), "frames=40 corrupt=0 lost=0 stray=0 retries=0 dups=2 foreign=0 ok=1")
      << Log();
  EXPECT_EQ(r.bytes, Bytes(40));
}

TEST_F(NetRun, ReorderedFramesAreAccepted) {
  o_.frames = 1000;
  link_.fate[2] = {{.delay = 0.15}};  // overtaken by a thousand, still within the timeout
  link_.fate[9] = {{.delay = 0.003}};
  link_.fate[10] = {{.delay = 0.0015}};
  EXPECT_EQ(Counts(Run()), "frames=1000 corrupt=0 lost=0 stray=0 retries=0 dups=0 foreign=0 ok=1")
      << Log();
}

TEST_F(NetRun, FrameOnTheWrongSideIsCorrupt) {
  link_.fate[39] = {{.wrong_side = true}};
  EXPECT_EQ(Counts(Run()), "frames=40 corrupt=1 lost=0 stray=0 retries=1 dups=0 foreign=0 ok=0")
      << Log();
  ASSERT_EQ(link_.errors.size(), 1u);
  EXPECT_EQ(link_.errors[0].second, "b: corrupt frame: frame 39 arrived on side b, sent to side a");
}

TEST_F(NetRun, OtherEthertypesAreIgnoredOpenOrClosed) {
  std::vector<uint8_t> ip = EncodeFrame(kCtx, 5);
  ip[12] = 0x08;
  ip[13] = 0x00;
  for (bool closed : {false, true}) {
    SCOPED_TRACE(closed ? "closed" : "open");
    FakeLink link;
    link.Inject(0.0005, 0, ip);
    link.Inject(0.0025, 1, ip);
    o_.closed = closed;
    NetResult r = RunNetCheck(o_, kCtx, link);
    EXPECT_EQ(Counts(r), "frames=40 corrupt=0 lost=0 stray=0 retries=0 dups=0 foreign=2 ok=1");
  }
}

const FrameCtx kOtherRun{77, kCtx.a, kCtx.b};

TEST_F(NetRun, AnotherRunsFrameIsIgnoredOnAnOpenLink) {
  link_.Inject(0.0005, FrameRxSide(3), EncodeFrame(kOtherRun, 3));
  EXPECT_EQ(Counts(Run()), "frames=40 corrupt=0 lost=0 stray=0 retries=0 dups=0 foreign=1 ok=1")
      << Log();
  EXPECT_TRUE(link_.errors.empty());
}

TEST_F(NetRun, AnotherRunsFrameIsAStrayOnAClosedLink) {
  o_.closed = true;
  link_.Inject(0.0005, FrameRxSide(3), EncodeFrame(kOtherRun, 3));
  link_.Inject(0.1, 0, EncodeFrame(kOtherRun, 7));  // after the last frame, while listening on
  NetResult r = Run();
  EXPECT_LT(r.seconds, 0.1);
  EXPECT_EQ(Counts(r), "frames=40 corrupt=0 lost=0 stray=2 retries=0 dups=0 foreign=0 ok=0")
      << Log();
  ASSERT_EQ(link_.errors.size(), 2u);
  EXPECT_EQ(link_.errors[0].second, "a: stray frame: frame 3 (1513 bytes) of another run, seed 77");
  EXPECT_NE(FormatResult(r).find(" stray=2 "), std::string::npos);
}

TEST_F(NetRun, LateCopiesAreTakenInForOneTimeout) {
  o_.closed = true;
  link_.fate[39] = {{}, {.delay = 0.15}};  // arrives after the last frame is verified
  link_.fate[38] = {{}, {.delay = 0.3}};   // after the run
  NetResult r = Run();
  EXPECT_EQ(Counts(r), "frames=40 corrupt=0 lost=0 stray=0 retries=0 dups=1 foreign=0 ok=1")
      << Log();
  EXPECT_EQ(link_.on_the_wire(), 1u);
}

TEST_F(NetRun, LateCorruptCopyFails) {
  link_.fate[39] = {{}, {.delay = 0.15, .flip = 60}};
  EXPECT_EQ(Counts(Run()), "frames=40 corrupt=1 lost=0 stray=0 retries=0 dups=0 foreign=0 ok=0")
      << Log();
}

TEST_F(NetRun, SecondsKeepSendingUntilTheTimeIsUp) {
  o_.frames = 10;
  o_.seconds = 0.5;
  FakeLink link(0.005);
  NetResult r = RunNetCheck(o_, kCtx, link);
  uint64_t sent = link.Frames();
  EXPECT_EQ(link.sent.size(), sent);
  EXPECT_GT(sent, 700u);  // 8 per 5 ms
  EXPECT_EQ(Counts(r), "frames=" + std::to_string(sent) +
                           " corrupt=0 lost=0 stray=0 retries=0 dups=0 foreign=0 ok=1");
  EXPECT_GE(r.seconds, 0.5);
  EXPECT_LT(link.sent.back().at, 0.5);
  EXPECT_GE(link.sent.back().at, 0.49);
}

TEST_F(NetRun, FatalSendErrorStopsAtOnce) {
  // --seconds: frames enough by the failure, so only the failure fails the run.
  o_.frames = 5;
  o_.seconds = 1;
  link_.fail = 50;
  NetResult r = Run();
  EXPECT_FALSE(r.ok);
  EXPECT_GE(r.frames, 5u);
  EXPECT_EQ(link_.sent.size(), 51u);
  EXPECT_EQ(link_.Now(), link_.sent.back().at);  // no waiting for late copies either
  ASSERT_EQ(link_.errors.size(), 1u);
  EXPECT_EQ(link_.errors[0].second, "sending frame 50: injected failure");
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
