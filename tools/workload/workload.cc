// SPDX-License-Identifier: GPL-2.0
//
// Pure logic of the workload tools; see workload.h.
#include "workload.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>

#include "../common/format.h"

namespace usw_workload {

// The model and the checksum read words with memcpy and define them as little-endian.
static_assert(std::endian::native == std::endian::little);

void ModelFill(uint64_t seed, uint64_t off, std::span<uint8_t> out) {
  size_t i = 0;
  // Head up to a word boundary, whole words, then the tail.
  for (; i < out.size() && (off + i) % 8; i++)
    out[i] = uint8_t(Mix64(seed ^ ((off + i) / 8)) >> ((off + i) % 8 * 8));
  for (; i + 8 <= out.size(); i += 8) {
    uint64_t w = Mix64(seed ^ ((off + i) / 8));
    std::memcpy(&out[i], &w, 8);
  }
  for (; i < out.size(); i++)
    out[i] = uint8_t(Mix64(seed ^ ((off + i) / 8)) >> ((off + i) % 8 * 8));
}

void RegionSum::Add(uint64_t off, std::span<const uint8_t> data) {
  if (off % 8 || data.size() % 8) throw std::invalid_argument("RegionSum: unaligned extent");
  uint64_t word = off / 8;
  for (size_t i = 0; i < data.size(); i += 8, word++) {
    uint64_t w;
    std::memcpy(&w, &data[i], 8);
    // Keying by the index makes the sum position-sensitive: swapped words change it.
    sum_ += Mix64(w ^ Mix64(word));
  }
}

std::vector<Extent> PlanExtents(uint64_t region, uint32_t block, uint64_t seed) {
  if (block == 0 || !std::has_single_bit(block) || block > kMaxExtent || region % block)
    throw std::invalid_argument("PlanExtents: bad block size or region");
  Rng rng(seed);
  std::vector<Extent> plan;
  for (uint64_t off = 0; off < region;) {
    uint64_t size = kExtentSizes[rng.Below(std::size(kExtentSizes))];
    size = (size + block - 1) / block * block;
    uint64_t len = std::min(size, region - off);
    plan.push_back({off, len});
    off += len;
  }
  // Fisher-Yates with our own generator: std::shuffle's output may differ between libraries,
  // and a run must replay the same I/O for the same seed.
  for (size_t i = plan.size(); i > 1; i--) std::swap(plan[i - 1], plan[rng.Below(i)]);
  return plan;
}

uint32_t BufferOffset(uint64_t seed, uint64_t io, uint32_t align) {
  if (align == 0 || align >= kPageSize) return 0;
  uint64_t slots = kPageSize / align - 1;  // non-zero multiples of align below a page
  return uint32_t(align * (1 + Mix64(seed ^ Mix64(io)) % slots));
}

std::optional<uint64_t> ParseU64(std::string_view s) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  uint64_t v;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<uint64_t> ParseSize(std::string_view s) {
  unsigned shift = 0;
  if (!s.empty()) {
    switch (s.back()) {
      case 'K':
      case 'k':
        shift = 10;
        break;
      case 'M':
      case 'm':
        shift = 20;
        break;
      case 'G':
      case 'g':
        shift = 30;
        break;
    }
    if (shift) s.remove_suffix(1);
  }
  uint64_t v;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  if (shift && v > (UINT64_MAX >> shift)) return std::nullopt;
  return v << shift;
}

std::optional<double> ParseSeconds(std::string_view s) {
  double v;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) || v < 0)
    return std::nullopt;
  return v;
}

std::string CleanLabel(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (!(std::isalnum((unsigned char)c) || c == '.' || c == '_' || c == '+' || c == '-')) c = '_';
  return out.empty() ? "-" : out;
}

double MBps(uint64_t bytes, double seconds) { return seconds > 0 ? bytes / seconds / 1e6 : 0; }

std::string FormatResult(const BlkResult& r) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "RESULT tool=blk label=%s cycles=%" PRIu64 " bytes_written=%" PRIu64
                " bytes_verified=%" PRIu64 " mismatches=%" PRIu64 " io_errors=%" PRIu64
                " write_MBps=%.1f read_MBps=%.1f seconds=%.1f align=%u status=%s",
                CleanLabel(r.label).c_str(), r.cycles, r.bytes_written, r.bytes_verified,
                r.mismatches, r.io_errors, MBps(r.bytes_written, r.write_seconds),
                MBps(r.bytes_verified, r.read_seconds), r.seconds, r.align, r.ok ? "ok" : "FAIL");
  return buf;
}

