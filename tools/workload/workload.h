// SPDX-License-Identifier: GPL-2.0
//
// Pure logic of the demo workload tools usw-blkcheck and usw-netcheck: the disk content model,
// extent plans, the test frame format, the frame exchange's verdicts and the RESULT lines. No
// syscalls here (the exchange reaches the network through a Link), so the host tests link
// exactly the code the tools run.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace usw_workload {

// splitmix64's output function. A bijection on 64-bit values: distinct inputs never collide,
// which RegionSum relies on.
constexpr uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A seed for one purpose (a cycle, a plan, buffer offsets...) derived from a parent seed, so
// each purpose gets an unrelated stream and a whole run follows from the one --seed.
constexpr uint64_t Derive(uint64_t seed, uint64_t tag) { return Mix64(seed ^ Mix64(~tag)); }

// Seeded generator for plans, shuffles and frame sizes (a splitmix64 stream).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() { return Mix64(s_++ * 0x9e3779b97f4a7c15ULL); }
  // In [0, n) for n > 0; multiply-shift rather than % to avoid modulo bias.
  uint64_t Below(uint64_t n) { return uint64_t((unsigned __int128)Next() * n >> 64); }

 private:
  uint64_t s_;
};

// --- disk ----------------------------------------------------------------------------------

// The byte at device offset `off` is byte off % 8 (little-endian) of Mix64(seed ^ off / 8): a
// pure function of (seed, offset), so overlapping or reordered I/O stays consistent and any
// read can be checked on its own. Fills `out` with the model bytes at [off, off + out.size()).
void ModelFill(uint64_t seed, uint64_t off, std::span<uint8_t> out);

// Order-independent checksum of a region: the sum over its 8-byte words of a hash keyed by the
// word's index. Extents can be added in any order (the verify phase reads them shuffled) and
// give what one front-to-back pass would. Changing one word always changes the sum, since the
// hash is a bijection in the word's value.
class RegionSum {
 public:
  // `off` and `data.size()` must be multiples of 8 (throws std::invalid_argument otherwise).
  void Add(uint64_t off, std::span<const uint8_t> data);
  uint64_t value() const { return sum_; }

 private:
  uint64_t sum_ = 0;
};

struct Extent {
  uint64_t off;
  uint64_t len;
  bool operator==(const Extent&) const = default;
};

// Extent sizes the planner draws from, before rounding up to a multiple of the block size.
// Deliberately not all powers of two or page multiples: 6.5K, 20.5K, 128K+512, 512K+512.
inline constexpr uint64_t kExtentSizes[] = {
    4096, 6656, 12288, 20992, 61440, 131584, 258048, 524800, 1048576,
};
inline constexpr uint64_t kMaxExtent = 1048576;
inline constexpr uint32_t kPageSize = 4096;

// Tiles [0, region) with extents of sizes drawn from kExtentSizes (rounded up to `block`, the
// last one cut to fit), in a shuffled order. Mixed sizes leave most extents at offsets that
// are block-aligned but not aligned to their own size. `block` must be a power of two up to
// kMaxExtent that divides `region` (throws std::invalid_argument otherwise).
std::vector<Extent> PlanExtents(uint64_t region, uint32_t block, uint64_t seed);

// In-page start of the user buffer for I/O number `io`: a non-zero multiple of `align` below
// the page size (0 once align is a page), so buffers cross page boundaries at varying points.
uint32_t BufferOffset(uint64_t seed, uint64_t io, uint32_t align);

// The buffer alignment to try after the kernel rejected `align` with EINVAL, or 0 when there
// is none: a page is as strong as it gets.
constexpr uint32_t StrongerAlignment(uint32_t align) { return align < kPageSize ? align * 2 : 0; }

// --- command lines -------------------------------------------------------------------------

// A byte count with an optional K, M or G suffix (binary: 64M = 64 << 20).
std::optional<uint64_t> ParseSize(std::string_view s);
// Decimal, or hexadecimal after 0x.
std::optional<uint64_t> ParseU64(std::string_view s);
// A non-negative number of seconds, fractions allowed.
std::optional<double> ParseSeconds(std::string_view s);
// A label safe inside a RESULT line: anything but [A-Za-z0-9._+-] becomes '_'.
std::string CleanLabel(std::string_view s);

// --- RESULT lines --------------------------------------------------------------------------

// 10^6 bytes per second; 0 for an empty interval.
double MBps(uint64_t bytes, double seconds);

struct BlkResult {
  std::string label;
  uint64_t cycles = 0, bytes_written = 0, bytes_verified = 0, mismatches = 0, io_errors = 0;
  double write_seconds = 0, read_seconds = 0, seconds = 0;
  uint32_t align = 0;
  bool ok = false;
};
std::string FormatResult(const BlkResult& r);

struct NetResult {
  std::string label;
  uint64_t frames = 0, bytes = 0, corrupt = 0, lost = 0, stray = 0, retries = 0;
  double seconds = 0;
  bool ok = false;
  uint64_t dups = 0, foreign = 0;  // ignored frames, not in the RESULT line
};
std::string FormatResult(const NetResult& r);

// --- frames --------------------------------------------------------------------------------

