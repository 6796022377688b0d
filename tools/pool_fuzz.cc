// SPDX-License-Identifier: GPL-2.0
//
// libFuzzer target: the input picks a pool shape (segment size, most segments, areas) and then
// a sequence of operations, segments coming and going among them, run on pool.c and the model
// of pool_model.h, with every invariant checked after each. Segments to add come from layouts
// that are valid or not (misaligned, overlapping, wrapping): usw_pool_add() must refuse exactly
// the invalid ones, whole.
#include <fuzzer/FuzzedDataProvider.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "pool_model.h"

using namespace usw_test;

namespace {

void Require(const std::string& err) {
  if (err.empty()) return;
  std::fprintf(stderr, "mismatch: %s\n", err.c_str());
  std::abort();
}

// Segments near 0, across 4 GiB or at the top of bus space, a slot apart at the finest, so that
// holes, touching segments, overlaps and wrap-around all come up.
std::vector<dma_addr_t> Layout(FuzzedDataProvider& in, unsigned seg_shift) {
  uint64_t seg = SegSize(seg_shift);
  const dma_addr_t kBase[] = {0, 0x100000000ULL - 32 * seg, 0ULL - 16 * seg};
  dma_addr_t base = kBase[in.ConsumeIntegralInRange(0, 2)];
  std::vector<dma_addr_t> bus(in.ConsumeIntegralInRange(1, 3));
  for (auto& b : bus) {
    b = base + in.ConsumeIntegralInRange(0U, 32 * SegSlots(seg_shift)) * kSlot;
    if (in.ConsumeIntegralInRange(0, 31) == 0) b += kSlot / 2;
  }
  return bus;
}

usw_req Request(FuzzedDataProvider& in, unsigned seg_shift) {
  static constexpr unsigned kMinAlign[] = {0, 0x7ff, 0xfff, 0xffff, 0x3ffff, 0x7ffff, UINT_MAX};
  usw_req req{};
  req.orig = in.ConsumeIntegral<uint64_t>();
  req.size = in.ConsumeBool()
                 ? in.ConsumeIntegralInRange<size_t>(0, SegSize(seg_shift) + kSlot)
                 : in.ConsumeIntegral<size_t>();
  req.min_align_mask = kMinAlign[in.ConsumeIntegralInRange(0, 6)];
  unsigned align_bits = in.ConsumeIntegralInRange(0, 22);
  req.alloc_align_mask = align_bits < 11 ? 0 : (1U << align_bits) - 1;
  unsigned boundary_bits = in.ConsumeIntegralInRange(11, 64);
  req.boundary_mask = boundary_bits == 64 ? ULONG_MAX : (1UL << boundary_bits) - 1;
  return req;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  unsigned seg_shift = in.ConsumeIntegralInRange(kShiftMin, kShiftMax);
  unsigned max_segs = in.ConsumeIntegralInRange(1, 8);
  unsigned nareas = in.ConsumeIntegralInRange(0, 8);

  PoolHarness h;
  Require(h.InitEmpty(seg_shift, max_segs, nareas));
  Require(h.Add(Layout(in, seg_shift)));
  Require(h.Check());
  const usw_pool* pool = h.pool();
  while (in.remaining_bytes()) {
    unsigned op = in.ConsumeIntegralInRange(0, 14);
    if (op < 5) {
      Require(h.Alloc(Request(in, seg_shift), in.ConsumeIntegral<unsigned>()));
    } else if (op < 7 && !h.mappings().empty()) {
      auto it = h.mappings().begin();
      std::advance(it, in.ConsumeIntegralInRange<size_t>(0, h.mappings().size() - 1));
      Require(h.Free(it->first));
    } else if (op < 8) {
      // Any slot number, past max_segs' too.
      Require(h.Free(in.ConsumeIntegralInRange(0U, ((max_segs + 1) << seg_shift) - 1)));
    } else if (op < 9) {
      dma_addr_t lo = pool->nsegs ? pool->bus_lo : 0x100000000ULL;
      dma_addr_t span = pool->nsegs ? pool->bus_hi - pool->bus_lo : 0;
      Require(h.Resolve(lo - kSlot + in.ConsumeIntegralInRange<uint64_t>(0, span + 2 * kSlot),
                        in.ConsumeIntegralInRange<size_t>(1, 2 * h.seg_size())));
    } else if (op < 10) {
      h.ResetHiwater();
    } else if (op < 11) {
      Require(h.Add(Layout(in, seg_shift)));
    } else if (op < 12) {
      Require(h.Retire(in.ConsumeIntegralInRange(0U, max_segs)));
    } else if (op < 13) {
      Require(h.RetireIdle(in.ConsumeIntegralInRange(0U, max_segs)));
    } else {
      unsigned max = in.ConsumeIntegralInRange(0U, max_segs + 1);
      Require(h.Reap(max > max_segs ? UINT_MAX : max));
    }
    Require(h.Check());
  }
  while (!h.mappings().empty()) Require(h.Free(h.mappings().begin()->first));
  Require(h.Retire(0));
  Require(h.Reap());
  Require(h.Check());
  return 0;
}
