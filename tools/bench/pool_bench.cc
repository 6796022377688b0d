// SPDX-License-Identifier: GPL-2.0
//
// Google Benchmark of src/pool.c on the host: the slot allocator (map/unmap cycle, 1 and 2
// threads), the bus-to-phys lookup that unmap and sync take, and growing the pool by a
// segment. pool.c is built unmodified against ../shim, at -O2 without sanitizers (see
// ../Makefile, "make bench").
//
// Pools are bookkeeping only: pool.c never touches the bounce memory, so segments get fake
// virtual and physical addresses. Bus addresses are laid out as in a Xen PV dom0: each segment
// a separate extent, bus order shuffled against slot order, with holes between some of them.
// Requests are built as src/ops.c builds them (page-sized and larger ones page aligned).
// Everything is seeded: runs are repeatable.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include "pool.h"
}

// Lookups run under rcu_read_lock(), the shim's a shared rwlock: one read-side section around
// each timed loop, as no resize runs meanwhile, so that the lookup is what is measured.
struct RcuRead {
  RcuRead() { rcu_read_lock(); }
  ~RcuRead() { rcu_read_unlock(); }
};

namespace {

constexpr unsigned kAreas = 8;  // the kernel uses num_possible_cpus()
constexpr uint64_t kSlot = USW_SLOT_SIZE;
constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kPageMask = 4095;

usw_req OpsReq(uint64_t orig, size_t size) {
  usw_req req{};
  req.orig = orig;
  req.size = size;
  req.min_align_mask = 0;
  req.alloc_align_mask = size > kPageMask ? kPageMask : 0;
  req.boundary_mask = ULONG_MAX;
  return req;
}

// Sizes of the mappings that pre-fill a pool: mostly small, some up to a whole segment.
size_t FillSize(std::mt19937_64& rng, uint64_t seg_size) {
  unsigned r = rng() % 100;
  if (r < 50) return 1 + rng() % 4096;
  if (r < 80) return 1 + rng() % 65536;
  return 1 + rng() % seg_size;
}

struct BenchPool {
  usw_pool pool{};
  std::vector<unsigned> live;  // heads of the pre-fill mappings still mapped
  double fill = 0;             // fraction of slots in use
  int depth = 0;               // height of the by_bus rbtree