// IEEE 802 local experimental ethertype 1: nothing else on the wire uses it.
inline constexpr uint16_t kEtherType = 0x88b5;
inline constexpr uint32_t kFrameMagic = 0x5553574e;  // "USWN"
inline constexpr size_t kMinFrame = 60;              // Ethernet minimum, FCS not counted
inline constexpr size_t kMaxFrame = 1514;            // 1500 MTU + 14 header
inline constexpr size_t kEthHeader = 14;
// After the Ethernet header: magic 4, direction 1, version 1, length 2, seq 8, seed 8, all big
// endian; then the body, then a CRC32 of everything before it.
inline constexpr size_t kFrameHeader = kEthHeader + 24;
inline constexpr size_t kFrameTrailer = 4;

using Mac = std::array<uint8_t, 6>;

// What both ends know: the run's seed and the MACs of side a and side b. Frame `seq` goes
// a -> b when seq is even and b -> a when odd, so both NICs transmit and receive.
struct FrameCtx {
  uint64_t seed;
  Mac a, b;
};

constexpr int FrameDir(uint64_t seq) { return int(seq & 1); }          // 0: a -> b, 1: b -> a
constexpr int FrameRxSide(uint64_t seq) { return FrameDir(seq) ^ 1; }  // 0: a, 1: b

// CRC-32 (IEEE 802.3 polynomial, reflected).
uint32_t Crc32(std::span<const uint8_t> data);

// Total length of frame `seq`: the first four are 60, 1514, 61, 1513 (both ends, even and
// odd), the rest a seeded mix of every length in between, weighted towards the ends.
size_t FrameLen(uint64_t seed, uint64_t seq);

// Frame `seq` of length `len` (kMinFrame..kMaxFrame): Ethernet header, our header, a body that
// is a pure function of (seed, seq), and the CRC32.
std::vector<uint8_t> EncodeFrame(const FrameCtx& ctx, uint64_t seq, size_t len);
inline std::vector<uint8_t> EncodeFrame(const FrameCtx& ctx, uint64_t seq) {
  return EncodeFrame(ctx, seq, FrameLen(ctx.seed, seq));
}

// Why `got` is not exactly frame (seq, len), or nothing if it is.
std::optional<std::string> FrameMismatch(const FrameCtx& ctx, std::span<const uint8_t> got,
                                         uint64_t seq, size_t len);

enum class Verdict {
  kOk,        // exactly frame `seq`, received on the side it was sent to
  kForeign,   // not ours: another ethertype
  kOtherRun,  // an intact frame of another run's seed: foreign, unless the link is closed
  kCorrupt,   // our ethertype but not a frame we sent, or not where we sent it
};
struct Check {
  Verdict verdict;
  uint64_t seq = 0;
  std::string why;
};

// Classifies a frame received on side `rx_side` (0 = a, 1 = b) when frames 0..sent-1 have
// been sent. A frame's content follows from the seq in its header, so every received frame,
// retransmitted duplicates included, is compared byte for byte with what was sent.
Check CheckFrame(const FrameCtx& ctx, std::span<const uint8_t> got, int rx_side, uint64_t sent);

std::string MacStr(const Mac& m);

// --- the frame exchange --------------------------------------------------------------------

// What usw-netcheck's verdict loop needs from the world: a clock, and two sides wired to each
// other (0 = a, 1 = b) to send frames from and receive them on. The tool implements it with
// packet sockets, the tests with a simulated wire.
class Link {
 public:
  enum class Sent {
    kOk,       // on its way, which does not mean it will arrive
    kDropped,  // not sent (a full queue): like a loss on the wire, a retransmission covers it
    kFailed,   // fatal; the link has reported why with Error
  };
  using Receiver = std::function<void(int side, std::span<const uint8_t> frame)>;

  virtual ~Link() = default;
  // Seconds on a monotonic clock.
  virtual double Now() = 0;
  // Sends frame `seq` from side FrameDir(seq) to the other side.
  virtual Sent Send(uint64_t seq, std::span<const uint8_t> frame) = 0;
  // Waits up to `seconds` for frames and hands every one that has arrived to rx, with the side
  // it arrived on; returns once some have. false: fatal; the link has reported why with Error.
  virtual bool Wait(double seconds, const Receiver& rx) = 0;
  // A line for the user: an error (stderr in the tool), or progress (stdout).
  virtual void Error(const std::string& line) = 0;
  virtual void Say(const std::string& line) = 0;
};

struct NetOptions {
  uint64_t frames = 2000;     // verify at least this many frames
  double seconds = 0;         // and keep sending new ones until this much time has passed
  uint64_t window = 8;        // frames in flight, at least 1
  uint64_t timeout_ms = 200;  // send a frame again if not received within this time
  uint64_t retries = 10;      // give a frame up as lost after this many retransmissions
  bool closed = false;        // the link carries only this run's frames: others are strays
  std::string label = "-";
  std::array<std::string, 2> names = {"a", "b"};  // the sides, in messages
};

// Corrupt and stray frames reported one by one; a total follows for the rest.
inline constexpr uint64_t kMaxFrameReports = 8;

// usw-netcheck's run: sends frames 0, 1, ... over `link` with o.window in flight, checks
// every frame received with CheckFrame, retransmits, and counts. Sends no new frames once one
// is corrupt or lost, and stops at once on a fatal link error. After the last frame, keeps
// receiving for one timeout so that late copies are checked (and counted) in this run rather
// than seen by the next one as strays. Reports through link.Error and link.Say.
NetResult RunNetCheck(const NetOptions& o, const FrameCtx& ctx, Link& link);

}  // namespace usw_workload