std::string FormatResult(const NetResult& r) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "RESULT tool=net label=%s frames=%" PRIu64 " bytes=%" PRIu64 " corrupt=%" PRIu64
                " lost=%" PRIu64 " stray=%" PRIu64 " retries=%" PRIu64
                " MBps=%.1f seconds=%.1f status=%s",
                CleanLabel(r.label).c_str(), r.frames, r.bytes, r.corrupt, r.lost, r.stray,
                r.retries, MBps(r.bytes, r.seconds), r.seconds, r.ok ? "ok" : "FAIL");
  return buf;
}

// --- frames --------------------------------------------------------------------------------

namespace {

constexpr auto kCrcTable = [] {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}();

constexpr uint64_t kLenTag = 0x6c656e;     // "len"
constexpr uint64_t kBodyTag = 0x626f6479;  // "body"

void PutBE(uint8_t* p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--, v >>= 8) p[i] = uint8_t(v);
}
uint64_t GetBE(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v = v << 8 | p[i];
  return v;
}

bool CrcIntact(std::span<const uint8_t> f) {
  if (f.size() < kFrameTrailer) return false;
  size_t n = f.size() - kFrameTrailer;
  return Crc32(f.first(n)) == GetBE(&f[n], 4);
}

}  // namespace

uint32_t Crc32(std::span<const uint8_t> data) {
  uint32_t c = ~0u;
  for (uint8_t b : data) c = kCrcTable[(c ^ b) & 0xff] ^ (c >> 8);
  return ~c;
}

size_t FrameLen(uint64_t seed, uint64_t seq) {
  static constexpr size_t kFirst[] = {kMinFrame, kMaxFrame, kMinFrame + 1, kMaxFrame - 1};
  if (seq < std::size(kFirst)) return kFirst[seq];
  uint64_t h = Mix64(Derive(seed, kLenTag) ^ seq);
  uint64_t r = h >> 8;
  switch (h & 7) {
    case 0:
      return kMinFrame + r % 16;
    case 1:
      return kMaxFrame - r % 16;
    default:
      return kMinFrame + r % (kMaxFrame - kMinFrame + 1);
  }
}

std::vector<uint8_t> EncodeFrame(const FrameCtx& ctx, uint64_t seq, size_t len) {
  if (len < kMinFrame || len > kMaxFrame) throw std::invalid_argument("EncodeFrame: bad length");
  std::vector<uint8_t> f(len);
  int dir = FrameDir(seq);
  const Mac& src = dir == 0 ? ctx.a : ctx.b;
  const Mac& dst = dir == 0 ? ctx.b : ctx.a;
  std::copy(dst.begin(), dst.end(), f.begin());
  std::copy(src.begin(), src.end(), f.begin() + 6);
  PutBE(&f[12], kEtherType, 2);
  PutBE(&f[14], kFrameMagic, 4);
  f[18] = uint8_t(dir);
  f[19] = 1;  // format version
  PutBE(&f[20], len, 2);
  PutBE(&f[22], seq, 8);
  PutBE(&f[30], ctx.seed, 8);
  size_t body_end = len - kFrameTrailer;
  ModelFill(Derive(Derive(ctx.seed, kBodyTag), seq), 0,
            std::span(f).subspan(kFrameHeader, body_end - kFrameHeader));
  PutBE(&f[body_end], Crc32(std::span(f).first(body_end)), 4);
  return f;
}

std::optional<std::string> FrameMismatch(const FrameCtx& ctx, std::span<const uint8_t> got,
                                         uint64_t seq, size_t len) {
  std::vector<uint8_t> want = EncodeFrame(ctx, seq, len);
  const char* crc = CrcIntact(got) ? "intact" : "bad";
  char buf[256];
  if (got.size() != want.size()) {
    std::snprintf(buf, sizeof(buf), "frame %" PRIu64 ": %zu bytes, expected %zu (CRC %s)", seq,
                  got.size(), want.size(), crc);
    return buf;
  }
  size_t first = SIZE_MAX, n = 0;
  for (size_t i = 0; i < want.size(); i++) {
    if (got[i] == want[i]) continue;
    if (first == SIZE_MAX) first = i;
    n++;
  }
  if (n == 0) return std::nullopt;
  std::snprintf(buf, sizeof(buf),
                "frame %" PRIu64 " (%zu bytes): %zu bytes differ, first at offset %zu: "
                "got 0x%02x, expected 0x%02x (CRC %s)",
                seq, want.size(), n, first, got[first], want[first], crc);
  return buf;
}

