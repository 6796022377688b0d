// SPDX-License-Identifier: GPL-2.0
//
// Host tests of src/pool.c, built against the userspace shim in shim/include. Randomized runs
// use fixed seeds, shown in the test names; USW_SEED=n reruns them with seed n instead.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
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
#include <linux/rcupdate.h>
#include <linux/slab.h>
}

namespace usw_test {
namespace {

constexpr uint64_t kSeg128 = SegSize(kShiftMin);  // 256 KiB
constexpr uint64_t kSeg1024 = SegSize(kShiftMax);  // 2 MiB
constexpr unsigned kSlots128 = SegSlots(kShiftMin);

// Bus addresses for nsegs segments: slot aligned only, bus order shuffled against id order,
// random holes and some bus-contiguous neighbours, straddling 4 GiB so that a 32-bit boundary
// mask bites.
std::vector<dma_addr_t> ScatteredBus(std::mt19937_64& rng, unsigned nsegs,
                                     unsigned seg_shift = kShiftMin) {
  uint64_t seg = SegSize(seg_shift);
  std::vector<unsigned> order(nsegs);
  for (unsigned i = 0; i < nsegs; i++) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<dma_addr_t> bus(nsegs);
  dma_addr_t at = 0x100000000ULL - nsegs * seg / 2 - rng() % 64 * kSlot;
  for (unsigned i : order) {
    bus[i] = at;
    at += seg + (rng() % 2 ? 0 : rng() % (3 * SegSlots(seg_shift)) * kSlot);
  }
  return bus;
}

// n bus-contiguous segments from base.
std::vector<dma_addr_t> Contiguous(dma_addr_t base, unsigned n, unsigned seg_shift = kShiftMin) {
  std::vector<dma_addr_t> bus;
  for (unsigned i = 0; i < n; i++) bus.push_back(base + i * SegSize(seg_shift));
  return bus;
}

usw_req Req(size_t size, uint64_t orig = 0, unsigned min_align = 0, unsigned alloc_align = 0,
            unsigned long boundary = ULONG_MAX) {
  return usw_req{orig, size, min_align, alloc_align, boundary};
}

usw_req RandomReq(std::mt19937_64& rng, unsigned seg_shift) {
  static constexpr unsigned kMinAlign[] = {0, 2047, 4095, 0xffff};
  static constexpr unsigned long kBoundary[] = {ULONG_MAX, ULONG_MAX, 0xffffffff, 0x1ffff,
                                                0xffff};
  usw_req req = Req(0, rng() & ((1ULL << 46) - 1), kMinAlign[rng() % 4],
                    rng() % 4 ? 0 : 4095, kBoundary[rng() % 5]);
  unsigned r = rng() % 100;
  size_t max = ModelMaxMapping(seg_shift, req.min_align_mask);
  if (r < 40)
    req.size = 1 + rng() % 4096;
  else if (r < 70)
    req.size = 1 + rng() % 65536;
  else if (r < 88)
    req.size = 1 + rng() % SegSize(seg_shift);
  else if (r < 95)
    req.size = max - 1 + rng() % 3;
  else if (r < 98)
    req.size = (1 + rng() % SegSlots(seg_shift)) * kSlot;
  return req;  // else size 0
}

struct Shape {
  const char* name;
  unsigned seg_shift;
  unsigned nsegs;  // at the start
  unsigned max_segs;
  unsigned nareas;
  int steps;
  bool resize;  // segments come and go during the run
};

void PrintTo(const Shape& s, std::ostream* os) { *os << s.name; }

constexpr Shape kShapes[] = {
    {"one_seg", 7, 1, 1, 1, 2000, false},
    {"scattered8", 7, 8, 8, 1, 1500, false},
    {"areas4x16", 7, 16, 16, 4, 1000, false},
    {"uneven8x12", 7, 12, 12, 8, 1000, false},
    {"big32x256", 7, 256, 256, 32, 120, false},
    {"seg2m_one", 10, 1, 1, 1, 1000, false},
    {"seg2m_4x5", 10, 5, 5, 4, 400, false},
    {"resize256k_2x12", 7, 6, 12, 2, 4000, true},
    {"resize1m_4x8", 9, 4, 8, 4, 2000, true},
    {"resize2m_2x4", 10, 2, 4, 2, 1000, true},
};

std::vector<uint64_t> Seeds() {
  if (const char* env = std::getenv("USW_SEED")) return {std::strtoull(env, nullptr, 0)};
  return {1, 2, 3};
}

// Segments to add during a run: mostly in free bus space near 4 GiB, some overlapping what is
// there or misaligned, which the pool must refuse whole.
std::vector<dma_addr_t> RandomAdd(std::mt19937_64& rng, const PoolHarness& h) {
  std::vector<dma_addr_t> bus(1 + rng() % 3 / 2);
  for (auto& b : bus) {
    b = 0x100000000ULL + (rng() % 24) * h.seg_size() - 12 * h.seg_size();
    if (rng() % 3 == 0) b += rng() % h.seg_slots() * kSlot;
    if (rng() % 32 == 0) b += kSlot / 2;
  }
  return bus;
}

class RandomOps : public testing::TestWithParam<std::tuple<Shape, uint64_t>> {};

TEST_P(RandomOps, MatchesModel) {
  const auto& [shape, seed] = GetParam();
  std::printf("shape %s, seed %llu\n", shape.name, static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  PoolHarness h;
  ASSERT_EQ(h.Init(ScatteredBus(rng, shape.nsegs, shape.seg_shift), shape.nareas,
                   shape.seg_shift, shape.max_segs),
            "");
  const usw_pool* pool = h.pool();
  long nospc = 0, added = 0, retired = 0, reaped = 0;

  for (int step = 0; step < shape.steps; step++) {
    unsigned op = rng() % 100;
    std::string err;
    if (shape.resize && op >= 90) {
      // Resizes: more adds than removals, so that the pool is rarely empty.
      unsigned live = h.SegIds(true).size(), n;
      if (op < 94) {
        int got;
        err = h.Add(RandomAdd(rng, h), &got);
        added += !got;
      } else if (op < 96) {
        err = h.Retire(live ? live - 1 - rng() % std::min(live, 2U) : 0, &n);
        retired += n;
      } else if (op < 97) {
        err = h.RetireIdle(rng() % (live + 1), &n);
        retired += n;
      } else {
        err = h.Reap(rng() % 2 ? UINT_MAX : 1 + rng() % 2, &n);
        reaped += n;
      }
    } else if (op < 50) {
      int got;
      err = h.Alloc(RandomReq(rng, shape.seg_shift), rng(), &got);
      nospc += got == -ENOSPC;
    } else if (op < 82 && !h.mappings().empty()) {
      auto it = h.mappings().begin();
      std::advance(it, rng() % h.mappings().size());
      err = h.Free(it->first);
    } else if (op < 86) {
      // Mostly not a head, or not a segment: must be refused harmlessly.
      err = h.Free(rng() % (shape.max_segs << shape.seg_shift));
    } else if (op < 89) {
      dma_addr_t lo = 0x100000000ULL - 16 * h.seg_size();
      err = h.Resolve(lo + rng() % (32 * h.seg_size()), 1 + rng() % (4 * kSlot));
    } else {
      h.ResetHiwater();
    }
    ASSERT_EQ(err, "") << "step " << step;
    ASSERT_EQ(h.Check(), "") << "after step " << step;
  }
  while (!h.mappings().empty()) ASSERT_EQ(h.Free(h.mappings().begin()->first), "");
  ASSERT_EQ(h.Check(), "");
  EXPECT_EQ(usw_pool_used(pool), 0u);
  // Small pools must run full now and then, or exhaustion went untested.
  if (shape.max_segs <= 16) {
    EXPECT_GT(nospc, 0);
  }
  std::printf("%ld full, %ld adds, %ld retired, %ld reaped\n", nospc, added, retired,
              reaped);
  if (shape.resize) {
    EXPECT_GT(added, 0);
    EXPECT_GT(retired, 0);
    EXPECT_GT(reaped, 0);
  }
  // Then everything goes back.
  ASSERT_EQ(h.Retire(0), "");
  ASSERT_EQ(h.Reap(), "");
  EXPECT_EQ(pool->nsegs, 0u);
  EXPECT_EQ(h.Check(), "");
}

INSTANTIATE_TEST_SUITE_P(Shapes, RandomOps,
                         testing::Combine(testing::ValuesIn(kShapes), testing::ValuesIn(Seeds())),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param).name) + "_seed" +
                                  std::to_string(std::get<1>(info.param));
                         });

