// SPDX-License-Identifier: GPL-2.0
//
// Reference model of src/pool.c and a harness that runs every operation on both and compares
// them. Shared by the GoogleTest suite and the fuzzer, so it reports mismatches as text (empty
// when all agree) instead of asserting. The model follows pool.h's contract, not pool.c's code:
// per-slot owners, linear scans and a std::map instead of free runs and an rbtree.
#pragma once

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
constexpr unsigned kSegSlots = USW_SEG_SLOTS;
constexpr uint64_t kSegSize = USW_SEG_SIZE;

// usw_pool_max_mapping()'s contract: a mapping lives in one segment and may lose up to
// round_up(min_align_mask, slot size) bytes of it to alignment; past a segment, nothing fits.
size_t ModelMaxMapping(unsigned min_align_mask);

struct Mapping {
  unsigned head;
  unsigned nslots;
  uint64_t orig;
  size_t size;
  unsigned offset;
};

class PoolHarness {
 public:
  PoolHarness() = default;
  PoolHarness(const PoolHarness&) = delete;
  PoolHarness& operator=(const PoolHarness&) = delete;
  ~PoolHarness();

  // Builds a pool whose segment i has bus address bus[i], with scrambled physical and virtual
  // layouts of its own so that no two address spaces can be confused unnoticed.
  std::string Init(const std::vector<dma_addr_t>& bus, unsigned nareas);

  // Each runs the operation on pool and model and describes any disagreement.
  std::string Alloc(const usw_req& req, unsigned area_hint, int* out = nullptr);
  std::string Free(unsigned slot, bool* out = nullptr);  // refused frees must change nothing
  std::string Resolve(dma_addr_t bus, size_t size) const;  // size >= 1
  void ResetHiwater();

  // Every invariant in pool.h, for every slot, area and mapping.
  std::string Check() const;
  // usw_pool_find_seg() against a linear search around every segment, and the area layout.
  std::string CheckLayout() const;

  usw_pool* pool() { return &pool_; }
  const std::map<unsigned, Mapping>& mappings() const { return maps_; }
  char* SlotMem(unsigned slot) const;

 private:
  dma_addr_t SlotBus(unsigned slot) const;
  dma_addr_t MapBus(const Mapping& m) const { return SlotBus(m.head) + m.offset; }
  const usw_seg* ModelFindSeg(dma_addr_t bus) const;
  std::string Resolve(dma_addr_t bus, size_t size, const usw_seg* seg) const;
  std::vector<unsigned> FreeRuns() const;
  std::optional<unsigned> ExpectedHead(const usw_req& req, unsigned area_hint) const;

  usw_pool pool_{};
  char* mem_ = nullptr;
  size_t mem_len_ = 0;
  std::map<dma_addr_t, unsigned> by_bus_;
  std::vector<int> owner_;  // head slot of the mapping using each slot, or -1
  std::map<unsigned, Mapping> maps_;
  long used_ = 0;
  std::vector<long> area_used_;  // per area: slots in use, and the peak since the last reset
  std::vector<long> area_peak_;
};

}  // namespace usw_test