Check CheckFrame(const FrameCtx& ctx, std::span<const uint8_t> got, int rx_side, uint64_t sent) {
  char buf[160];
  if (got.size() >= kEthHeader && GetBE(&got[12], 2) != kEtherType)
    return {Verdict::kForeign, 0, ""};
  if (got.size() < kEthHeader + 4 || GetBE(&got[14], 4) != kFrameMagic) {
    std::snprintf(buf, sizeof(buf), "%zu-byte frame without our magic", got.size());
    return {Verdict::kCorrupt, 0, buf};
  }
  // Another run's traffic (its seed, its CRC intact) is no evidence against this one's data.
  if (got.size() >= kFrameHeader + kFrameTrailer && GetBE(&got[30], 8) != ctx.seed &&
      CrcIntact(got)) {
    std::snprintf(buf, sizeof(buf), "frame %" PRIu64 " (%zu bytes) of another run, seed %" PRIu64,
                  GetBE(&got[22], 8), got.size(), GetBE(&got[30], 8));
    return {Verdict::kOtherRun, 0, buf};
  }
  if (got.size() < kFrameHeader + kFrameTrailer) {
    std::snprintf(buf, sizeof(buf), "truncated frame of %zu bytes", got.size());
    return {Verdict::kCorrupt, 0, buf};
  }
  uint64_t seq = GetBE(&got[22], 8);
  if (seq >= sent) {
    std::snprintf(buf, sizeof(buf), "frame claims seq %" PRIu64 ", only 0..%" PRIu64 " sent", seq,
                  sent - 1);
    return {Verdict::kCorrupt, seq, buf};
  }
  if (FrameRxSide(seq) != rx_side) {
    std::snprintf(buf, sizeof(buf), "frame %" PRIu64 " arrived on side %c, sent to side %c", seq,
                  'a' + rx_side, 'a' + FrameRxSide(seq));
    return {Verdict::kCorrupt, seq, buf};
  }
  if (auto why = FrameMismatch(ctx, got, seq, FrameLen(ctx.seed, seq)))
    return {Verdict::kCorrupt, seq, *why};
  return {Verdict::kOk, seq, ""};
}

std::string MacStr(const Mac& m) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                m[5]);
  return buf;
}

// --- the frame exchange --------------------------------------------------------------------

namespace {

using usw::Format;

class NetRunner {
 public:
  NetRunner(const NetOptions& o, const FrameCtx& ctx, Link& link)
      : o_(o), ctx_(ctx), link_(link), timeout_(o.timeout_ms / 1e3) {
    r_.label = o.label;
  }

  NetResult Run() {
    double t0 = link_.Now();
    while (!fatal_) {
      double now = link_.Now();
      bool more = next_ < o_.frames || now - t0 < o_.seconds;
      while (more && !stop_ && !fatal_ && pending_.size() < o_.window) {
        pending_[next_] = {EncodeFrame(ctx_, next_), now, 0};
        Send(next_++);
        more = next_ < o_.frames || now - t0 < o_.seconds;
      }
      if (pending_.empty() && (stop_ || !more)) break;
      Retransmit(now);
      if (!fatal_) Receive();
    }
    r_.seconds = link_.Now() - t0;  // the linger below is not part of the throughput
    if (!fatal_) Linger();
    r_.ok = !fatal_ && !r_.corrupt && !r_.lost && !r_.stray && r_.frames >= o_.frames;
    link_.Say(Format("usw-netcheck: %" PRIu64 " frames verified of %" PRIu64 " sent, %" PRIu64
                     " retransmissions, %" PRIu64 " duplicates and %" PRIu64
                     " foreign frames ignored",
                     r_.frames, next_, r_.retries, r_.dups, r_.foreign));
    if (r_.corrupt > kMaxFrameReports)
      link_.Error(Format("%" PRIu64 " corrupt frames in all, the first %" PRIu64 " shown",
                         r_.corrupt, kMaxFrameReports));
    if (r_.stray > kMaxFrameReports)
      link_.Error(Format("%" PRIu64 " stray frames in all, the first %" PRIu64 " shown", r_.stray,
                         kMaxFrameReports));
    return r_;
  }