TEST(PoolInit, RejectsBadShapes) {
  struct {
    unsigned seg_shift, max_segs;
  } cases[] = {{kShiftMin - 1, 1}, {kShiftMax + 1, 1}, {0, 1}, {kShiftMin, 0},
               // Slot numbers must fit in the int usw_pool_alloc() returns.
               {kShiftMin, (INT_MAX >> kShiftMin) + 1}, {kShiftMax, (INT_MAX >> kShiftMax) + 1},
               {kShiftMin, UINT_MAX}};
  for (const auto& c : cases) {
    usw_pool p{};
    EXPECT_EQ(usw_pool_init(&p, c.seg_shift, c.max_segs, 1), -EINVAL)
        << "seg_shift " << c.seg_shift << ", max_segs " << c.max_segs;
    EXPECT_EQ(p.segs, nullptr);
    EXPECT_EQ(p.areas, nullptr);
  }
  // The largest pool whose last slot number is still an int.
  usw_pool p{};
  ASSERT_EQ(usw_pool_init(&p, kShiftMax, INT_MAX >> kShiftMax, 4), 0);
  EXPECT_EQ(p.nsegs, 0u);
  EXPECT_EQ(usw_pool_nslots(&p), 0u);
  usw_pool_destroy(&p);
}

TEST(PoolInit, AreaCountIsAPowerOfTwoAtMostMaxSegs) {
  struct {
    unsigned max_segs, nareas, want;
  } cases[] = {{1, 0, 1}, {1, 4, 1}, {3, 3, 2}, {6, 5, 4}, {12, 8, 8}, {64, 1000, 64},
               {5, UINT_MAX, 4}};
  for (const auto& c : cases) {
    PoolHarness h;
    ASSERT_EQ(h.InitEmpty(kShiftMin, c.max_segs, c.nareas), "");  // checks the count
    EXPECT_EQ(h.pool()->nareas, c.want) << c.max_segs << " segments, " << c.nareas << " areas";
    ASSERT_EQ(h.Add(Contiguous(0x1000000, c.max_segs)), "");
    EXPECT_EQ(h.Check(), "");
  }
}

// Fails each allocation of usw_pool_init() in turn; LeakSanitizer checks that nothing leaks.
TEST(PoolInit, AllocationFailureCleansUp) {
  unsigned failures = 0;
  for (unsigned k = 1; k < 10; k++) {
    usw_pool p{};
    shim_fail_alloc_nth = k;
    int err = usw_pool_init(&p, kShiftMin, 4, 2);
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
    EXPECT_EQ(p.areas, nullptr);
    EXPECT_EQ(p.nsegs, 0U);
  }
  EXPECT_GE(failures, 4U);  // the segment table, the areas and each area's list
}

// What usw_pool_add() says to segments at these bus addresses in a new pool with room for
// them; the harness checks that a refusal adds nothing.
int AddTo(const std::vector<dma_addr_t>& bus, unsigned seg_shift = kShiftMin) {
  PoolHarness h;
  if (!h.InitEmpty(seg_shift, bus.size(), 1).empty()) return INT_MIN;
  int got;
  std::string err = h.Add(bus, &got);
  if (err.empty()) err = h.Check();
  if (!err.empty()) ADD_FAILURE() << err;
  return got;
}

TEST(PoolAdd, RejectsMisalignedOverlappingAndWrappingSegments) {
  constexpr dma_addr_t b = 0x40000000;
  for (unsigned shift : {kShiftMin, kShiftMax}) {
    uint64_t seg = SegSize(shift);
    SCOPED_TRACE(shift);
    EXPECT_EQ(AddTo({b + kSlot / 2}, shift), -EINVAL);
    EXPECT_EQ(AddTo({b, b + 1}, shift), -EINVAL);
    EXPECT_EQ(AddTo({b, b}, shift), -EINVAL);
    EXPECT_EQ(AddTo({b, b + seg - kSlot}, shift), -EINVAL);
    EXPECT_EQ(AddTo({b + seg - kSlot, b}, shift), -EINVAL);
    EXPECT_EQ(AddTo({b, b + 4 * seg, b + 3 * seg + kSlot}, shift), -EINVAL);
    EXPECT_EQ(AddTo({dma_addr_t{0} - seg + kSlot}, shift), -EINVAL);
    // Ends exactly at 2^64: its end is not representable in bus_hi.
    EXPECT_EQ(AddTo({dma_addr_t{0} - seg}, shift), -EINVAL);
  }
}

TEST(PoolAdd, AcceptsTouchingSegmentsInAnyOrder) {
  constexpr dma_addr_t b = 0x40000000;
  for (unsigned shift : {kShiftMin, kShiftMax}) {
    uint64_t seg = SegSize(shift);
    SCOPED_TRACE(shift);
    EXPECT_EQ(AddTo({b, b + seg}, shift), 0);
    EXPECT_EQ(AddTo({b + seg, b}, shift), 0);
    EXPECT_EQ(AddTo({b + 2 * seg + 3 * kSlot, b + 3 * kSlot, b + seg + 3 * kSlot}, shift), 0);
    EXPECT_EQ(AddTo({0}, shift), 0);
    EXPECT_EQ(AddTo({dma_addr_t{0} - 2 * seg}, shift), 0);
  }
}

// Present segments take bus space until they are reaped, retiring ones too; a refused add
// adds none of its segments, the valid ones included.
TEST(PoolAdd, RejectsOverlapWithPresentAndRetiringSegments) {
  constexpr dma_addr_t b = 0x40000000;
  PoolHarness h;
  ASSERT_EQ(h.Init({b, b + 2 * kSeg128}, 1, kShiftMin, 6), "");
  int got;
  ASSERT_EQ(h.Add({b + 4 * kSeg128, b + kSeg128 + kSlot}), "");  // the harness expects -EINVAL
  ASSERT_EQ(h.Add({b + 4 * kSeg128, b + 2 * kSeg128 - kSlot}, &got), "");
  EXPECT_EQ(got, -EINVAL);
  ASSERT_EQ(h.Alloc(Req(kSlot), 0, &got), "");
  ASSERT_EQ(got, 0);
  ASSERT_EQ(h.Retire(0), "");  // both retire, segment 0 busy
  ASSERT_EQ(h.Add({b + kSeg128 / 2}, &got), "");
  EXPECT_EQ(got, -EINVAL);
  ASSERT_EQ(h.Add({b + 2 * kSeg128}, &got), "");
  EXPECT_EQ(got, -EINVAL);
  ASSERT_EQ(h.Reap(), "");  // segment 1 only
  ASSERT_EQ(h.Add({b + 2 * kSeg128}, &got), "");
  EXPECT_EQ(got, 0);
  ASSERT_EQ(h.Add({b + kSlot}, &got), "");
  EXPECT_EQ(got, -EINVAL);
  EXPECT_EQ(h.Check(), "");
}

// max_segs counts every present segment, retiring ones included, until they are reaped.
TEST(PoolAdd, NoSpaceBeyondMaxSegs) {
  PoolHarness h;
  ASSERT_EQ(h.InitEmpty(kShiftMin, 3, 2), "");
  int got;
  ASSERT_EQ(h.Add(Contiguous(0x10000000, 2)), "");
  ASSERT_EQ(h.Add(Contiguous(0x20000000, 2), &got), "");
  EXPECT_EQ(got, -ENOSPC);
  ASSERT_EQ(h.Add(Contiguous(0x20000000, 1), &got), "");
  EXPECT_EQ(got, 0);
  ASSERT_EQ(h.Retire(2), "");
  ASSERT_EQ(h.Add(Contiguous(0x30000000, 1), &got), "");
  EXPECT_EQ(got, -ENOSPC);
  ASSERT_EQ(h.Reap(), "");
  ASSERT_EQ(h.Add(Contiguous(0x30000000, 1), &got), "");
  EXPECT_EQ(got, 0);
  ASSERT_EQ(h.Add({}, &got), "");
  EXPECT_EQ(got, 0);
  EXPECT_EQ(h.Check(), "");
}