  BenchPool(const BenchPool&) = delete;
  BenchPool& operator=(const BenchPool&) = delete;
  // spare: room for that many more segments than it is built with
  BenchPool(uint64_t bytes, unsigned fill_pct, unsigned seg_shift = USW_SEG_SHIFT_MIN,
            unsigned spare = 0);
  ~BenchPool() { usw_pool_destroy(&pool); }
};

// Memory for segment i of a pool: fake addresses, pool.c never touches them.
usw_seg_mem FakeSeg(unsigned i, dma_addr_t bus, uint64_t seg_size) {
  return {reinterpret_cast<void*>(0x7f0000000000ULL + uint64_t{i} * 5 * seg_size),
          0x4000000000ULL + uint64_t{i} * 3 * seg_size, bus};
}

int Depth(const rb_node* n) {
  return n ? 1 + std::max(Depth(n->rb_left), Depth(n->rb_right)) : 0;
}

BenchPool::BenchPool(uint64_t bytes, unsigned fill_pct, unsigned seg_shift, unsigned spare) {
  std::mt19937_64 rng(bytes * 1000 + fill_pct + seg_shift);
  uint64_t seg_size = kSlot << seg_shift;
  unsigned nsegs = bytes / seg_size;
  if (usw_pool_init(&pool, seg_shift, nsegs + spare, kAreas)) std::abort();

  std::vector<unsigned> order(nsegs);
  for (unsigned i = 0; i < nsegs; i++) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<usw_seg_mem> mem(nsegs);
  dma_addr_t bus = 0x100000000ULL - nsegs * seg_size / 2;
  for (unsigned i : order) {
    mem[i] = FakeSeg(i, bus, seg_size);
    bus += seg_size + (rng() % 2 ? 0 : (1 + rng() % 64) * kSlot);
  }
  if (usw_pool_add(&pool, mem.data(), nsegs)) std::abort();
  depth = Depth(rcu_dereference_protected(pool.index, 1)->root.rb_node);

  // Fill past the target with random sizes from every area, then free a random subset down to
  // it: the free space left is fragmented, as in a pool that has been in use for a while.
  uint64_t nslots = usw_pool_nslots(&pool);
  uint64_t target = nslots * fill_pct / 100;
  uint64_t high = target + (nslots - target) / 2;
  if (fill_pct) {
    for (unsigned i = 0; uint64_t(usw_pool_used(&pool)) < high; i++) {
      uint64_t orig = rng() & ~kPageMask;
      usw_req req = OpsReq(orig, FillSize(rng, seg_size));
      int head;
      while ((head = usw_pool_alloc(&pool, &req, i)) < 0 && req.size > kSlot)
        req = OpsReq(orig, req.size / 2);
      if (head < 0) break;
      live.push_back(head);
    }
    std::shuffle(live.begin(), live.end(), rng);
    while (uint64_t(usw_pool_used(&pool)) > target) {
      if (!usw_pool_free(&pool, live.back())) std::abort();
      live.pop_back();
    }
  }
  fill = double(usw_pool_used(&pool)) / nslots;
  for (unsigned a = 0; a < pool.nareas; a++) pool.areas[a].index = 0;
}

// Built once per (size, fill, segment size) and shared: every benchmark frees what it maps, so
// it leaves the pool as it found it (but for the next-fit cursors).
BenchPool& GetPool(uint64_t mib, unsigned fill_pct, unsigned seg_shift = USW_SEG_SHIFT_MIN) {
  static std::mutex lock;
  static std::map<std::tuple<uint64_t, unsigned, unsigned>, std::unique_ptr<BenchPool>> pools;
  std::lock_guard<std::mutex> guard(lock);
  auto& p = pools[{mib, fill_pct, seg_shift}];
  if (!p) p = std::make_unique<BenchPool>(mib * kMiB, fill_pct, seg_shift);
  return *p;
}

// Every thread sets them: averaged, not summed, over threads.
void SetPoolCounters(benchmark::State& state, const BenchPool& bp) {
  state.counters["fill_pct"] = benchmark::Counter(100 * bp.fill, benchmark::Counter::kAvgThreads);
  state.counters["rb_depth"] = benchmark::Counter(bp.depth, benchmark::Counter::kAvgThreads);
}

// The timed loop: map and unmap one request; returns how many maps failed.
int64_t MapUnmapLoop(benchmark::State& state, BenchPool& bp, const usw_req& req,
                     unsigned area) {
  int64_t fails = 0;

  for (auto _ : state) {
    int head = usw_pool_alloc(&bp.pool, &req, area);
    benchmark::DoNotOptimize(head);
    if (head >= 0)
      usw_pool_free(&bp.pool, head);
    else
      fails++;
  }
  return fails;
}

// 1. usw_pool_alloc() + usw_pool_free() of one request. Args: size, pool MiB, fill %, log2 of
// the slots in a segment.
void BM_MapUnmap(benchmark::State& state) {
  size_t size = state.range(0);
  BenchPool& bp = GetPool(state.range(1), state.range(2), state.range(3));
  usw_req req = OpsReq(0x123456000ULL, size);
  int64_t fails = MapUnmapLoop(state, bp, req, 0);
  SetPoolCounters(state, bp);
  state.counters["fail_pct"] = 100.0 * fails / std::max<int64_t>(1, state.iterations());
  state.counters["maps_per_s"] = benchmark::Counter(state.iterations(),
                                                   benchmark::Counter::kIsRate);
}
// At 90 % fill a 256 KiB request (a whole free segment) may find no room: fail_pct says so, and
// the time is then that of the scan that fails.
BENCHMARK(BM_MapUnmap)
    ->ArgNames({"size", "pool_mib", "fill_pct", "seg_shift"})
    ->ArgsProduct({{2048, 4096, 64 << 10, 256 << 10}, {8, 64, 1024}, {0, 50, 90}, {7}})
    ->ArgsProduct({{4096, 256 << 10, 2 << 20}, {64}, {0, 50, 90}, {10}});

// Lookups of precomputed addresses, in random order, from a table that outsizes the L1/L2.
constexpr size_t kAddrs = 1 << 16;

enum Lookup { kResolveHit, kFindSegHit, kResolveHole, kResolveOutside, kMayContainOutside };

std::vector<std::pair<dma_addr_t, size_t>> LookupAddrs(const BenchPool& bp, Lookup kind) {
  std::mt19937_64 rng(kind);
  std::vector<std::pair<dma_addr_t, size_t>> addrs;
  const usw_pool* p = &bp.pool;
  while (addrs.size() < kAddrs) {
    if (kind == kResolveHit || kind == kFindSegHit) {
      // As unmap asks: a live mapping's first byte and its whole size.
      unsigned head = bp.live[rng() % bp.live.size()];
      addrs.push_back({usw_mapping_bus(p, head), usw_slot(p, head)->size});
    } else if (kind == kResolveHole) {
      // Inside [bus_lo, bus_hi) but between segments: the rbtree walk that finds nothing.
      dma_addr_t bus = p->bus_lo + rng() % (p->bus_hi - p->bus_lo);
      RcuRead rcu;
      if (!usw_pool_find_seg(p, bus)) addrs.push_back({bus, 4096});
    } else {
      // A direct mapping elsewhere in memory.
      dma_addr_t bus = rng() % 2 ? rng() % p->bus_lo : p->bus_hi + rng() % (1ULL << 40);
      addrs.push_back({bus, 4096});
    }
  }
  return addrs;
}

// 2. Bus-to-phys lookup. Args: pool MiB (at 50 % fill, scattered segments).
template <Lookup kind>
void BM_Lookup(benchmark::State& state) {
  BenchPool& bp = GetPool(state.range(0), 50);
  auto addrs = LookupAddrs(bp, kind);
  int expect = kind == kResolveHit ? 0 : -ENOENT;
  int64_t wrong = 0;
  size_t i = 0;
  RcuRead rcu;

  for (auto _ : state) {
    auto [bus, size] = addrs[i++ & (kAddrs - 1)];
    if constexpr (kind == kFindSegHit) {
      usw_seg* seg = usw_pool_find_seg(&bp.pool, bus);
      benchmark::DoNotOptimize(seg);
      wrong += !seg;
    } else if constexpr (kind == kMayContainOutside) {
      bool ours = usw_pool_may_contain(&bp.pool, bus);
      benchmark::DoNotOptimize(ours);
      wrong += ours;
    } else {
      usw_ref ref;
      int err = usw_pool_resolve(&bp.pool, bus, size, &ref);
      benchmark::DoNotOptimize(err);
      benchmark::DoNotOptimize(ref);
      wrong += err != expect;
    }
  }
  if (wrong) state.SkipWithError("a lookup gave the wrong answer");
  SetPoolCounters(state, bp);
  state.counters["lookups_per_s"] = benchmark::Counter(state.iterations(),
                                                      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Lookup<kResolveHit>)->Name("BM_ResolveHit")->ArgName("pool_mib")->Arg(8)->Arg(64)->Arg(1024);
BENCHMARK(BM_Lookup<kFindSegHit>)->Name("BM_FindSegHit")->ArgName("pool_mib")->Arg(8)->Arg(64)->Arg(1024);
BENCHMARK(BM_Lookup<kResolveHole>)->Name("BM_ResolveHole")->ArgName("pool_mib")->Arg(8)->Arg(64)->Arg(1024);
BENCHMARK(BM_Lookup<kResolveOutside>)->Name("BM_ResolveOutside")->ArgName("pool_mib")->Arg(8)->Arg(64)->Arg(1024);
BENCHMARK(BM_Lookup<kMayContainOutside>)->Name("BM_MayContainOutside")->ArgName("pool_mib")->Arg(8)->Arg(64)->Arg(1024);

// 3. Map/unmap from several threads on one 64 MiB pool. Args: size, fill %, and whether each
// thread starts at its own area (as CPUs do) or all at area 0 (one lock, contended).
void BM_MapUnmapThreads(benchmark::State& state) {
  size_t size = state.range(0);
  BenchPool& bp = GetPool(64, state.range(1));
  unsigned area = state.range(2) ? state.thread_index() : 0;
  usw_req req = OpsReq(0x123456000ULL + state.thread_index() * 0x10000000ULL, size);
  int64_t fails = MapUnmapLoop(state, bp, req, area);
  SetPoolCounters(state, bp);
  state.counters["fail_pct"] = benchmark::Counter(
      100.0 * fails / std::max<int64_t>(1, state.iterations()), benchmark::Counter::kAvgThreads);
  // Summed over threads, divided by the threads' mean wall time (UseRealTime).
  state.counters["maps_per_s"] = benchmark::Counter(state.iterations(),
                                                   benchmark::Counter::kIsRate);
  state.counters["maps_per_s_per_thread"] = benchmark::Counter(
      state.iterations(), benchmark::Counter::kIsRate | benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_MapUnmapThreads)
    ->ArgNames({"size", "fill_pct", "own_area"})
    ->ArgsProduct({{4096, 64 << 10}, {0, 50}, {1, 0}})
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

// 4. usw_pool_add() of one segment to a pool of that many MiB, at 50 % fill: the new index
// (every segment's node, rebuilt) and the grace period. Untimed, the segment is retired and
// reaped again, so every iteration adds to the same pool. Args: pool MiB.
void BM_AddSegment(benchmark::State& state) {
  BenchPool bp(state.range(0) * kMiB, 50, USW_SEG_SHIFT_MIN, 1);
  usw_pool* p = &bp.pool;
  uint64_t seg_size = usw_seg_size(p);
  unsigned nsegs = p->nsegs;
  // Above every segment: a fresh id and the rbtree's rightmost node.
  usw_seg_mem mem = FakeSeg(nsegs, p->bus_hi + 7 * kSlot, seg_size), back;
  int64_t wrong = 0;

  for (auto _ : state) {
    wrong += usw_pool_add(p, &mem, 1) != 0;
    state.PauseTiming();
    // The new segment is empty and has the highest id: it is the one retired.
    wrong += usw_pool_retire(p, nsegs) != 1 || usw_pool_reap(p, &back, 1) != 1 ||
             back.bus != mem.bus;
    state.ResumeTiming();
  }
  if (wrong) state.SkipWithError("the segment did not come and go as expected");
  state.counters["segments"] = nsegs;
  state.counters["adds_per_s"] = benchmark::Counter(state.iterations(),
                                                   benchmark::Counter::kIsRate);
}
BENCHMARK(BM_AddSegment)->ArgName("pool_mib")->Arg(8)->Arg(64)->Arg(1024);

// Control for the above: the same threads doing only private work (a short LCG chain). If its
// per-thread rate also halves at 2 threads, the machine does not run two threads at once
// (vCPUs sharing one core, steal) and the pool's scaling cannot be judged on it.
void BM_ThreadsControl(benchmark::State& state) {
  uint64_t x = state.thread_index() + 1;
  for (auto _ : state) {
    for (int i = 0; i < 64; i++) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    benchmark::DoNotOptimize(x);
  }
  state.counters["loops_per_s_per_thread"] = benchmark::Counter(
      state.iterations(), benchmark::Counter::kIsRate | benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_ThreadsControl)->Threads(1)->Threads(2)->UseRealTime();

// Bookkeeping bytes per 2 KiB slot: the slot itself, its segment's share of struct usw_seg and
// of its node in the bus index, and its share of what the module sizes for the largest pool it
// may grow to (USW_POOL_MAX, 1 GiB): segs[] and the areas' lists, one pointer and one id per
// possible segment, plus the areas and struct usw_pool. Upstream swiotlb's io_tlb_slot is 24.
constexpr uint64_t kModuleMaxPool = 1ULL << 30;

double MetadataPerSlot(uint64_t pool_bytes, unsigned nareas, unsigned seg_shift) {
  double nslots = double(pool_bytes) / kSlot;
  double max_segs = double(kModuleMaxPool >> (seg_shift + USW_SLOT_SHIFT));
  double per_seg = sizeof(usw_seg) + sizeof(usw_index::usw_index_node);
  double fixed = max_segs * (sizeof(usw_seg*) + sizeof(unsigned)) +
                 double(nareas) * sizeof(usw_area) + sizeof(usw_pool);
  return sizeof(struct usw_slot) + per_seg / (1U << seg_shift) + fixed / nslots;
}

void ReportMetadata() {
  std::string line;
  char buf[200];
  for (unsigned shift : {unsigned{USW_SEG_SHIFT_MIN}, unsigned{USW_SEG_SHIFT_MAX}}) {
    for (uint64_t mib : {8, 16, 64, 1024}) {
      double b = MetadataPerSlot(mib * kMiB, kAreas, shift);
      std::snprintf(buf, sizeof(buf), "%s%u KiB segments, %llu MiB: %.3f",
                    line.empty() ? "" : ", ", unsigned((kSlot << shift) >> 10), (unsigned long long)mib, b);
      line += buf;
    }
  }
  std::snprintf(buf, sizeof(buf),
                " (slot %zu + (seg %zu + node %zu) per segment + %zu per possible segment of a "
                "1 GiB pool + %u areas x %zu + pool %zu; target <= 24)",
                sizeof(struct usw_slot), sizeof(usw_seg), sizeof(usw_index::usw_index_node),
                sizeof(usw_seg*) + sizeof(unsigned), kAreas, sizeof(usw_area), sizeof(usw_pool));
  line += buf;
  std::fprintf(stderr, "pool metadata bytes per 2 KiB slot: %s\n", line.c_str());
  benchmark::AddCustomContext("metadata_bytes_per_slot", line);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ReportMetadata();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