 private:
  struct Pending {
    std::vector<uint8_t> frame;
    double sent;
    uint64_t tries;
  };

  void Send(uint64_t seq) {
    // kDropped needs nothing: the timeout sends the frame again.
    if (link_.Send(seq, pending_[seq].frame) == Link::Sent::kFailed) fatal_ = true;
  }

  void Retransmit(double now) {
    for (auto it = pending_.begin(); it != pending_.end() && !fatal_;) {
      auto& [seq, p] = *it;
      if (now - p.sent < timeout_) {
        ++it;
        continue;
      }
      if (p.tries >= o_.retries) {
        link_.Error(Format("frame %" PRIu64 " (%zu bytes, %s -> %s) lost: not received after "
                           "%" PRIu64 " retransmissions",
                           seq, p.frame.size(), o_.names[FrameDir(seq)].c_str(),
                           o_.names[FrameRxSide(seq)].c_str(), p.tries));
        r_.lost++;
        stop_ = true;  // the link is likely dead: finish what is in flight, send no more
        it = pending_.erase(it);
        continue;
      }
      p.tries++;
      p.sent = now;
      r_.retries++;
      Send(seq);
      ++it;
    }
  }

  // Waits until a frame arrives or the earliest retransmission is due, taking in what arrives.
  void Receive() {
    double due = 1;
    for (const auto& [seq, p] : pending_) due = std::min(due, p.sent + timeout_ - link_.Now());
    // At least a millisecond: poll's resolution, and progress on a clock that only moves in Wait.
    if (!link_.Wait(std::max(due, 1e-3), rx_)) fatal_ = true;
  }

  // Late copies of our frames (a retransmission's original, slow but not lost) are checked and
  // counted here rather than reaching the next run on this link, which may be a closed one.
  void Linger() {
    double end = link_.Now() + timeout_;
    for (double now = link_.Now(); !fatal_ && now < end; now = link_.Now())
      if (!link_.Wait(std::max(end - now, 1e-3), rx_)) fatal_ = true;
  }

  void Take(int side, std::span<const uint8_t> frame) {
    Check c = CheckFrame(ctx_, frame, side, next_);
    switch (c.verdict) {
      case Verdict::kOtherRun:
        if (o_.closed) {
          if (r_.stray < kMaxFrameReports)
            link_.Error(Format("%s: stray frame: %s", o_.names[side].c_str(), c.why.c_str()));
          r_.stray++;
          break;
        }
        [[fallthrough]];
      case Verdict::kForeign:
        r_.foreign++;
        break;
      case Verdict::kCorrupt:
        if (r_.corrupt < kMaxFrameReports)
          link_.Error(Format("%s: corrupt frame: %s", o_.names[side].c_str(), c.why.c_str()));
        r_.corrupt++;
        stop_ = true;
        break;
      case Verdict::kOk:
        if (auto it = pending_.find(c.seq); it != pending_.end()) {
          r_.frames++;
          r_.bytes += it->second.frame.size();
          pending_.erase(it);
        } else {
          r_.dups++;
        }
        break;
    }
  }

  const NetOptions& o_;
  const FrameCtx& ctx_;
  Link& link_;
  const double timeout_;
  const Link::Receiver rx_ = [this](int side, std::span<const uint8_t> f) { Take(side, f); };
  std::map<uint64_t, Pending> pending_;  // sent, not yet received intact
  uint64_t next_ = 0;                    // frames 0..next_-1 have been sent
  bool stop_ = false;                    // a frame was corrupt or lost: send no new ones
  bool fatal_ = false;                   // the link failed: stop at once
  NetResult r_;
};

}  // namespace

NetResult RunNetCheck(const NetOptions& o, const FrameCtx& ctx, Link& link) {
  return NetRunner(o, ctx, link).Run();
}

}  // namespace usw_workload