// Fails each allocation of usw_pool_add() in turn, under live mappings: the pool must be as it
// was, and LeakSanitizer checks that nothing leaks.
TEST(PoolAdd, AllocationFailureAddsNothing) {
  unsigned failures = 0;
  for (unsigned k = 1; k < 20; k++) {
    PoolHarness h;
    ASSERT_EQ(h.Init(Contiguous(0x10000000, 2), 2, kShiftMin, 8), "");
    int head, got;
    ASSERT_EQ(h.Alloc(Req(5 * kSlot), 1, &head), "");
    shim_fail_alloc_nth = k;
    std::string err = h.Add(Contiguous(0x20000000, 3), &got);
    bool injected = shim_fail_alloc_nth == 0;
    shim_fail_alloc_nth = 0;
    ASSERT_EQ(err, "");
    ASSERT_EQ(h.Check(), "");
    if (!injected) {
      EXPECT_EQ(got, 0);
      break;
    }
    failures++;
    EXPECT_EQ(got, -ENOMEM) << "allocation " << k << " failed";
    EXPECT_EQ(h.pool()->nsegs, 2u);
  }
  EXPECT_GE(failures, 3U);  // the staging array, a segment and the new index at least
}

TEST(PoolAdd, FindSegAcrossThousandsOfSegments) {
  std::mt19937_64 rng(7);
  PoolHarness h;
  ASSERT_EQ(h.Init(ScatteredBus(rng, 4096), 64), "");  // Init checks find_seg around each
  for (unsigned a = 0; a < 64; a++) EXPECT_EQ(h.AreaIds(a).size(), 64u);
}

