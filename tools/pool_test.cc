// SPDX-License-Identifier: GPL-2.0
//
// Host tests of src/pool.c, built against the userspace shim in shim/include. Randomized runs
// use fixed seeds, shown in the test names; USW_SEED=n reruns them with seed n instead.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "pool_model.h"

extern "C" {
#include <linux/slab.h>
}

namespace usw_test {
namespace {

// Bus addresses for nsegs segments: slot aligned only, bus order shuffled against slot order,
// random holes and some bus-contiguous neighbours, straddling 4 GiB so that a 32-bit boundary
// mask bites.
std::vector<dma_addr_t> ScatteredBus(std::mt19937_64& rng, unsigned nsegs) {
  std::vector<unsigned> order(nsegs);
  for (unsigned i = 0; i < nsegs; i++) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<dma_addr_t> bus(nsegs);
  dma_addr_t at = 0x100000000ULL - nsegs * kSegSize / 2 - rng() % 64 * kSlot;
  for (unsigned i : order) {
    bus[i] = at;
    at += kSegSize + (rng() % 2 ? 0 : rng() % (3 * kSegSlots) * kSlot);
  }
  return bus;
}

usw_req Req(size_t size, uint64_t orig = 0, unsigned min_align = 0, unsigned alloc_align = 0,
            unsigned long boundary = ULONG_MAX) {
  return usw_req{orig, size, min_align, alloc_align, boundary};
}

usw_req RandomReq(std::mt19937_64& rng) {
  static constexpr unsigned kMinAlign[] = {0, 2047, 4095, 0xffff};
  static constexpr unsigned long kBoundary[] = {ULONG_MAX, ULONG_MAX, 0xffffffff, 0x1ffff,
                                                0xffff};
  usw_req req = Req(0, rng() & ((1ULL << 46) - 1), kMinAlign[rng() % 4],
                    rng() % 4 ? 0 : 4095, kBoundary[rng() % 5]);
  unsigned r = rng() % 100;
  size_t max = ModelMaxMapping(req.min_align_mask);
  if (r < 40)
    req.size = 1 + rng() % 4096;
  else if (r < 70)
    req.size = 1 + rng() % 65536;
  else if (r < 88)
    req.size = 1 + rng() % (256 * 1024);
  else if (r < 95)
    req.size = max - 1 + rng() % 3;
  else if (r < 98)
    req.size = (1 + rng() % kSegSlots) * kSlot;
  return req;  // else size 0
}

struct Shape {
  const char* name;
  unsigned nsegs;
  unsigned nareas;
  int steps;
};

void PrintTo(const Shape& s, std::ostream* os) { *os << s.name; }

constexpr Shape kShapes[] = {
    {"one_seg", 1, 1, 2000},
    {"scattered8", 8, 1, 1500},
    {"areas4x16", 16, 4, 1000},
    {"uneven8x12", 12, 8, 1000},
    {"big32x256", 256, 32, 120},
};

std::vector<uint64_t> Seeds() {
  if (const char* env = std::getenv("USW_SEED")) return {std::strtoull(env, nullptr, 0)};
  return {1, 2, 3};
}

class RandomOps : public testing::TestWithParam<std::tuple<Shape, uint64_t>> {};

TEST_P(RandomOps, MatchesModel) {
  const auto& [shape, seed] = GetParam();
  std::printf("shape %s, seed %llu\n", shape.name, static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  PoolHarness h;
  ASSERT_EQ(h.Init(ScatteredBus(rng, shape.nsegs), shape.nareas), "");
  ASSERT_EQ(h.CheckLayout(), "");
  const usw_pool* pool = h.pool();
  dma_addr_t lo = pool->bus_lo - 4 * kSlot, span = pool->bus_hi - pool->bus_lo + 8 * kSlot;
  long nospc = 0;

  for (int step = 0; step < shape.steps; step++) {
    unsigned op = rng() % 100;
    std::string err;
    if (op < 55) {
      int got;
      err = h.Alloc(RandomReq(rng), rng(), &got);
      nospc += got == -ENOSPC;
    } else if (op < 90 && !h.mappings().empty()) {
      auto it = h.mappings().begin();
      std::advance(it, rng() % h.mappings().size());
      err = h.Free(it->first);
    } else if (op < 95) {
      err = h.Free(rng() % pool->nslots);  // mostly not a head: must be refused harmlessly
    } else if (op < 99) {
      err = h.Resolve(lo + rng() % span, 1 + rng() % (4 * kSlot));
    } else {
      h.ResetHiwater();
    }
    ASSERT_EQ(err, "") << "step " << step;
    ASSERT_EQ(h.Check(), "") << "after step " << step;
  }
  while (!h.mappings().empty()) ASSERT_EQ(h.Free(h.mappings().begin()->first), "");
  ASSERT_EQ(h.Check(), "");
  EXPECT_EQ(h.CheckLayout(), "");
  EXPECT_EQ(usw_pool_used(pool), 0u);
  // Small pools must run full now and then, or exhaustion went untested.
  if (shape.nsegs <= 16) {
    EXPECT_GT(nospc, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, RandomOps,
                         testing::Combine(testing::ValuesIn(kShapes), testing::ValuesIn(Seeds())),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param).name) + "_seed" +
                                  std::to_string(std::get<1>(info.param));
                         });

TEST(PoolInit, RejectsNoSegmentsAndTooMany) {
  usw_pool p{};
  EXPECT_EQ(usw_pool_init(&p, 0, 1), -EINVAL);
  EXPECT_EQ(usw_pool_init(&p, UINT_MAX / USW_SEG_SLOTS + 1, 1), -EINVAL);
  EXPECT_EQ(p.segs, nullptr);
  EXPECT_EQ(p.slots, nullptr);
}

TEST(PoolInit, AreaCountIsAPowerOfTwoOfWholeSegments) {
  struct {
    unsigned nsegs, nareas, want;
  } cases[] = {{1, 0, 1}, {1, 4, 1}, {3, 3, 2}, {6, 5, 4}, {12, 8, 8}, {64, 1000, 64},
               {5, UINT_MAX, 4}};
  for (const auto& c : cases) {
    std::vector<dma_addr_t> bus;
    for (unsigned i = 0; i < c.nsegs; i++) bus.push_back(0x1000000 + i * kSegSize);
    PoolHarness h;
    ASSERT_EQ(h.Init(bus, c.nareas), "");
    EXPECT_EQ(h.pool()->nareas, c.want) << c.nsegs << " segments, " << c.nareas << " areas";
    EXPECT_EQ(h.CheckLayout(), "");
    EXPECT_EQ(h.Check(), "");
  }
}

// Fails each allocation of usw_pool_init() in turn; LeakSanitizer checks that nothing leaks.
TEST(PoolInit, AllocationFailureCleansUp) {
  unsigned failures = 0;
  for (unsigned k = 1; k < 10; k++) {
    usw_pool p{};
    shim_fail_alloc_nth = k;
    int err = usw_pool_init(&p, 4, 2);
    bool injected = shim_fail_alloc_nth == 0;
    shim_fail_alloc_nth = 0;
    if (!injected) {
      EXPECT_EQ(err, 0);
      usw_pool_destroy(&p);
      break;
    }
    failures++;
    EXPECT_EQ(err, -ENOMEM) << "allocation " << k << " failed";
    EXPECT_EQ(p.segs, nullptr);
    EXPECT_EQ(p.slots, nullptr);
    EXPECT_EQ(p.areas, nullptr);
    EXPECT_EQ(p.nsegs, 0U);
  }
  EXPECT_GE(failures, 3U);
}

int IndexWith(const std::vector<dma_addr_t>& bus) {
  usw_pool p{};
  if (usw_pool_init(&p, bus.size(), 1)) return INT_MIN;
  for (size_t i = 0; i < bus.size(); i++) p.segs[i].bus = bus[i];
  int err = usw_pool_index(&p);
  usw_pool_destroy(&p);
  return err;
}

TEST(PoolIndex, RejectsMisalignedOverlappingAndWrappingSegments) {
  constexpr dma_addr_t b = 0x40000000;
  EXPECT_EQ(IndexWith({b + kSlot / 2}), -EINVAL);
  EXPECT_EQ(IndexWith({b, b + 1}), -EINVAL);
  EXPECT_EQ(IndexWith({b, b}), -EINVAL);
  EXPECT_EQ(IndexWith({b, b + kSegSize - kSlot}), -EINVAL);
  EXPECT_EQ(IndexWith({b + kSegSize - kSlot, b}), -EINVAL);
  EXPECT_EQ(IndexWith({b, b + 4 * kSegSize, b + 3 * kSegSize + kSlot}), -EINVAL);
  EXPECT_EQ(IndexWith({dma_addr_t{0} - kSegSize + kSlot}), -EINVAL);
  // Ends exactly at 2^64: its end is not representable in bus_hi.
  EXPECT_EQ(IndexWith({dma_addr_t{0} - kSegSize}), -EINVAL);
}

TEST(PoolIndex, AcceptsTouchingSegmentsInAnyOrder) {
  constexpr dma_addr_t b = 0x40000000;
  EXPECT_EQ(IndexWith({b, b + kSegSize}), 0);
  EXPECT_EQ(IndexWith({b + kSegSize, b}), 0);
  EXPECT_EQ(IndexWith({b + 2 * kSegSize + 3 * kSlot, b + 3 * kSlot, b + kSegSize + 3 * kSlot}), 0);
  EXPECT_EQ(IndexWith({0}), 0);
  EXPECT_EQ(IndexWith({dma_addr_t{0} - 2 * kSegSize}), 0);
}

TEST(PoolIndex, FindSegAcrossThousandsOfSegments) {
  std::mt19937_64 rng(7);
  PoolHarness h;
  ASSERT_EQ(h.Init(ScatteredBus(rng, 4096), 64), "");
  EXPECT_EQ(h.CheckLayout(), "");
}

TEST(PoolAlloc, ExactFitAndHoles) {
  PoolHarness h;
  ASSERT_EQ(h.Init({0x80000000}, 1), "");
  int a, b, c, d;
  ASSERT_EQ(h.Alloc(Req(10 * kSlot), 0, &a), "");
  ASSERT_EQ(h.Alloc(Req(20 * kSlot), 0, &b), "");
  ASSERT_EQ(h.Alloc(Req(98 * kSlot - 100), 0, &c), "");
  EXPECT_EQ(std::tuple(a, b, c), std::tuple(0, 10, 30));
  ASSERT_EQ(h.Alloc(Req(1), 0, &d), "");
  EXPECT_EQ(d, -ENOSPC);

  ASSERT_EQ(h.Free(b), "");
  ASSERT_EQ(h.Alloc(Req(20 * kSlot + 1), 0, &d), "");
  EXPECT_EQ(d, -ENOSPC);
  ASSERT_EQ(h.Alloc(Req(20 * kSlot), 0, &d), "");
  EXPECT_EQ(d, 10);
  EXPECT_EQ(h.Check(), "");

  ASSERT_EQ(h.Free(a), "");
  ASSERT_EQ(h.Free(c), "");
  ASSERT_EQ(h.Free(d), "");
  ASSERT_EQ(h.Alloc(Req(kSegSize), 0, &a), "");
  EXPECT_EQ(a, 0);
  EXPECT_EQ(h.Check(), "");
}

TEST(PoolAlloc, ExhaustionReturnsNoSpaceAndRecovers) {
  PoolHarness h;
  ASSERT_EQ(h.Init({0x300000000, 0x100000000, 0x200000000, 0x180000000}, 4), "");
  int got;
  for (unsigned i = 0; i < h.pool()->nslots; i++) {
    ASSERT_EQ(h.Alloc(Req(1 + i % kSlot, i * 0x1234567), i * 7, &got), "");
    ASSERT_GE(got, 0);
  }
  for (unsigned area = 0; area < 8; area++) {
    ASSERT_EQ(h.Alloc(Req(1), area, &got), "");
    EXPECT_EQ(got, -ENOSPC);
  }
  EXPECT_EQ(h.Check(), "");

  ASSERT_EQ(h.Free(300), "");  // in area 2: hint 0 must find it past areas 0 and 1
  ASSERT_EQ(h.Alloc(Req(1), 0, &got), "");
  EXPECT_EQ(got, 300);
  ASSERT_EQ(h.Free(130), "");
  ASSERT_EQ(h.Free(132), "");
  ASSERT_EQ(h.Alloc(Req(kSlot + 1), 1, &got), "");  // two free slots, not adjacent
  EXPECT_EQ(got, -ENOSPC);
  ASSERT_EQ(h.Free(131), "");
  ASSERT_EQ(h.Alloc(Req(3 * kSlot), 1, &got), "");
  EXPECT_EQ(got, 130);
  EXPECT_EQ(h.Check(), "");
}

TEST(PoolAlloc, FallsToTheNextAreaAndWrapsAround) {
  PoolHarness h;
  ASSERT_EQ(h.Init({0x0, 0x40000, 0x80000, 0xc0000}, 4), "");
  std::vector<int> heads;
  for (unsigned hint : {2U, 2U, 2U, UINT_MAX}) {
    int got;
    ASSERT_EQ(h.Alloc(Req(kSegSize), hint, &got), "");
    heads.push_back(got);
  }
  // Area 2, then 3, then wrap to 0; UINT_MAX means area 3, full, so 0, full, so 1.
  EXPECT_EQ(heads, (std::vector<int>{256, 384, 0, 128}));
  int got;
  ASSERT_EQ(h.Alloc(Req(1), 1, &got), "");
  EXPECT_EQ(got, -ENOSPC);
  EXPECT_EQ(h.Check(), "");
}

// The only free slot is the one just before the cursor: the scan must go all the way round.
TEST(PoolAlloc, NextFitScansTheWholeCircle) {
  PoolHarness h;
  ASSERT_EQ(h.Init({0x80000000}, 1), "");
  int got;
  for (unsigned i = 0; i < kSegSlots; i++) ASSERT_EQ(h.Alloc(Req(1), 0), "");
  ASSERT_EQ(h.Free(9), "");
  ASSERT_EQ(h.Alloc(Req(1), 0, &got), "");
  ASSERT_EQ(got, 9);
  ASSERT_EQ(h.Free(9), "");
  ASSERT_EQ(h.Alloc(Req(1), 0, &got), "");
  EXPECT_EQ(got, 9);
  EXPECT_EQ(h.Check(), "");
}

TEST(PoolAlloc, InvalidSizes) {
  PoolHarness h;
  ASSERT_EQ(h.Init({0x80000000}, 1), "");
  for (unsigned mask : {0U, 2047U, 4095U, 0xffffU}) {
    EXPECT_EQ(usw_pool_max_mapping(mask), ModelMaxMapping(mask)) << "mask " << mask;
    int got;
    ASSERT_EQ(h.Alloc(Req(0, 0x12345, mask), 0, &got), "");
    EXPECT_EQ(got, -EINVAL);
    ASSERT_EQ(h.Alloc(Req(ModelMaxMapping(mask) + 1, 0x12345, mask), 0, &got), "");
    EXPECT_EQ(got, -EINVAL);
  }
  EXPECT_EQ(h.Check(), "");
}

// usw_pool_max_mapping() promises a size that an empty pool can always place, whatever the
// segment's position in bus space and the original's address.
TEST(PoolAlloc, MaxMappingAlwaysFitsAnEmptySegment) {
  for (unsigned start : {0U, 1U, 5U, 31U, 32U, 63U, 127U}) {
    PoolHarness h;
    ASSERT_EQ(h.Init({0x40000000 + start * kSlot}, 1), "");
    for (unsigned mask : {0U, 0x7ffU, 0xfffU, 0x1fffU, 0xffffU, 0x1ffffU, 0x3f7ffU}) {
      for (uint64_t orig : {0x0ULL, 0x7ffULL, 0x800ULL, 0x1ffffULL, 0x3f801ULL, 0xabcdefULL}) {
        int got;
        ASSERT_EQ(h.Alloc(Req(ModelMaxMapping(mask), orig, mask), 0, &got), "");
        ASSERT_GE(got, 0) << "start slot " << start << " mask " << mask << " orig " << orig;
        ASSERT_EQ(h.Free(got), "");
      }
    }
    EXPECT_EQ(h.Check(), "");
  }
}

TEST(PoolFree, DoubleFreeAndNonHeadFreeAreRefused) {
  PoolHarness h;
  ASSERT_EQ(h.Init({0x80000000, 0x10000000}, 1), "");
  int other, head;
  ASSERT_EQ(h.Alloc(Req(3 * kSlot), 0, &other), "");
  ASSERT_EQ(h.Alloc(Req(5 * kSlot - 7, 0x7, 2047), 0, &head), "");
  bool freed;
  for (int slot : {head + 1, head + 4, head + 5, head + 100, head + 200}) {
    ASSERT_EQ(h.Free(slot, &freed), "");  // the harness also checks that nothing changed
    EXPECT_FALSE(freed) << "slot " << slot;
  }
  ASSERT_EQ(h.Free(head, &freed), "");
  EXPECT_TRUE(freed);
  ASSERT_EQ(h.Free(head, &freed), "");
  EXPECT_FALSE(freed);
  EXPECT_EQ(h.Check(), "");
}

TEST(PoolResolve, EdgesOfAMappingAndHolesInBusSpace) {
  constexpr dma_addr_t b = 0x10000000;
  PoolHarness h;
  ASSERT_EQ(h.Init({b, b + 3 * kSegSize}, 1), "");
  const usw_pool* pool = h.pool();
  constexpr uint64_t orig = 0x123456123;
  int head;
  ASSERT_EQ(h.Alloc(Req(5000, orig, 2047), 0, &head), "");
  ASSERT_EQ(head, 0);
  dma_addr_t start = usw_mapping_bus(pool, head);
  EXPECT_EQ(start, b + 0x123);

  usw_ref ref{};
  ASSERT_EQ(usw_pool_resolve(pool, start + 4999, 1, &ref), 0);
  EXPECT_EQ(ref.head, 0U);
  EXPECT_EQ(ref.orig, orig + 4999);
  EXPECT_EQ(ref.bounce, static_cast<char*>(pool->segs[0].vaddr) + 0x123 + 4999);
  EXPECT_EQ(usw_pool_resolve(pool, start, 5000, &ref), 0);
  EXPECT_EQ(usw_pool_resolve(pool, start, 5001, &ref), -EINVAL);
  EXPECT_EQ(usw_pool_resolve(pool, start + 5000, 1, &ref), -EINVAL);
  EXPECT_EQ(usw_pool_resolve(pool, b, 1, &ref), -EINVAL);  // head slot, before the offset
  EXPECT_EQ(usw_pool_resolve(pool, b - 1, 1, &ref), -ENOENT);
  dma_addr_t hole = b + kSegSize + 100;
  EXPECT_TRUE(usw_pool_may_contain(pool, hole));
  EXPECT_EQ(usw_pool_find_seg(pool, hole), nullptr);
  EXPECT_EQ(usw_pool_resolve(pool, hole, 1, &ref), -ENOENT);
  EXPECT_EQ(usw_pool_resolve(pool, b + 4 * kSegSize, 1, &ref), -ENOENT);
  EXPECT_EQ(h.Check(), "");
}

TEST(PoolStats, HiwaterFollowsUseAndResets) {
  PoolHarness h;
  ASSERT_EQ(h.Init({0x80000000}, 1), "");
  const usw_pool* pool = h.pool();
  int a, b;
  ASSERT_EQ(h.Alloc(Req(3 * kSlot), 0, &a), "");
  ASSERT_EQ(h.Alloc(Req(5 * kSlot), 0, &b), "");
  ASSERT_EQ(h.Free(b), "");
  EXPECT_EQ(usw_pool_used(pool), 3u);
  EXPECT_EQ(usw_pool_hiwater(pool), 8u);
  h.ResetHiwater();
  EXPECT_EQ(usw_pool_hiwater(pool), 3u);
  ASSERT_EQ(h.Alloc(Req(1), 0, &b), "");
  EXPECT_EQ(usw_pool_hiwater(pool), 4u);
  EXPECT_EQ(h.Check(), "");
}

// Threads map, fill, verify and unmap in a pool small enough to run out. Overlapping mappings
// or lost slot updates show up as clobbered patterns, failed frees or leftover use.
TEST(PoolConcurrency, ThreadsMapFillVerifyAndUnmap) {
  constexpr unsigned kThreads = 4, kIters = 3000, kMaxLive = 12;
  PoolHarness h;
  ASSERT_EQ(h.Init({0x7000000, 0x3000800}, 2), "");
  usw_pool* pool = h.pool();
  std::atomic<long> errors{0}, mapped{0}, max_used{0}, nospc{0};

  auto worker = [&](unsigned tid) {
    struct Live {
      int head;
      dma_addr_t bus;
      size_t size;
      unsigned char tag;
    };
    std::mt19937_64 rng(1000 + tid);
    std::vector<Live> live;
    std::vector<unsigned char> expect(32 * kSlot);
    auto unmap = [&](size_t i) {
      usw_ref ref;
      const Live& m = live[i];
      if (usw_pool_resolve(pool, m.bus, m.size, &ref) || ref.head != unsigned(m.head)) {
        errors++;
      } else {
        std::memset(expect.data(), m.tag, m.size);
        if (memcmp(ref.bounce, expect.data(), m.size)) errors++;
      }
      if (!usw_pool_free(pool, m.head)) errors++;
      live[i] = live.back();
      live.pop_back();
    };
    for (unsigned it = 0; it < kIters; it++) {
      if (live.size() < kMaxLive && (live.empty() || rng() % 2)) {
        uint64_t orig = rng() & 0xffffffffff;
        usw_req req = Req(1 + rng() % (32 * kSlot), orig, rng() % 2 ? 4095 : 0);
        int head = usw_pool_alloc(pool, &req, rng() % 4 ? tid : unsigned(rng()));
        if (head == -ENOSPC) {
          nospc++;
          continue;
        }
        if (head < 0) {
          errors++;
          continue;
        }
        mapped++;
        long used = usw_pool_used(pool);
        for (long m = max_used; used > m && !max_used.compare_exchange_weak(m, used);) {
        }
        dma_addr_t bus = usw_mapping_bus(pool, head);
        if ((bus ^ orig) & req.min_align_mask) errors++;
        unsigned char tag = tid * 64 + it % 64;
        std::memset(static_cast<char*>(usw_slot_vaddr(pool, head)) + (bus & (kSlot - 1)), tag,
                    req.size);
        live.push_back({head, bus, req.size, tag});
      } else {
        unmap(rng() % live.size());
      }
    }
    while (!live.empty()) unmap(0);
  };

  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; t++) threads.emplace_back(worker, t);
  for (auto& t : threads) t.join();

