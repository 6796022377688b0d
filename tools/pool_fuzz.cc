// SPDX-License-Identifier: GPL-2.0
//
// libFuzzer target: the input picks a pool layout, which usw_pool_index() must accept exactly
// when it is valid, then a sequence of operations run on pool.c and the model of pool_model.h,
// with every invariant checked after each.
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

bool ValidLayout(const std::vector<dma_addr_t>& bus) {
  for (size_t i = 0; i < bus.size(); i++) {
    if (bus[i] % kSlot || bus[i] > UINT64_MAX - kSegSize) return false;
    for (size_t j = 0; j < i; j++)
      if (bus[i] < bus[j] + kSegSize && bus[j] < bus[i] + kSegSize) return false;
  }
  return true;
}

// Segments near 0, across 4 GiB or at the top of bus space, a slot apart at the finest, so that
// holes, touching segments, overlaps and wrap-around all come up.
std::vector<dma_addr_t> Layout(FuzzedDataProvider& in) {
  static constexpr dma_addr_t kBase[] = {0, 0x100000000ULL - 32 * kSegSize,
                                         0ULL - 16 * kSegSize};
  dma_addr_t base = kBase[in.ConsumeIntegralInRange(0, 2)];
  std::vector<dma_addr_t> bus(in.ConsumeIntegralInRange(1, 6));
  for (auto& b : bus) {
    b = base + in.ConsumeIntegralInRange(0U, 32 * kSegSlots) * kSlot;
    if (in.ConsumeIntegralInRange(0, 31) == 0) b += kSlot / 2;
  }
  return bus;
}

usw_req Request(FuzzedDataProvider& in) {
  static constexpr unsigned kMinAlign[] = {0, 0x7ff, 0xfff, 0xffff, 0x3ffff, 0x7ffff, UINT_MAX};
  usw_req req{};
  req.orig = in.ConsumeIntegral<uint64_t>();
  req.size = in.ConsumeBool() ? in.ConsumeIntegralInRange<size_t>(0, kSegSize + kSlot)
                              : in.ConsumeIntegral<size_t>();
  req.min_align_mask = kMinAlign[in.ConsumeIntegralInRange(0, 6)];
  unsigned align_bits = in.ConsumeIntegralInRange(0, 20);
  req.alloc_align_mask = align_bits < 11 ? 0 : (1U << align_bits) - 1;
  unsigned boundary_bits = in.ConsumeIntegralInRange(11, 64);
  req.boundary_mask = boundary_bits == 64 ? ULONG_MAX : (1UL << boundary_bits) - 1;
  return req;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  std::vector<dma_addr_t> bus = Layout(in);
  unsigned nareas = in.ConsumeIntegralInRange(0, 8);

  if (!ValidLayout(bus)) {
    usw_pool p{};
    if (usw_pool_init(&p, bus.size(), nareas)) std::abort();
    for (size_t i = 0; i < bus.size(); i++) p.segs[i].bus = bus[i];
    int err = usw_pool_index(&p);
    usw_pool_destroy(&p);
    if (err != -EINVAL) Require("usw_pool_index() accepted an invalid layout");
    return 0;
  }

  PoolHarness h;
  Require(h.Init(bus, nareas));
  Require(h.CheckLayout());
  const usw_pool* pool = h.pool();
  while (in.remaining_bytes()) {
    unsigned op = in.ConsumeIntegralInRange(0, 9);
    if (op < 5) {
      Require(h.Alloc(Request(in), in.ConsumeIntegral<unsigned>()));
    } else if (op < 7 && !h.mappings().empty()) {
      auto it = h.mappings().begin();
      std::advance(it, in.ConsumeIntegralInRange<size_t>(0, h.mappings().size() - 1));
      Require(h.Free(it->first));
    } else if (op < 8) {
      Require(h.Free(in.ConsumeIntegralInRange(0U, pool->nslots - 1)));
    } else if (op < 9) {
      dma_addr_t span = pool->bus_hi - pool->bus_lo + 2 * kSlot;
      Require(h.Resolve(pool->bus_lo - kSlot + in.ConsumeIntegralInRange<uint64_t>(0, span),
                        in.ConsumeIntegralInRange<size_t>(1, 2 * kSegSize)));
    } else {
      h.ResetHiwater();
    }
    Require(h.Check());
  }
  while (!h.mappings().empty()) Require(h.Free(h.mappings().begin()->first));
  Require(h.Check());
  return 0;
}