// One add deals its segments out round-robin: the area with the fewest, the lowest of equals.
// Later adds fill the areas that lost segments first, whatever the ids they reuse.
TEST(PoolAdd, IdsAreTheLowestFreeAndSegmentsGoToTheAreaWithFewest) {
  PoolHarness h;
  ASSERT_EQ(h.InitEmpty(kShiftMin, 8, 4), "");
  ASSERT_EQ(h.Add(Contiguous(0x10000000, 6)), "");
  using Ids = std::vector<unsigned>;
  EXPECT_EQ(h.AreaIds(0), (Ids{0, 4}));
  EXPECT_EQ(h.AreaIds(1), (Ids{1, 5}));
  EXPECT_EQ(h.AreaIds(2), (Ids{2}));
  EXPECT_EQ(h.AreaIds(3), (Ids{3}));

  // Mappings in 0, 3, 4 and 5; 1 and 2 empty.
  int fill;
  ASSERT_EQ(h.Alloc(Req(kSeg128), 0, &fill), "");
  ASSERT_EQ(h.Alloc(Req(kSlot), 0), "");
  ASSERT_EQ(h.Alloc(Req(kSeg128), 1, &fill), "");
  ASSERT_EQ(h.Alloc(Req(kSlot), 1), "");
  ASSERT_EQ(h.Free(fill), "");
  ASSERT_EQ(h.Alloc(Req(kSlot), 3), "");
  ASSERT_EQ(std::vector<unsigned>({h.SegUsed(1), h.SegUsed(2), h.SegUsed(5)}),
            (std::vector<unsigned>{0, 0, 1}));
  ASSERT_EQ(h.Retire(4), "");  // 2, then 1
  ASSERT_EQ(h.Reap(), "");
  EXPECT_EQ(h.SegIds(), (Ids{0, 3, 4, 5}));
  EXPECT_EQ(h.AreaIds(1), (Ids{5}));
  EXPECT_EQ(h.AreaIds(2), (Ids{}));

  // Ids 1 and 2 again: 1 to area 2, which has none, then 2 to area 1, the lowest with one.
  ASSERT_EQ(h.Add(Contiguous(0x20000000, 2)), "");
  EXPECT_EQ(h.SegIds(), (Ids{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(h.AreaIds(0), (Ids{0, 4}));
  EXPECT_EQ(h.AreaIds(1), (Ids{5, 2}));
  EXPECT_EQ(h.AreaIds(2), (Ids{1}));
  EXPECT_EQ(h.AreaIds(3), (Ids{3}));
  EXPECT_EQ(h.SegBus(1), 0x20000000u);
  EXPECT_EQ(h.Check(), "");
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
  ASSERT_EQ(h.Alloc(Req(kSeg128), 0, &a), "");
  EXPECT_EQ(a, 0);
  EXPECT_EQ(h.Check(), "");
}

TEST(PoolAlloc, ExhaustionReturnsNoSpaceAndRecovers) {
  PoolHarness h;
  ASSERT_EQ(h.Init({0x300000000, 0x100000000, 0x200000000, 0x180000000}, 4), "");
  int got;
  for (unsigned i = 0; i < usw_pool_nslots(h.pool()); i++) {
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
    ASSERT_EQ(h.Alloc(Req(kSeg128), hint, &got), "");
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
  for (unsigned i = 0; i < kSlots128; i++) ASSERT_EQ(h.Alloc(Req(1), 0), "");
  ASSERT_EQ(h.Free(9), "");
  ASSERT_EQ(h.Alloc(Req(1), 0, &got), "");
  ASSERT_EQ(got, 9);
  ASSERT_EQ(h.Free(9), "");
  ASSERT_EQ(h.Alloc(Req(1), 0, &got), "");
  EXPECT_EQ(got, 9);
  EXPECT_EQ(h.Check(), "");
}

// An area's slots run along its list of segments, not along slot numbers: the next fit goes
// on from the end of one listed segment to the start of the next, whatever their ids.
TEST(PoolAlloc, NextFitFollowsTheAreasList) {
  PoolHarness h;
  ASSERT_EQ(h.Init(Contiguous(0x80000000, 3), 1), "");
  // One slot in use in segments 1 and 2, none in 0.
  int a, b, g, d, got;
  ASSERT_EQ(h.Alloc(Req(kSeg128), 0, &a), "");
  ASSERT_EQ(h.Alloc(Req(kSlot), 0, &b), "");
  ASSERT_EQ(h.Alloc(Req(127 * kSlot), 0, &g), "");
  ASSERT_EQ(h.Alloc(Req(kSlot), 0, &d), "");
  ASSERT_EQ(std::tuple(a, b, g, d), std::tuple(0, 128, 129, 256));
  ASSERT_EQ(h.Free(g), "");
  ASSERT_EQ(h.Free(a), "");
  // Retiring 0 moves the list's last segment, 2, into its place: the area runs 2, then 1.
  ASSERT_EQ(h.Retire(2), "");
  ASSERT_EQ(h.AreaIds(0), (std::vector<unsigned>{2, 1}));
  ASSERT_EQ(h.Alloc(Req(kSlot), 0, &got), "");
  EXPECT_EQ(got, 257);
  ASSERT_EQ(h.Alloc(Req(126 * kSlot), 0, &got), "");  // the rest of 2
  EXPECT_EQ(got, 258);
  ASSERT_EQ(h.Alloc(Req(kSlot), 0, &got), "");  // on into 1, past b
  EXPECT_EQ(got, 129);
  EXPECT_EQ(h.Check(), "");
}

TEST(PoolAlloc, InvalidSizes) {
  for (unsigned shift : {kShiftMin, kShiftMax}) {
    PoolHarness h;
    ASSERT_EQ(h.Init({0x80000000}, 1, shift), "");
    for (unsigned mask : {0U, 2047U, 4095U, 0xffffU}) {
      EXPECT_EQ(usw_pool_max_mapping(h.pool(), mask), ModelMaxMapping(shift, mask))
          << "mask " << mask;
      int got;
      ASSERT_EQ(h.Alloc(Req(0, 0x12345, mask), 0, &got), "");
      EXPECT_EQ(got, -EINVAL);
      ASSERT_EQ(h.Alloc(Req(ModelMaxMapping(shift, mask) + 1, 0x12345, mask), 0, &got), "");
      EXPECT_EQ(got, -EINVAL);
    }
    EXPECT_EQ(h.Check(), "");
  }
}

// An empty pool holds nothing, however small the request: -ENOSPC, not a crash.
TEST(PoolAlloc, EmptyPoolHasNoSpace) {
  PoolHarness h;
  ASSERT_EQ(h.InitEmpty(kShiftMin, 4, 4), "");
  int got;
  for (unsigned hint : {0U, 3U, UINT_MAX}) {
    ASSERT_EQ(h.Alloc(Req(1), hint, &got), "");
    EXPECT_EQ(got, -ENOSPC);
  }
  usw_ref ref;
  rcu_read_lock();
  EXPECT_FALSE(usw_pool_may_contain(h.pool(), 0));
  EXPECT_EQ(usw_pool_find_seg(h.pool(), 0), nullptr);
  EXPECT_EQ(usw_pool_resolve(h.pool(), 0x80000000, 1, &ref), -ENOENT);
  rcu_read_unlock();
  EXPECT_FALSE(usw_pool_free(h.pool(), 0));
  EXPECT_EQ(h.Check(), "");
}

// usw_pool_max_mapping() promises a size that an empty pool can always place, whatever the
// segment's position in bus space and the original's address.
TEST(PoolAlloc, MaxMappingAlwaysFitsAnEmptySegment) {
  for (unsigned shift : {kShiftMin, kShiftMax}) {
    unsigned last = SegSlots(shift) - 1;
    for (unsigned start : {0U, 1U, 5U, 31U, 32U, 63U, last / 2, last}) {
      PoolHarness h;
      ASSERT_EQ(h.Init({0x40000000 + start * kSlot}, 1, shift), "");
      for (unsigned mask : {0U, 0x7ffU, 0xfffU, 0x1fffU, 0xffffU, 0x1ffffU, 0x3f7ffU, 0xfffffU,
                            0x1ff7ffU}) {
        if (!ModelMaxMapping(shift, mask)) continue;
        for (uint64_t orig : {0x0ULL, 0x7ffULL, 0x800ULL, 0x1ffffULL, 0x3f801ULL, 0xabcdefULL}) {
          int got;
          ASSERT_EQ(h.Alloc(Req(ModelMaxMapping(shift, mask), orig, mask), 0, &got), "");
          ASSERT_GE(got, 0) << "seg_shift " << shift << " start slot " << start << " mask "
                            << mask << " orig " << orig;
          ASSERT_EQ(h.Free(got), "");
        }
      }
      EXPECT_EQ(h.Check(), "");
    }
  }
}

// 2 MiB segments: a 2 MiB mapping with no alignment to keep fills one, and alignment costs
// whole slots of it.
TEST(PoolSeg2M, AWholeSegmentMappingFitsAnEmptySegment) {
  PoolHarness h;
  ASSERT_EQ(h.Init({0x7fe00000 + 3 * kSlot, 0x40000000}, 1, kShiftMax), "");
  const usw_pool* pool = h.pool();
  EXPECT_EQ(usw_pool_nslots(pool), 2048u);
  for (unsigned mask : {0U, 1U, 0x7ffU, 0x800U, 0xfffU, 0xffffU, 0xfffffU, 0x1ff800U})
    EXPECT_EQ(usw_pool_max_mapping(pool, mask),
              kSeg1024 - ((uint64_t{mask} + kSlot - 1) & ~(kSlot - 1)))
        << "min_align_mask 0x" << std::hex << mask;
  for (unsigned mask : {0x1ff801U, 0x1fffffU, 0x200000U, UINT_MAX})
    EXPECT_EQ(usw_pool_max_mapping(pool, mask), 0u) << "min_align_mask 0x" << std::hex << mask;

  int a, b, got;
  ASSERT_EQ(h.Alloc(Req(kSeg1024, 0x12345678), 0, &a), "");
  ASSERT_EQ(h.Alloc(Req(kSeg1024, 0x12345678), 0, &b), "");
  EXPECT_EQ(std::tuple(a, b), std::tuple(0, 1024));
  EXPECT_EQ(usw_pool_used(pool), 2048u);
  EXPECT_EQ(usw_slot(pool, b)->size, kSeg1024);
  ASSERT_EQ(h.Alloc(Req(1), 0, &got), "");
  EXPECT_EQ(got, -ENOSPC);
  ASSERT_EQ(h.Alloc(Req(kSeg1024 + 1), 0, &got), "");
  EXPECT_EQ(got, -EINVAL);
  ASSERT_EQ(h.Free(a), "");
  // The largest with a 64 KiB mask: 2 MiB - 64 KiB, placed at the matching offset.
  ASSERT_EQ(h.Alloc(Req(kSeg1024 - 0x10000, 0xabcdef, 0xffff), 0, &got), "");
  ASSERT_GE(got, 0);
  EXPECT_EQ(usw_mapping_bus(pool, got) & 0xffff, 0xcdefu);
  EXPECT_EQ(h.Check(), "");
}

TEST(PoolFree, DoubleFreeAndNonHeadFreeAreRefused) {
  PoolHarness h;
  ASSERT_EQ(h.Init({0x80000000, 0x10000000}, 1, kShiftMin, 3), "");
  int other, head;
  ASSERT_EQ(h.Alloc(Req(3 * kSlot), 0, &other), "");
  ASSERT_EQ(h.Alloc(Req(5 * kSlot - 7, 0x7, 2047), 0, &head), "");
  bool freed;
  // Inside it, past it, in the other segment, in the empty id 2, and past max_segs.
  for (int slot : {head + 1, head + 4, head + 5, head + 100, head + 200, head + 256, 3 << 7,
                   INT_MAX}) {
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
  ASSERT_EQ(h.Init({b, b + 3 * kSeg128}, 1), "");
  const usw_pool* pool = h.pool();
  constexpr uint64_t orig = 0x123456123;
  int head;
  ASSERT_EQ(h.Alloc(Req(5000, orig, 2047), 0, &head), "");
  ASSERT_EQ(head, 0);
  dma_addr_t start = usw_mapping_bus(pool, head);
  EXPECT_EQ(start, b + 0x123);

  usw_ref ref{};
  rcu_read_lock();
  ASSERT_EQ(usw_pool_resolve(pool, start + 4999, 1, &ref), 0);
  EXPECT_EQ(ref.head, 0U);
  EXPECT_EQ(ref.orig, orig + 4999);
  EXPECT_EQ(ref.bounce, static_cast<char*>(pool->segs[0]->vaddr) + 0x123 + 4999);
  EXPECT_EQ(usw_pool_resolve(pool, start, 5000, &ref), 0);
  EXPECT_EQ(usw_pool_resolve(pool, start, 5001, &ref), -EINVAL);
  EXPECT_EQ(usw_pool_resolve(pool, start + 5000, 1, &ref), -EINVAL);
  EXPECT_EQ(usw_pool_resolve(pool, b, 1, &ref), -EINVAL);  // head slot, before the offset
  EXPECT_EQ(usw_pool_resolve(pool, b - 1, 1, &ref), -ENOENT);
  dma_addr_t hole = b + kSeg128 + 100;
  EXPECT_TRUE(usw_pool_may_contain(pool, hole));
  EXPECT_EQ(usw_pool_find_seg(pool, hole), nullptr);
  EXPECT_EQ(usw_pool_resolve(pool, hole, 1, &ref), -ENOENT);
  EXPECT_EQ(usw_pool_resolve(pool, b + 4 * kSeg128, 1, &ref), -ENOENT);
  rcu_read_unlock();
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

// Mappings in retiring segments count in used and hiwater until they are unmapped; a reap
// changes neither.
TEST(PoolStats, UseCountsRetiringSegmentsUntilUnmapped) {
  PoolHarness h;
  ASSERT_EQ(h.Init(Contiguous(0x80000000, 2), 1, kShiftMin, 2), "");
  const usw_pool* pool = h.pool();
  int a, b;
  ASSERT_EQ(h.Alloc(Req(7 * kSlot), 0, &a), "");
  ASSERT_EQ(h.Alloc(Req(kSeg128), 0, &b), "");
  ASSERT_EQ(std::tuple(a, b), std::tuple(0, 128));
  ASSERT_EQ(h.Retire(1), "");  // segment 0, the less used
  ASSERT_TRUE(h.SegRetiring(0));
  EXPECT_EQ(usw_pool_used(pool), 135u);
  EXPECT_EQ(usw_pool_nslots(pool), 128u);
  ASSERT_EQ(h.Reap(), "");  // nothing: segment 0 is busy
  EXPECT_EQ(pool->nsegs, 2u);
  ASSERT_EQ(h.Free(a), "");
  EXPECT_EQ(usw_pool_used(pool), 128u);
  EXPECT_EQ(usw_pool_hiwater(pool), 135u);
  ASSERT_EQ(h.Reap(), "");
  EXPECT_EQ(pool->nsegs, 1u);
  EXPECT_EQ(usw_pool_hiwater(pool), 135u);
  EXPECT_EQ(h.Check(), "");
}

// The pool grows while full, every mapping in place: the old ones stay where they are with
// their data, and the new room is used at once.
TEST(PoolResize, GrowUnderLiveMappings) {
  for (unsigned shift : {kShiftMin, kShiftMax}) {
    SCOPED_TRACE(shift);
    PoolHarness h;
    uint64_t seg = SegSize(shift);
    ASSERT_EQ(h.Init({0x200000000, 0x100000000}, 2, shift, 8), "");
    std::mt19937_64 rng(shift);
    int got = 0;
    while (got >= 0) {
      usw_req req = Req(1 + rng() % (seg / 4), rng() & 0xffffffffff, rng() % 2 ? 0 : 0xfff);
      ASSERT_EQ(h.Alloc(req, rng(), &got), "");
    }
    do {  // the scraps
      ASSERT_EQ(h.Alloc(Req(1 + rng() % kSlot), rng(), &got), "");
    } while (got >= 0);
    size_t before = h.mappings().size();

    ASSERT_EQ(h.Add({0x180000000, 0x80000000, 0x300000000}), "");
    ASSERT_EQ(h.Check(), "");  // every old mapping unmoved, its data intact
    for (int i = 0; i < 3; i++) {
      ASSERT_EQ(h.Alloc(Req(seg), i, &got), "");
      ASSERT_GE(got, 0);
      EXPECT_GE(unsigned(got) >> shift, 2u) << "placed in a new segment";
    }
    ASSERT_EQ(h.Alloc(Req(seg), 0, &got), "");
    EXPECT_EQ(got, -ENOSPC);
    EXPECT_EQ(h.mappings().size(), before + 3);
    EXPECT_EQ(h.Check(), "");
  }
}

// Shrinking takes the least used segments out of placement at once; their mappings live on,
// and each segment goes back as soon as its last one is unmapped.
TEST(PoolResize, ShrinkWithBusySegments) {
  PoolHarness h;
  ASSERT_EQ(h.Init({0x300000000, 0x100000000, 0x200000000, 0x180000000}, 1), "");
  const usw_pool* pool = h.pool();
  // Slots in use per segment: 5, 2, 0, 9, placed by filling the gaps and freeing the fillers.
  int a, b, c, f1, f2, f3, got;
  ASSERT_EQ(h.Alloc(Req(5 * kSlot), 0, &a), "");
  ASSERT_EQ(h.Alloc(Req(123 * kSlot), 0, &f1), "");
  ASSERT_EQ(h.Alloc(Req(2 * kSlot), 0, &b), "");
  ASSERT_EQ(h.Alloc(Req(126 * kSlot), 0, &f2), "");
  ASSERT_EQ(h.Alloc(Req(kSeg128), 0, &f3), "");
  ASSERT_EQ(h.Alloc(Req(9 * kSlot), 0, &c), "");
  for (int f : {f1, f2, f3}) ASSERT_EQ(h.Free(f), "");
  ASSERT_EQ(std::tuple(a, b, c), std::tuple(0, 128, 384));
  ASSERT_EQ(std::vector<unsigned>({h.SegUsed(0), h.SegUsed(1), h.SegUsed(2), h.SegUsed(3)}),
            (std::vector<unsigned>{5, 2, 0, 9}));

  unsigned n;
  ASSERT_EQ(h.Retire(1, &n), "");
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(h.AreaIds(0), (std::vector<unsigned>{3}));
  EXPECT_EQ(usw_pool_nslots(pool), 128u);
  EXPECT_EQ(usw_pool_retire(h.pool(), 1), 0u);  // already down to one
  ASSERT_EQ(h.Check(), "");  // a and b still resolve, unmoved

  // Only segment 3 takes new mappings now.
  ASSERT_EQ(h.Alloc(Req(kSlot), 0, &got), "");
  EXPECT_EQ(unsigned(got) >> kShiftMin, 3u);
  ASSERT_EQ(h.Alloc(Req(118 * kSlot + 1), 0, &got), "");  // 118 free slots left there
  EXPECT_EQ(got, -ENOSPC);

  ASSERT_EQ(h.Reap(UINT_MAX, &n), "");
  EXPECT_EQ(n, 1u);  // segment 2, the empty one
  ASSERT_EQ(h.Free(b), "");
  ASSERT_EQ(h.Reap(UINT_MAX, &n), "");
  EXPECT_EQ(n, 1u);
  ASSERT_EQ(h.Check(), "");
  ASSERT_EQ(h.Free(a), "");
  ASSERT_EQ(h.Reap(UINT_MAX, &n), "");
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(h.SegIds(), (std::vector<unsigned>{3}));
  EXPECT_EQ(pool->nretiring, 0u);
  EXPECT_EQ(h.Check(), "");
}

// Ties in use go newest first, and a retired segment's place in its area's list is taken by
// the area's last segment.
TEST(PoolResize, RetireTakesTheLeastUsedAndTheNewestOfEquals) {
  PoolHarness h;
  ASSERT_EQ(h.Init(Contiguous(0x40000000, 6), 2), "");  // area 0: 0 2 4, area 1: 1 3 5
  // One slot in use in segments 2 and 3, none elsewhere.
  for (unsigned a : {0, 1}) {
    int got;
    ASSERT_EQ(h.Alloc(Req(kSeg128), a, &got), "");  // fills 0, then 1
    ASSERT_EQ(h.Alloc(Req(kSlot), a), "");  // so this goes to 2, then 3
    ASSERT_EQ(h.Free(got), "");
  }
  unsigned n;
  ASSERT_EQ(h.Retire(3, &n), "");  // of the empty 0 1 4 5: 5, 4, 1
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(h.SegIds(true), (std::vector<unsigned>{0, 2, 3}));
  EXPECT_EQ(h.AreaIds(0), (std::vector<unsigned>{0, 2}));
  EXPECT_EQ(h.AreaIds(1), (std::vector<unsigned>{3}));  // 3 moved into 1's place
  ASSERT_EQ(h.Retire(1, &n), "");  // 0, then of 2 and 3 (one slot each) 3
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(h.SegIds(true), (std::vector<unsigned>{2}));
  EXPECT_EQ(h.AreaIds(1), (std::vector<unsigned>{}));
  ASSERT_EQ(h.Retire(0, &n), "");
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(usw_pool_nslots(h.pool()), 0u);
  int got;
  ASSERT_EQ(h.Alloc(Req(1), 0, &got), "");
  EXPECT_EQ(got, -ENOSPC);
  EXPECT_EQ(h.Check(), "");
}

// retire_idle() takes only segments that were empty and untouched for a whole period between
// two calls, newest first, and never below keep. Being added counts as a touch.
TEST(PoolResize, RetireIdleSparesTouchedAndBusySegments) {
  PoolHarness h;
  ASSERT_EQ(h.Init(Contiguous(0x40000000, 5), 1, kShiftMin, 5), "");
  unsigned n;
  ASSERT_EQ(h.RetireIdle(0, &n), "");  // all new
  EXPECT_EQ(n, 0u);
  int a, b, c;
  ASSERT_EQ(h.Alloc(Req(kSeg128), 0, &a), "");  // segment 0: mapped and unmapped
  ASSERT_EQ(h.Alloc(Req(kSlot), 0, &b), "");    // segment 1: mapped
  ASSERT_EQ(h.Free(a), "");
  ASSERT_EQ(h.RetireIdle(3, &n), "");  // 4 and 3, not 2 (keep 3); 0 touched, 1 busy
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(h.SegIds(true), (std::vector<unsigned>{0, 1, 2}));
  ASSERT_EQ(h.RetireIdle(0, &n), "");  // 2, and 0: untouched since the last call
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(h.SegIds(true), (std::vector<unsigned>{1}));
  ASSERT_EQ(h.Free(b), "");
  ASSERT_EQ(h.Alloc(Req(kSlot), 0, &c), "");
  ASSERT_EQ(h.Free(c), "");
  ASSERT_EQ(h.RetireIdle(0, &n), "");  // 1 is empty, but was touched
  EXPECT_EQ(n, 0u);
  ASSERT_EQ(h.RetireIdle(0, &n), "");
  EXPECT_EQ(n, 1u);
  ASSERT_EQ(h.Reap(UINT_MAX, &n), "");
  EXPECT_EQ(n, 5u);
  // A segment added since the last call is not idle yet.
  ASSERT_EQ(h.Add({0x50000000}), "");
  ASSERT_EQ(h.RetireIdle(0, &n), "");
  EXPECT_EQ(n, 0u);
  ASSERT_EQ(h.RetireIdle(0, &n), "");
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(h.Check(), "");
}

// The memory of each removed segment comes back exactly as it was given, at most max of them,
// and never more than max entries are written.
TEST(PoolResize, ReapReturnsExactlyTheMemoryGiven) {
  PoolHarness h;
  std::mt19937_64 rng(5);
  ASSERT_EQ(h.Init(ScatteredBus(rng, 6), 2), "");
  ASSERT_EQ(h.Retire(1), "");
  unsigned n;
  ASSERT_EQ(h.Reap(0, &n), "");
  EXPECT_EQ(n, 0u);
  ASSERT_EQ(h.Reap(2, &n), "");  // the harness compares the memory and checks out[2]
  EXPECT_EQ(n, 2u);
  ASSERT_EQ(h.Check(), "");
  ASSERT_EQ(h.Reap(1, &n), "");
  EXPECT_EQ(n, 1u);
  ASSERT_EQ(h.Reap(UINT_MAX, &n), "");
  EXPECT_EQ(n, 2u);
  ASSERT_EQ(h.Reap(UINT_MAX, &n), "");
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(h.SegIds().size(), 1u);
  EXPECT_EQ(h.Check(), "");
}

// Fails each allocation of usw_pool_reap() in turn: the segments stay retiring, for a later
// call, and nothing leaks.
TEST(PoolResize, ReapAllocationFailureKeepsThemRetiring) {
  unsigned failures = 0;
  for (unsigned k = 1; k < 10; k++) {
    PoolHarness h;
    ASSERT_EQ(h.Init(Contiguous(0x40000000, 3), 1), "");
    ASSERT_EQ(h.Retire(1), "");
    shim_fail_alloc_nth = k;
    unsigned n;
    std::string err = h.Reap(UINT_MAX, &n);
    bool injected = shim_fail_alloc_nth == 0;
    shim_fail_alloc_nth = 0;
    ASSERT_EQ(err, "");
    ASSERT_EQ(h.Check(), "");
    if (!injected) {
      EXPECT_EQ(n, 2u);
      break;
    }
    failures++;
    EXPECT_EQ(n, 0u);
    EXPECT_EQ(h.pool()->nretiring, 2u);
    ASSERT_EQ(h.Reap(UINT_MAX, &n), "");
    EXPECT_EQ(n, 2u);
  }
  EXPECT_GE(failures, 2U);  // the flags and the new index
}

// Removed segments' ids are reused lowest first, and their bus addresses may come back with
// other memory: lookups find the new segment, slot numbers name it.
TEST(PoolResize, ReaddingReusesTheLowestFreeIds) {
  PoolHarness h;
  std::vector<dma_addr_t> bus = {0x10000000, 0x20000000, 0x30000000, 0x40000000};
  ASSERT_EQ(h.Init(bus, 2, kShiftMin, 6), "");  // area 0: 0 2, area 1: 1 3
  int a, c;
  ASSERT_EQ(h.Alloc(Req(kSeg128), 0, &a), "");
  ASSERT_EQ(h.Alloc(Req(kSlot), 0, &c), "");
  ASSERT_EQ(std::tuple(a, c), std::tuple(0, 256));
  ASSERT_EQ(h.Retire(2), "");  // the empty 3 and 1
  ASSERT_EQ(h.Reap(), "");
  ASSERT_EQ(h.SegIds(), (std::vector<unsigned>{0, 2}));

  ASSERT_EQ(h.Add({bus[3], bus[1], 0x50000000}), "");
  EXPECT_EQ(h.SegIds(), (std::vector<unsigned>{0, 1, 2, 3, 4}));
  EXPECT_EQ(h.SegBus(1), bus[3]);
  EXPECT_EQ(h.SegBus(3), bus[1]);
  EXPECT_EQ(h.AreaIds(0), (std::vector<unsigned>{0, 2, 4}));
  EXPECT_EQ(h.AreaIds(1), (std::vector<unsigned>{1, 3}));
  int got;
  ASSERT_EQ(h.Alloc(Req(3 * kSlot), 1, &got), "");
  EXPECT_EQ(got, 128);
  EXPECT_EQ(usw_mapping_bus(h.pool(), got), bus[3]);
  EXPECT_EQ(h.Check(), "");  // resolve at bus[3] gives the new memory
}

// Removed segments vanish from the lookups: find_seg() and resolve() say "not pool memory" at
// their addresses, and the bus range shrinks to what is left.
TEST(PoolResize, LookupsForgetReapedSegments) {
  PoolHarness h;
  ASSERT_EQ(h.Init({0x300000000, 0x100000000, 0x200000000}, 1), "");
  const usw_pool* pool = h.pool();
  int a;
  ASSERT_EQ(h.Alloc(Req(kSlot), 0, &a), "");  // segment 0, at the top
  ASSERT_EQ(h.Retire(1), "");  // 2, then 1: the lowest in bus space
  ASSERT_EQ(h.Reap(), "");
  EXPECT_EQ(pool->bus_lo, 0x300000000u);
  EXPECT_EQ(pool->bus_hi, 0x300000000u + kSeg128);
  usw_ref ref;
  rcu_read_lock();
  for (dma_addr_t gone : {0x100000000ULL, 0x200000000ULL + kSeg128 - 1}) {
    EXPECT_EQ(usw_pool_find_seg(pool, gone), nullptr);
    EXPECT_FALSE(usw_pool_may_contain(pool, gone));
    EXPECT_EQ(usw_pool_resolve(pool, gone, 1, &ref), -ENOENT);
  }
  EXPECT_EQ(usw_pool_resolve(pool, 0x300000000, 1, &ref), 0);
  rcu_read_unlock();
  ASSERT_EQ(h.Free(a), "");
  ASSERT_EQ(h.Retire(0), "");
  ASSERT_EQ(h.Reap(), "");
  EXPECT_FALSE(usw_pool_may_contain(pool, 0x300000000));
  EXPECT_EQ(h.Check(), "");
}

usw_pool* adding_pool;
int adding_head;
int adding_resolved;

// A segment must be in the bus index before a mapping can be placed in it: a mapping placed
// the moment usw_pool_add() hands the segment to its area must resolve at once. The shim's
// unlock hook places it at exactly that point.
TEST(PoolResize, NewSegmentsAreFindableBeforeUse) {
  PoolHarness h;
  ASSERT_EQ(h.Init({0x80000000}, 1, kShiftMin, 2), "");
  usw_pool* pool = h.pool();
  int full;
  ASSERT_EQ(h.Alloc(Req(kSeg128), 0, &full), "");

  adding_pool = pool;
  adding_head = -1;
  adding_resolved = INT_MIN;
  shim_after_unlock = [](spinlock_t*) {
    shim_after_unlock = nullptr;  // once: the first unlock is the new segment's area's
    usw_req req = Req(kSlot);
    adding_head = usw_pool_alloc(adding_pool, &req, 0);
    if (adding_head < 0) return;
    usw_ref ref;
    rcu_read_lock();
    adding_resolved = usw_pool_resolve(adding_pool, usw_mapping_bus(adding_pool, adding_head),
                                       kSlot, &ref);
    rcu_read_unlock();
  };
  usw_seg_mem mem = {h.SlotMem(0), 0x123400000, 0x40000000};  // bookkeeping only
  int err = usw_pool_add(pool, &mem, 1);
  shim_after_unlock = nullptr;
  ASSERT_EQ(err, 0);
  ASSERT_EQ(adding_head, 128) << "the hook did not run when the segment became placeable";
  EXPECT_EQ(adding_resolved, 0);
  EXPECT_TRUE(usw_pool_free(pool, adding_head));
  // The harness did not see that segment: take it out again before the pool is checked.
  EXPECT_EQ(usw_pool_retire(pool, 1), 1u);
  EXPECT_EQ(usw_pool_reap(pool, &mem, 1), 1u);
  EXPECT_EQ(mem.bus, 0x40000000u);
  h.ResetHiwater();
  EXPECT_EQ(h.Check(), "");
}

// A lookup that began before a resize may still walk the old index and hold the segment it
// found: the resize must wait for it (synchronize_rcu()) before freeing either.
TEST(PoolResize, ResizesWaitForLookupsInProgress) {
  for (bool reap : {false, true}) {
    SCOPED_TRACE(reap ? "reap" : "add");
    PoolHarness h;
    ASSERT_EQ(h.Init(Contiguous(0x40000000, 2), 1, kShiftMin, 3), "");
    if (reap) {
      ASSERT_EQ(h.Retire(1), "");
    }
    usw_pool* pool = h.pool();
    std::atomic<bool> inside{false}, leaving{false};
    std::thread reader([&] {
      rcu_read_lock();
      const usw_index* index = rcu_dereference(pool->index);
      usw_seg* seg = usw_pool_find_seg(pool, 0x40000000 + kSeg128);
      inside = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      // Freed memory here is ASan's to report.
      volatile dma_addr_t bus = seg->bus + index->nodes[0].seg->bus;
      (void)bus;
      leaving = true;
      rcu_read_unlock();
    });
    while (!inside) std::this_thread::yield();
    unsigned long gp = shim_rcu_grace_periods();
    std::string err = reap ? h.Reap() : h.Add({0x50000000});
    EXPECT_TRUE(leaving) << "returned while a lookup could still see what it freed";
    EXPECT_GT(shim_rcu_grace_periods(), gp);
    reader.join();
    ASSERT_EQ(err, "");
    EXPECT_EQ(h.Check(), "");
  }
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
      rcu_read_lock();
      if (usw_pool_resolve(pool, m.bus, m.size, &ref) || ref.head != unsigned(m.head)) {
        errors++;
      } else {
        std::memset(expect.data(), m.tag, m.size);
        if (memcmp(ref.bounce, expect.data(), m.size)) errors++;
      }
      rcu_read_unlock();
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
  EXPECT_LE(usw_pool_hiwater(pool), usw_pool_nslots(pool));
  // The model saw none of the threads' traffic: restart its peaks and touched flags.
  h.ResetHiwater();
  ASSERT_EQ(h.RetireIdle(UINT_MAX), "");
  EXPECT_EQ(h.Check(), "");  // every free run restored, every area empty
}

// Mappers map, fill, verify through resolve() and unmap while another thread grows the pool
// and shrinks it (retire, reap) over and over, as the kernel's grow and shrink work do. A
// segment reaped or moved under a live mapping shows up as a failed resolve, clobbered data
// or a refused unmap; memory must come back exactly as given. A prober looks up addresses of
// segments that come and go and holds on to what it finds for a while: a segment or index
// freed before its readers are done is ASan's to report.
TEST(PoolConcurrency, MappersWhileThePoolGrowsAndShrinks) {
  constexpr unsigned kMappers = 3, kIters = 4000, kMaxLive = 8, kChunks = 10, kCycles = 200;
  constexpr unsigned kShift = 8;  // 512 KiB segments
  constexpr uint64_t kSeg = SegSize(kShift);
  usw_pool pool{};
  ASSERT_EQ(usw_pool_init(&pool, kShift, kChunks, 4), 0);
  // Each chunk of memory has its own bus address, with holes between some, for life.
  std::vector<usw_seg_mem> chunks(kChunks);
  for (unsigned i = 0; i < kChunks; i++) {
    void* p = mmap(nullptr, kSeg, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    ASSERT_NE(p, MAP_FAILED);
    chunks[i] = {p, 0x7000000000ULL + i * 5 * kSeg, 0xf0000000ULL + i * kSeg + i / 2 * 3 * kSlot};
  }
  auto chunk_of = [&](const usw_seg_mem& m) {
    for (unsigned i = 0; i < kChunks; i++)
      if (chunks[i].bus == m.bus && chunks[i].vaddr == m.vaddr && chunks[i].phys == m.phys)
        return int(i);
    return -1;
  };
  std::vector<bool> in_pool(kChunks, false);
  ASSERT_EQ(usw_pool_add(&pool, chunks.data(), 3), 0);
  for (unsigned i = 0; i < 3; i++) in_pool[i] = true;

  std::atomic<long> errors{0}, mapped{0}, nospc{0};
  std::atomic<bool> resizing{true};
  auto mapper = [&](unsigned tid) {
    struct Live {
      int head;
      dma_addr_t bus;
      void* bounce;
      size_t size;
      unsigned char tag;
    };
    std::mt19937_64 rng(2000 + tid);
    std::vector<Live> live;
    auto verify = [&](const Live& m) {
      usw_ref ref;
      rcu_read_lock();
      if (usw_pool_resolve(&pool, m.bus, m.size, &ref) || ref.head != unsigned(m.head) ||
          ref.bounce != m.bounce) {
        errors++;
      } else {
        const unsigned char* p = static_cast<const unsigned char*>(ref.bounce);
        for (size_t k = 0; k < m.size; k += 97)
          if (p[k] != m.tag) {
            errors++;
            break;
          }
      }
      rcu_read_unlock();
    };
    // At least kIters operations, and on for as long as the pool is being resized.
    for (unsigned it = 0; it < kIters || resizing; it++) {
      unsigned op = rng() % 8;
      if (op < 4 && live.size() < kMaxLive) {
        uint64_t orig = rng() & 0xffffffffff;
        usw_req req = Req(1 + rng() % (kSeg / 4), orig, rng() % 2 ? 4095 : 0);
        int head = usw_pool_alloc(&pool, &req, tid);
        if (head < 0) {
          nospc += head == -ENOSPC;
          errors += head != -ENOSPC;
          std::this_thread::yield();
          continue;
        }
        mapped++;
        dma_addr_t bus = usw_mapping_bus(&pool, head);
        void* bounce = static_cast<char*>(usw_slot_vaddr(&pool, head)) + (bus & (kSlot - 1));
        unsigned char tag = 1 + (tid * 64 + it) % 255;
        std::memset(bounce, tag, req.size);
        live.push_back({head, bus, bounce, req.size, tag});
      } else if (op < 6 && !live.empty()) {
        verify(live[rng() % live.size()]);
      } else if (!live.empty()) {
        size_t i = rng() % live.size();
        verify(live[i]);
        if (!usw_pool_free(&pool, live[i].head)) errors++;
        live[i] = live.back();
        live.pop_back();
      }
    }
    for (const Live& m : live) {
      verify(m);
      if (!usw_pool_free(&pool, m.head)) errors++;
    }
  };

  // Resizes run serialized, in this thread only, as the kernel's resize mutex has them.
  long grows = 0, shrinks = 0, reaped = 0, busy_retiring = 0;
  std::mt19937_64 rng(3000);
  auto reap = [&] {
    usw_seg_mem out[kChunks];
    unsigned n = usw_pool_reap(&pool, out, kChunks);
    for (unsigned k = 0; k < n; k++) {
      int i = chunk_of(out[k]);
      if (i < 0 || !in_pool[i]) {
        errors++;
        continue;
      }
      in_pool[i] = false;
    }
    reaped += n;
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kMappers; t++) threads.emplace_back(mapper, t);
  std::atomic<long> probed{0};
  threads.emplace_back([&] {
    std::mt19937_64 rng(4000);
    while (resizing) {
      const usw_seg_mem& c = chunks[rng() % kChunks];
      dma_addr_t bus = c.bus + rng() % kSeg;
      rcu_read_lock();
      const usw_seg* seg = usw_pool_find_seg(&pool, bus);
      for (int i = 0; seg && i < 20; i++) {
        if (bus - seg->bus >= kSeg || seg->vaddr != c.vaddr) errors++;
        std::this_thread::yield();
      }
      probed += seg != nullptr;
      rcu_read_unlock();
    }
  });
  for (unsigned cycle = 0; cycle < kCycles; cycle++) {
    std::vector<usw_seg_mem> add;
    for (unsigned i = 0; i < kChunks; i++)
      if (!in_pool[i] && rng() % 2) add.push_back(chunks[i]);
    // Every chunk not in the pool is free bus space, and every present segment one of ours.
    if (int err = usw_pool_add(&pool, add.data(), add.size())) {
      ADD_FAILURE() << "usw_pool_add: " << err;
      break;
    }
    for (const auto& m : add) in_pool[chunk_of(m)] = true;
    grows++;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    unsigned live = pool.nsegs - pool.nretiring;
    if (rng() % 4)
      usw_pool_retire(&pool, rng() % (live + 1));
    else
      usw_pool_retire_idle(&pool, rng() % (live + 1));
    shrinks++;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    reap();
    busy_retiring += pool.nretiring > 0;
  }
  resizing = false;
  for (auto& t : threads) t.join();
  usw_pool_retire(&pool, 0);
  reap();

  std::printf("%ld maps, %ld full, %ld segments reaped, %ld reaps left busy ones, %ld probes\n",
              mapped.load(), nospc.load(), reaped, busy_retiring, probed.load());
  EXPECT_EQ(errors, 0);
  EXPECT_GT(mapped, kMappers * kIters / 8);
  EXPECT_GT(nospc, 0) << "the pool never ran out: shrinking was not felt";
  EXPECT_GE(grows, kCycles);
  EXPECT_GT(reaped, kCycles / 2);
  EXPECT_GT(busy_retiring, 0) << "no reap ever met a retiring segment still in use";
  EXPECT_GT(probed, 0);
  EXPECT_EQ(usw_pool_used(&pool), 0u);
  EXPECT_EQ(pool.nsegs, 0u);
  EXPECT_EQ(std::count(in_pool.begin(), in_pool.end(), true), 0);
  usw_pool_destroy(&pool);
  for (const auto& c : chunks) munmap(c.vaddr, kSeg);
}

// usw_pool_max_mapping() wraps around for a min_align_mask past the segment size: it returns
// nearly SIZE_MAX where nothing at all can be promised.
TEST(PoolRegression, MaxMappingNeverExceedsASegment) {
  for (unsigned shift : {kShiftMin, kShiftMax}) {
    PoolHarness h;
    ASSERT_EQ(h.InitEmpty(shift, 1, 1), "");
    for (unsigned mask : {0x3ffffU, 0x40000U, 0x40001U, 0x7ffffU, 0xfffffU, 0x1fffffU,
                          0x200000U, 0x200001U, UINT_MAX})
      EXPECT_LE(usw_pool_max_mapping(h.pool(), mask), SegSize(shift))
          << "seg_shift " << shift << " min_align_mask 0x" << std::hex << mask;
  }
}

// With the bound above gone, usw_pool_alloc() accepts any size: requests that can never fit
// get -ENOSPC instead of -EINVAL, and a size whose slot count overflows gets a "mapping" of 0
// or 1 slot that the caller would then bounce terabytes through.
TEST(PoolRegression, OversizedRequestsAreInvalid) {
  struct {
    const char* what;
    unsigned seg_shift;
    usw_req req;
  } cases[] = {
      {"300 KiB, never fits 256 KiB", kShiftMin, Req(300 * 1024, 0, 0x7ffff)},
      {"2 MiB + 1, never fits 2 MiB", kShiftMax, Req(kSeg1024 + 1)},
      {"slot count wraps to 0", kShiftMin, Req(SIZE_MAX - (kSlot - 1), 0x7ff, 0x407ff)},
      {"slot count wraps to 0", kShiftMax, Req(SIZE_MAX - (kSlot - 1), 0x7ff, 0x407ff)},
      {"slot count truncates to 1", kShiftMin, Req((1ULL << 43) + 1, 0x100000, UINT_MAX)},
      {"slot count truncates to 1", kShiftMax, Req((1ULL << 43) + 1, 0x100000, UINT_MAX)},
  };
  for (const auto& c : cases) {
    PoolHarness h;
    ASSERT_EQ(h.Init({0x100000}, 1, c.seg_shift), "");
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
// retried forever from the same cursor. An empty area must place from its start, also when it
// became empty by retiring its last busy segment.
TEST(PoolRegression, AnEmptyAreaPlacesAScatterlistThatFillsIt) {
  // Entries of 2 to 32 slots in an order that leaves a tail gap from most cursors: 128 slots.
  const unsigned entries[] = {16, 2, 32, 2, 16, 6, 8, 2, 32, 4, 8};
  auto place = [&](PoolHarness& h, unsigned c) {
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
  };
  for (unsigned c = 0; c < kSlots128; c++) {
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
    place(h, c);
  }
  // The same with a mapping left in a retiring segment of the area: its listed segment is
  // empty, so it places from its start.
  for (unsigned c = 0; c < kSlots128 - 2; c++) {
    PoolHarness h;
    ASSERT_EQ(h.Init(Contiguous(0x80000000, 2), 1), "");
    int f, r, g, a = -1, b, b2;
    ASSERT_EQ(h.Alloc(Req(kSeg128), 0, &f), "");
    ASSERT_EQ(h.Alloc(Req(kSlot), 0, &r), "");
    ASSERT_EQ(h.Alloc(Req(127 * kSlot), 0, &g), "");  // the cursor wraps to segment 0
    ASSERT_EQ(h.Free(f), "");
    if (c) {
      ASSERT_EQ(h.Alloc(Req(c * kSlot), 0, &a), "");
    }
    ASSERT_EQ(h.Alloc(Req(kSlot), 0, &b), "");
    ASSERT_EQ(h.Alloc(Req(kSlot), 0, &b2), "");
    ASSERT_EQ(std::tuple(r, b, b2), std::tuple(128, int(c), int(c) + 1));
    if (c) {
      ASSERT_EQ(h.Free(a), "");
    }
    ASSERT_EQ(h.Free(g), "");
    ASSERT_EQ(h.Retire(1), "");  // segment 1, with r in it
    ASSERT_TRUE(h.SegRetiring(1));
    ASSERT_EQ(h.Free(b), "");
    ASSERT_EQ(h.Free(b2), "");
    place(h, c);
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
  usw_req whole = Req(kSeg128);
  int first = usw_pool_alloc(pool, &whole, 0);
  ASSERT_EQ(first, 0);

  racing_pool = pool;
  racing_head = -1;
  shim_after_unlock = [](spinlock_t*) {
    shim_after_unlock = nullptr;  // once: not again for the allocation's own unlock
    usw_req whole = Req(kSeg128);
    racing_head = usw_pool_alloc(racing_pool, &whole, 0);
    racing_used = usw_pool_used(racing_pool);
  };
  bool freed = usw_pool_free(pool, first);
  shim_after_unlock = nullptr;
  ASSERT_TRUE(freed);
  ASSERT_EQ(racing_head, 0) << "the hook did not run between unlock and return";

  EXPECT_LE(racing_used, usw_pool_nslots(pool));
  EXPECT_LE(usw_pool_hiwater(pool), usw_pool_nslots(pool));
  EXPECT_TRUE(usw_pool_free(pool, racing_head));
  EXPECT_EQ(usw_pool_used(pool), 0u);
}

}  // namespace
}  // namespace usw_test