  EXPECT_EQ(errors, 0);
  EXPECT_GT(mapped, kThreads * kIters / 4);
  EXPECT_GT(nospc, 0);
  EXPECT_EQ(usw_pool_used(pool), 0u);
  EXPECT_GE(usw_pool_hiwater(pool), static_cast<unsigned long>(max_used.load()));
  EXPECT_LE(usw_pool_hiwater(pool), pool->nslots);
  h.ResetHiwater();  // the model saw none of the threads' traffic
  EXPECT_EQ(h.Check(), "");  // every free run restored, every area empty
}

// usw_pool_max_mapping() wraps around for a min_align_mask past USW_SEG_SIZE: it returns
// nearly SIZE_MAX where nothing at all can be promised.
TEST(PoolRegression, MaxMappingNeverExceedsASegment) {
  for (unsigned mask : {0x3ffffU, 0x40000U, 0x40001U, 0x7ffffU, 0xfffffU, UINT_MAX})
    EXPECT_LE(usw_pool_max_mapping(mask), kSegSize) << "min_align_mask 0x" << std::hex << mask;
}

// With the bound above gone, usw_pool_alloc() accepts any size: requests that can never fit
// get -ENOSPC instead of -EINVAL, and a size whose slot count overflows gets a "mapping" of 0
// or 1 slot that the caller would then bounce terabytes through.
TEST(PoolRegression, OversizedRequestsAreInvalid) {
  struct {
    const char* what;
    usw_req req;
  } cases[] = {
      {"300 KiB, never fits", Req(300 * 1024, 0, 0x7ffff)},
      {"slot count wraps to 0", Req(SIZE_MAX - (kSlot - 1), 0x7ff, 0x407ff)},
      {"slot count truncates to 1", Req((1ULL << 43) + 1, 0x100000, UINT_MAX)},
  };
  for (const auto& c : cases) {
    PoolHarness h;
    ASSERT_EQ(h.Init({0x100000}, 1), "");
    int got;
    EXPECT_EQ(h.Alloc(c.req, 0, &got), "") << c.what;
    EXPECT_EQ(got, -EINVAL) << c.what;
    EXPECT_EQ(h.Check(), "") << c.what;
  }
}

// A driver maps a request as a scatterlist, one mapping per entry, all or nothing (NVMe's
// largest request is the largest mapping: with a 256 KiB pool it fills the pool). A next-fit
// cursor left in the middle of an empty area split the entries across the wrap, leaving the
// tail too short for the entry there, so the request failed in an empty pool; the driver
// retried forever from the same cursor. An empty area must place from its start.
TEST(PoolRegression, AnEmptyAreaPlacesAScatterlistThatFillsIt) {
  // Entries of 2 to 32 slots in an order that leaves a tail gap from most cursors: 128 slots.
  const unsigned entries[] = {16, 2, 32, 2, 16, 6, 8, 2, 32, 4, 8};
  for (unsigned c = 0; c < kSegSlots; c++) {
    PoolHarness h;
    ASSERT_EQ(h.Init({0x80000000}, 1), "");
    // Some history that ends with everything freed, the cursor moved by it.
    int a = -1, b = -1;
    if (c) {
      ASSERT_EQ(h.Alloc(Req(c * kSlot), 0, &a), "");
    }
    ASSERT_EQ(h.Alloc(Req(kSlot), 0, &b), "");
    if (c) {
      ASSERT_EQ(h.Free(a), "");
    }
    ASSERT_EQ(h.Free(b), "");

    std::vector<int> heads;
    uint64_t orig = 0x10000000;
    for (unsigned n : entries) {
      int got;
      ASSERT_EQ(h.Alloc(Req(n * kSlot, orig, 4095), 0, &got), "");
      ASSERT_GE(got, 0) << "entry of " << n << " slots after " << heads.size()
                        << " entries, history of " << c << " slots";
      heads.push_back(got);
      orig += n * kSlot;
    }
    for (int head : heads) ASSERT_EQ(h.Free(head), "");
    EXPECT_EQ(h.Check(), "");
  }
}

usw_pool* racing_pool;
int racing_head;
unsigned long racing_used;

// usw_pool_free() once lowered a pool-wide count only after it unlocked the area, so an
// allocation that took the freed slots in between was counted first: used, and so hiwater,
// overshot the pool's size. The shim's unlock hook runs that allocation at exactly that point.
TEST(PoolRegression, UsedNeverExceedsThePoolWhenAllocRacesFree) {
  PoolHarness h;
  ASSERT_EQ(h.Init({0x80000000}, 1), "");
  usw_pool* pool = h.pool();
  usw_req whole = Req(kSegSize);
  int first = usw_pool_alloc(pool, &whole, 0);
  ASSERT_EQ(first, 0);

  racing_pool = pool;
  racing_head = -1;
  shim_after_unlock = [](spinlock_t*) {
    shim_after_unlock = nullptr;  // once: not again for the allocation's own unlock
    usw_req whole = Req(kSegSize);
    racing_head = usw_pool_alloc(racing_pool, &whole, 0);
    racing_used = usw_pool_used(racing_pool);
  };
  bool freed = usw_pool_free(pool, first);
  shim_after_unlock = nullptr;
  ASSERT_TRUE(freed);
  ASSERT_EQ(racing_head, 0) << "the hook did not run between unlock and return";

  EXPECT_LE(racing_used, pool->nslots);
  EXPECT_LE(usw_pool_hiwater(pool), pool->nslots);
  EXPECT_TRUE(usw_pool_free(pool, racing_head));
  EXPECT_EQ(usw_pool_used(pool), 0u);
}

}  // namespace
}  // namespace usw_test
