// SPDX-License-Identifier: GPL-2.0
//
// Reference model of src/pool.c and a harness that runs every operation on both and compares
// them. Shared by the GoogleTest suite and the fuzzer, so it reports mismatches as text (empty
// when all agree) instead of asserting. The model follows pool.h's contract, not pool.c's code:
// per-slot owners, linear scans and a std::map instead of free runs and an rbtree.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

extern "C" {
#include "pool.h"
}

namespace usw_test {

constexpr uint64_t kSlot = USW_SLOT_SIZE;
constexpr unsigned kShiftMin = USW_SEG_SHIFT_MIN;
constexpr unsigned kShiftMax = USW_SEG_SHIFT_MAX;

constexpr unsigned SegSlots(unsigned seg_shift) { return 1U << seg_shift; }
constexpr uint64_t SegSize(unsigned seg_shift) { return kSlot << seg_shift; }

// usw_pool_max_mapping()'s contract: a mapping lives in one segment and may lose up to
// round_up(min_align_mask, slot size) bytes of it to alignment; past a segment, nothing fits.
size_t ModelMaxMapping(unsigned seg_shift, unsigned min_align_mask);

struct Mapping {
  unsigned head;
  unsigned nslots;
  uint64_t orig;
  size_t size;
  unsigned offset;
  // Where it was placed, and the byte it was filled with: a live mapping never moves, and
  // its data stays, whatever the pool does around it.
  dma_addr_t bus;
  char* bounce;
  unsigned char fill;
};

class PoolHarness {
 public:
  PoolHarness() = default;
  PoolHarness(const PoolHarness&) = delete;
  PoolHarness& operator=(const PoolHarness&) = delete;
  ~PoolHarness();

  // An empty pool.
  std::string InitEmpty(unsigned seg_shift, unsigned max_segs, unsigned nareas);
  // A pool of max_segs (default: just enough) holding one segment per bus address, added at
  // once.
  std::string Init(const std::vector<dma_addr_t>& bus, unsigned nareas,
                   unsigned seg_shift = kShiftMin, unsigned max_segs = 0);

  // Each runs the operation on pool and model and describes any disagreement. Add and Reap
  // accept -ENOMEM / nothing reaped while shim_fail_alloc_nth is set, as a failure that must
  // change nothing. Segments get memory of their own, in no particular virtual order, and
  // physical addresses unlike their bus addresses, so that no two address spaces can be
  // confused unnoticed; Reap checks that each comes back as given.
  std::string Add(const std::vector<dma_addr_t>& bus, int* out = nullptr);
  std::string Retire(unsigned keep, unsigned* out = nullptr);
  std::string RetireIdle(unsigned keep, unsigned* out = nullptr);
  std::string Reap(unsigned max = UINT_MAX, unsigned* out = nullptr);
  std::string Alloc(const usw_req& req, unsigned area_hint, int* out = nullptr);
  std::string Free(unsigned slot, bool* out = nullptr);  // refused frees must change nothing
  std::string Resolve(dma_addr_t bus, size_t size) const;  // size >= 1
  void ResetHiwater();

  // Every invariant in pool.h, for every segment, slot, area and mapping; find_seg() for every
  // segment and for the addresses of removed ones.
  std::string Check() const;

  usw_pool* pool() { return &pool_; }
  const std::map<unsigned, Mapping>& mappings() const { return maps_; }
  unsigned seg_shift() const { return pool_.seg_shift; }
  unsigned seg_slots() const { return SegSlots(pool_.seg_shift); }
  uint64_t seg_size() const { return SegSize(pool_.seg_shift); }
  // Segment ids present, and of those the ones placed into (not retiring).
  std::vector<unsigned> SegIds(bool live_only = false) const;
  unsigned SegUsed(unsigned id) const { return segs_.at(id)->used; }
  unsigned SegArea(unsigned id) const { return segs_.at(id)->area; }
  bool SegRetiring(unsigned id) const { return segs_.at(id)->retiring; }
  dma_addr_t SegBus(unsigned id) const { return segs_.at(id)->bus; }
  const std::vector<unsigned>& AreaIds(unsigned a) const { return areas_.at(a).ids; }
  char* SlotMem(unsigned slot) const;

 private:
  struct Seg {
    dma_addr_t bus;
    phys_addr_t phys;
    char* mem;
    unsigned area;
    bool retiring;
    bool touched;
    unsigned used;
    std::vector<int> owner;  // per slot: head slot of the mapping using it, or -1
  };
  struct Area {
    std::vector<unsigned> ids;  // placement order
    unsigned cursor;
    long used;  // retiring segments included
    long peak;
  };

  unsigned Mask() const { return seg_slots() - 1; }
  const Seg* SegOf(unsigned slot) const;
  dma_addr_t SlotBus(unsigned slot) const;
  std::optional<unsigned> ModelFindSeg(dma_addr_t bus) const;
  std::string Resolve(dma_addr_t bus, size_t size, std::optional<unsigned> id) const;
  std::vector<unsigned> FreeRuns(const Seg& seg) const;
  unsigned Avail(const Area& area) const;
  unsigned LiveSegs() const;
  std::optional<unsigned> ExpectedHead(const usw_req& req, unsigned area_hint) const;
  void RetireSeg(unsigned id);
  std::string CheckRetired(const std::string& what, unsigned got, unsigned want) const;
  std::string CheckArea(unsigned a) const;

  usw_pool pool_{};
  unsigned max_segs_ = 0;
  std::vector<std::optional<Seg>> segs_;  // by id
  std::vector<Area> areas_;
  std::map<dma_addr_t, unsigned> by_bus_;
  std::vector<dma_addr_t> gone_bus_;  // of removed segments, most recent last
  dma_addr_t bus_lo_ = ~dma_addr_t{0}, bus_hi_ = 0;
  std::map<unsigned, Mapping> maps_;
  long used_ = 0;
  uint64_t nsegs_made_ = 0;
  unsigned fills_ = 0;
};

}  // namespace usw_test
