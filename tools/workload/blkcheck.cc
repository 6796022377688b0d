// SPDX-License-Identifier: GPL-2.0
//
// usw-blkcheck: writes a seeded pattern over the start of a disk with O_DIRECT, through user
// buffers that start at odd places inside a page, then reads it back in another extent mix and
// order and checks every byte. Unaligned, page-crossing buffers are what make a DMA-mapping
// layer split, bounce and sync; see usage below.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cli.h"
#include "workload.h"

using namespace usw_workload;

namespace {

constexpr char kUsage[] = R"(usage: usw-blkcheck --dev PATH [options]

Writes a pattern that is a pure function of (seed, offset) over [0, --bytes) of PATH, then
reads it back and compares every byte. Extents of 4K..1M (some not page multiples) at
block-aligned offsets, in a shuffled order; each I/O's buffer starts at a different
unaligned point in a page (a multiple of the queue's dma_alignment + 1). If the kernel
rejects a buffer alignment with EINVAL, the next stronger one is used (up to 4096) and the
RESULT line reports it.

  --dev PATH      block device, or with --no-direct also a regular file (created or
                  extended to --bytes unless --verify-only)
  --bytes N       region size, K/M/G suffixes allowed (default 64M); clamped to the
                  device size and rounded down to its logical block size
  --seed S        pattern seed, decimal or 0x hex (default 1)
  --seconds T     repeat write+verify cycles, each with new data, until T seconds have
                  passed; the current cycle always finishes (default: one cycle)
  --no-direct     buffered I/O instead of O_DIRECT
  --write-only    write phase only (one cycle)
  --verify-only   verify phase only, against what --write-only wrote with the same seed
  --align A       first buffer alignment to try (power of two up to 4096; default: the
                  queue's dma_alignment + 1, or 512 if unreadable; 512 for files, 4 with
                  --no-direct)
  --label NAME    label for the RESULT line (default "-")

Progress goes to stdout, errors to stderr. The last line on stdout is:
  RESULT tool=blk label=NAME cycles=C bytes_written=N bytes_verified=N mismatches=M
         io_errors=E write_MBps=X.X read_MBps=Y.Y seconds=S.S align=A status=ok|FAIL
(one line; MBps is 10^6 bytes per second of that phase's wall time).
Exit status: 0 ok, 1 status=FAIL, 2 usage or setup error (no RESULT line).
)";

constexpr int kMaxReports = 8;  // mismatching bytes shown in detail

struct Options {
  std::string dev;
  uint64_t bytes = 64 << 20;
  uint64_t seed = 1;
  double seconds = 0;
  bool direct = true, write = true, verify = true;
  uint32_t align = 0;  // 0: from the device
  std::string label = "-";
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  Args args(argc, argv);
  std::string_view name;
  while (args.Next(name)) {
    if (name == "-h" || name == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (name == "--dev") {
      o.dev = args.Value();
    } else if (name == "--bytes") {
      o.bytes = args.Parsed(ParseSize);
    } else if (name == "--seed") {
      o.seed = args.Parsed(ParseU64);
    } else if (name == "--seconds") {
      o.seconds = args.Parsed(ParseSeconds);
    } else if (name == "--no-direct") {
      o.direct = false;
    } else if (name == "--write-only") {
      o.verify = false;
    } else if (name == "--verify-only") {
      o.write = false;
    } else if (name == "--align") {
      uint64_t a = args.Parsed(ParseU64);
      if (a == 0 || a > kPageSize || (a & (a - 1)))
        USW_DIE("--align wants a power of two up to 4096");
      o.align = uint32_t(a);
    } else if (name == "--label") {
      o.label = args.Value();
    } else {
      args.Unknown();
    }
  }
  if (o.dev.empty()) USW_DIE("--dev is required; see --help");
  if (!o.write && !o.verify) USW_DIE("--write-only and --verify-only exclude each other");
  // Cycles after the first write new data, which a separate verify-only run cannot know.
  if ((!o.write || !o.verify) && o.seconds > 0)
    USW_DIE("--seconds needs both phases (no --write-only or --verify-only)");
  return o;
}

// A number from the block queue directory of device `rdev`; partitions have theirs one
// level up.
std::optional<uint64_t> QueueAttr(dev_t rdev, const char* attr) {
  for (const char* up : {"", "/.."}) {
    char path[128];
    std::snprintf(path, sizeof(path), "/sys/dev/block/%u:%u%s/queue/%s", major(rdev), minor(rdev),
                  up, attr);
    if (FILE* f = std::fopen(path, "re")) {
      char buf[32] = "";
      bool ok = std::fgets(buf, sizeof(buf), f) != nullptr;
      std::fclose(f);
      buf[std::strcspn(buf, "\n")] = 0;
      if (ok)
        if (auto v = ParseU64(buf)) return v;
    }
  }
  return std::nullopt;
}

struct Target {
  int fd;
  uint64_t bytes;  // the region, a multiple of block
  uint32_t block;
  uint32_t align;
};

Target Open(const Options& o) {
  const char* dev = o.dev.c_str();
  int flags = (o.write ? O_RDWR : O_RDONLY) | O_CLOEXEC | (o.direct ? O_DIRECT : 0);
  struct stat st;
  if (o.write && stat(dev, &st) != 0 && errno == ENOENT) flags |= O_CREAT;
  int fd = open(dev, flags, 0644);
  if (fd < 0) USW_DIE("%s: %s", dev, std::strerror(errno));
  if (fstat(fd, &st) != 0) USW_DIE("%s: %s", dev, std::strerror(errno));

  Target t{fd, o.bytes, 512, o.direct ? 512u : 4u};
  if (S_ISBLK(st.st_mode)) {
    uint64_t size = 0;
    if (ioctl(fd, BLKGETSIZE64, &size) != 0)
      USW_DIE("%s: BLKGETSIZE64: %s", dev, std::strerror(errno));
    int ssz = 0;
    if (auto v = QueueAttr(st.st_rdev, "logical_block_size"))
      t.block = uint32_t(*v);
    else if (ioctl(fd, BLKSSZGET, &ssz) == 0 && ssz > 0)
      t.block = uint32_t(ssz);
    if (auto mask = QueueAttr(st.st_rdev, "dma_alignment"))
      t.align = uint32_t(*mask + 1);
    else
      Say("usw-blkcheck: %s: no queue/dma_alignment, assuming 512-byte buffer alignment", dev);
    if (t.bytes > size) {
      Say("usw-blkcheck: %s: --bytes %" PRIu64 " clamped to the device size %" PRIu64, dev,
          t.bytes, size);
      t.bytes = size;
    }
  } else if (S_ISREG(st.st_mode)) {
    if (uint64_t(st.st_size) < t.bytes) {
      if (!o.write)
        USW_DIE("%s: %" PRIu64 " bytes, shorter than --bytes %" PRIu64, dev, uint64_t(st.st_size),
                t.bytes);
      if (ftruncate(fd, off_t(t.bytes)) != 0)
        USW_DIE("%s: extending: %s", dev, std::strerror(errno));
    }
  } else {
    USW_DIE("%s: neither a block device nor a regular file", dev);
  }
  if (!t.block || (t.block & (t.block - 1)) || t.block > kMaxExtent)
    USW_DIE("%s: odd logical block size %u", dev, t.block);
  if (o.align) t.align = o.align;
  if (!t.align || (t.align & (t.align - 1)) || t.align > kPageSize) t.align = 512;
  t.bytes -= t.bytes % t.block;
  if (t.bytes == 0) USW_DIE("%s: region smaller than one %u-byte block", dev, t.block);
  return t;
}

class Checker {
 public:
  Checker(const Options& o, const Target& t)
      : o_(o),
        t_(t),
        arena_(static_cast<uint8_t*>(std::aligned_alloc(kPageSize, kMaxExtent + kPageSize))),
        expect_(kMaxExtent) {
    if (!arena_) USW_DIE("out of memory");
    r_.label = o.label;
    r_.align = t.align;
  }
  ~Checker() { std::free(arena_); }

  // One cycle, both or one of its phases. False once anything failed.
  bool Cycle(unsigned cycle) {
    uint64_t data_seed = Derive(o_.seed, cycle);
    if (o_.write) Write(cycle, data_seed);
    if (o_.verify) Verify(cycle, data_seed);
    r_.cycles++;
    return !r_.mismatches && !r_.io_errors;
  }

  BlkResult& result() { return r_; }

 private:
  // Moves one extent between the disk and a buffer starting BufferOffset() into a page,
  // finishing short transfers. Returns the buffer, or nullptr after an I/O error (counted).
  uint8_t* Transfer(bool write, const Extent& e, uint64_t data_seed, uint64_t buf_seed,
                    uint64_t io) {
    for (;;) {
      uint32_t in_page = BufferOffset(buf_seed, io, t_.align);
      uint8_t* buf = arena_ + in_page;
      if (write) ModelFill(data_seed, e.off, {buf, e.len});
      uint64_t done = 0;
      int err = 0;
      while (done < e.len) {
        ssize_t n = write ? pwrite(t_.fd, buf + done, e.len - done, off_t(e.off + done))
                          : pread(t_.fd, buf + done, e.len - done, off_t(e.off + done));
        if (n > 0) {
          done += uint64_t(n);
        } else if (n < 0 && errno == EINTR) {
          continue;
        } else {
          err = n < 0 ? errno : 0;
          break;
        }
      }
      if (done == e.len) return buf;
      // The block layer refuses buffers below the queue's dma_alignment with EINVAL; that
      // is a limit to work within, not a failure.
      if (err == EINVAL && o_.direct && StrongerAlignment(t_.align)) {
        Say("kernel rejected %u-byte aligned buffers (EINVAL), trying %u", t_.align,
            StrongerAlignment(t_.align));
        t_.align = r_.align = StrongerAlignment(t_.align);
        continue;
      }
      Error("%s of %" PRIu64 " bytes at offset %" PRIu64 " (buffer at in-page offset %u): "
            "%s after %" PRIu64 " bytes",
            write ? "write" : "read", e.len, e.off, in_page,
            err ? std::strerror(err) : "end of device", done);
      r_.io_errors++;
      return nullptr;
    }
  }

  void Write(unsigned cycle, uint64_t data_seed) {
    double t0 = Now();
    std::vector<Extent> plan = PlanExtents(t_.bytes, t_.block, Derive(data_seed, 1));
    uint64_t bytes = 0;
    for (size_t i = 0; i < plan.size(); i++)
      if (Transfer(true, plan[i], data_seed, Derive(data_seed, 2), i)) bytes += plan[i].len;
    // Data in the page cache (--no-direct) or a volatile disk cache is not yet written.
    if (fdatasync(t_.fd) != 0) {
      Error("fdatasync: %s", std::strerror(errno));
      r_.io_errors++;
    }
    double dt = Now() - t0;
    r_.bytes_written += bytes;
    r_.write_seconds += dt;
    Say("cycle %u: wrote %" PRIu64 " bytes in %zu writes, %.1f MB/s", cycle + 1, bytes, plan.size(),
        MBps(bytes, dt));
  }

  void Verify(unsigned cycle, uint64_t data_seed) {
    double t0 = Now();
    std::vector<Extent> plan = PlanExtents(t_.bytes, t_.block, Derive(data_seed, 3));
    RegionSum model, read;
    uint64_t bytes = 0, mismatches = 0;
    for (size_t i = 0; i < plan.size(); i++) {
      const Extent& e = plan[i];
      std::span<uint8_t> want(expect_.data(), e.len);
      ModelFill(data_seed, e.off, want);
      model.Add(e.off, want);
      const uint8_t* got = Transfer(false, e, data_seed, Derive(data_seed, 4), i);
      if (!got) continue;
      read.Add(e.off, {got, e.len});
      bytes += e.len;
      if (std::memcmp(got, want.data(), e.len) == 0) continue;
      for (uint64_t j = 0; j < e.len; j++) {
        if (got[j] == want[j]) continue;
        if (r_.mismatches + mismatches < kMaxReports)
          Error("mismatch at offset %" PRIu64 ": expected 0x%02x, got 0x%02x "
                "(cycle %u, read of %" PRIu64 " bytes at %" PRIu64 ")",
                e.off + j, want[j], got[j], cycle + 1, e.len, e.off);
        mismatches++;
      }
    }
    double dt = Now() - t0;
    r_.bytes_verified += bytes;
    r_.read_seconds += dt;
    r_.mismatches += mismatches;
    Say("cycle %u: verified %" PRIu64 " bytes in %zu reads, %.1f MB/s, "
        "checksum model %016" PRIx64 " read %016" PRIx64 ", %" PRIu64 " mismatching bytes",
        cycle + 1, bytes, plan.size(), MBps(bytes, dt), model.value(), read.value(), mismatches);
  }

  const Options& o_;
  Target t_;
  uint8_t* arena_;  // a page of room for the in-page offset, then the largest extent
  std::vector<uint8_t> expect_;
  BlkResult r_;
};

}  // namespace

int main(int argc, char** argv) {
  g_tool = "usw-blkcheck";
  Options o = ParseOptions(argc, argv);
  Target t = Open(o);
  Say("usw-blkcheck: %s: region %" PRIu64 " bytes, block %u, buffer alignment %u, %s, "
      "seed %" PRIu64,
      o.dev.c_str(), t.bytes, t.block, t.align, o.direct ? "O_DIRECT" : "buffered", o.seed);

  Checker c(o, t);
  double t0 = Now();
  for (unsigned cycle = 0; c.Cycle(cycle) && Now() - t0 < o.seconds; cycle++) {
  }
  BlkResult& r = c.result();
  r.seconds = Now() - t0;
  r.ok = !r.mismatches && !r.io_errors && (r.bytes_verified || !o.verify);
  if (r.mismatches > kMaxReports)
    Error("%" PRIu64 " mismatching bytes in all, the first %d shown", r.mismatches, kMaxReports);
  close(t.fd);
  std::fflush(stderr);
  std::puts(FormatResult(r).c_str());
  return r.ok ? 0 : 1;
}
