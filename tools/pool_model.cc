// SPDX-License-Identifier: GPL-2.0
#include "pool_model.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

namespace usw_test {
namespace {

unsigned Offset(const usw_req& req) { return req.orig & req.min_align_mask & (kSlot - 1); }

unsigned Slots(const usw_req& req) { return (Offset(req) + req.size + kSlot - 1) / kSlot; }

// Collects mismatch descriptions; formatting happens only on failure, checks run per slot.
class Errors {
 public:
  template <typename... T>
  void Add(const T&... parts) {
    if (text_.size() > 4000) return;
    std::ostringstream os;
    os << std::hex;
    (os << ... << parts);
    text_ += (text_.empty() ? "" : "; ") + os.str();
  }
  std::string Take(const std::string& what) { return text_.empty() ? text_ : what + ": " + text_; }

 private:
  std::string text_;
};

std::string Describe(const usw_req& req, unsigned area_hint) {
  std::ostringstream os;
  os << std::hex << "alloc(orig 0x" << req.orig << ", size 0x" << req.size << ", min_align 0x"
     << req.min_align_mask << ", alloc_align 0x" << req.alloc_align_mask << ", boundary 0x"
     << req.boundary_mask << ", area 0x" << area_hint << ")";
  return os.str();
}

}  // namespace

size_t ModelMaxMapping(unsigned min_align_mask) {
  uint64_t lost = (uint64_t{min_align_mask} + kSlot - 1) & ~(kSlot - 1);
  return lost >= kSegSize ? 0 : kSegSize - lost;
}

PoolHarness::~PoolHarness() {
  usw_pool_destroy(&pool_);
  if (mem_) munmap(mem_, mem_len_);
}

std::string PoolHarness::Init(const std::vector<dma_addr_t>& bus, unsigned nareas) {
  unsigned nsegs = bus.size();
  int err = usw_pool_init(&pool_, nsegs, nareas);
  if (err) return "usw_pool_init: " + std::to_string(err);
  mem_len_ = nsegs * kSegSize;
  void* mem = mmap(nullptr, mem_len_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return "mmap failed";
  mem_ = static_cast<char*>(mem);
  for (unsigned i = 0; i < nsegs; i++) {
    pool_.segs[i].vaddr = SlotMem(i * kSegSlots);
    pool_.segs[i].phys = 0x200000000ULL + (uint64_t{i} * 7 % nsegs) * 3 * kSegSize;
    pool_.segs[i].bus = bus[i];
    by_bus_[bus[i]] = i;
  }
  err = usw_pool_index(&pool_);
  if (err) return "usw_pool_index: " + std::to_string(err);
  owner_.assign(pool_.nslots, -1);
  area_used_.assign(pool_.nareas, 0);
  area_peak_.assign(pool_.nareas, 0);
  return "";
}

// Segments in reverse virtual order.
char* PoolHarness::SlotMem(unsigned slot) const {
  return mem_ + (pool_.nsegs - 1 - slot / kSegSlots) * kSegSize + slot % kSegSlots * kSlot;
}

dma_addr_t PoolHarness::SlotBus(unsigned slot) const {
  return pool_.segs[slot / kSegSlots].bus + slot % kSegSlots * kSlot;
}

const usw_seg* PoolHarness::ModelFindSeg(dma_addr_t bus) const {
  auto it = by_bus_.upper_bound(bus);
  if (it == by_bus_.begin()) return nullptr;
  --it;
  return bus - it->first < kSegSize ? &pool_.segs[it->second] : nullptr;
}

// Free slots from each slot to the next used one or the end of its segment.
std::vector<unsigned> PoolHarness::FreeRuns() const {
  std::vector<unsigned> run(pool_.nslots);
  for (unsigned i = pool_.nslots; i-- > 0;) {
    bool seg_end = i % kSegSlots == kSegSlots - 1;
    run[i] = owner_[i] >= 0 ? 0 : 1 + (seg_end ? 0 : run[i + 1]);
  }
  return run;
}

// Next fit: the first area in probe order from area_hint that has a place, and in it the first
// place at or after the area's cursor, circularly.
std::optional<unsigned> PoolHarness::ExpectedHead(const usw_req& req, unsigned area_hint) const {
  std::vector<unsigned> run = FreeRuns();
  unsigned n = Slots(req);
  auto fits = [&](unsigned slot) {
    dma_addr_t first = SlotBus(slot), last = first + n * kSlot - 1;
    return run[slot] >= n &&
           ((first + Offset(req)) & req.min_align_mask) == (req.orig & req.min_align_mask) &&
           !(first & req.alloc_align_mask) && !((first ^ last) & ~uint64_t{req.boundary_mask});
  };
  for (unsigned i = 0; i < pool_.nareas; i++) {
    const usw_area& a = pool_.areas[(area_hint + i) & (pool_.nareas - 1)];
    for (unsigned k = 0; k < a.nslots; k++) {
      unsigned slot = a.first + (a.index + k) % a.nslots;
      if (fits(slot)) return slot;
    }
  }
  return std::nullopt;
}

std::string PoolHarness::Alloc(const usw_req& req, unsigned area_hint, int* out) {
  bool invalid = !req.size || req.size > ModelMaxMapping(req.min_align_mask);
  std::optional<unsigned> want = invalid ? std::nullopt : ExpectedHead(req, area_hint);
  int got = usw_pool_alloc(&pool_, &req, area_hint);
  if (out) *out = got;

  Errors err;
  if (invalid || !want) {
    int expect = invalid ? -EINVAL : -ENOSPC;
    if (got != expect) err.Add("expected ", std::dec, expect, ", got ", got);
    return err.Take(Describe(req, area_hint));
  }
  if (got != static_cast<int>(*want)) {
    err.Add("expected head ", std::dec, *want, " (next fit), got ", got);
    return err.Take(Describe(req, area_hint));
  }

  Mapping m{*want, Slots(req), req.orig, req.size, Offset(req)};
  for (unsigned i = m.head; i < m.head + m.nslots; i++) owner_[i] = m.head;
  maps_[m.head] = m;
  used_ += m.nslots;
  unsigned a = pool_.segs[m.head / kSegSlots].area;
  area_used_[a] += m.nslots;
  area_peak_[a] = std::max(area_peak_[a], area_used_[a]);

  // The placement contract again, on the pool's own view of the mapping.
  dma_addr_t bus = usw_mapping_bus(&pool_, m.head);
  if ((bus & req.min_align_mask) != (req.orig & req.min_align_mask))
    err.Add("bus 0x", bus, " breaks min_align_mask");
  if (usw_slot_bus(&pool_, m.head) & req.alloc_align_mask) err.Add("breaks alloc_align_mask");
  if ((bus ^ (bus + req.size - 1)) & ~uint64_t{req.boundary_mask}) err.Add("crosses boundary");
  const usw_area& area = pool_.areas[pool_.segs[m.head / kSegSlots].area];
  unsigned cursor = m.head - area.first + m.nslots;
  if (area.index != (cursor < area.nslots ? cursor : 0))
    err.Add("area cursor ", std::dec, area.index, " not after the new mapping");
  return err.Take(Describe(req, area_hint));
}

std::string PoolHarness::Free(unsigned slot, bool* out) {
  bool live = maps_.count(slot);
  std::vector<usw_slot> before;
  std::vector<usw_area> areas_before(pool_.areas, pool_.areas + pool_.nareas);
  unsigned long used_before = usw_pool_used(&pool_);
  if (!live) before.assign(pool_.slots, pool_.slots + pool_.nslots);
  bool got = usw_pool_free(&pool_, slot);
  if (out) *out = got;

  Errors err;
  if (got != live) {
    err.Add("returned ", got, ", expected ", live);
  } else if (!live) {
    if (memcmp(before.data(), pool_.slots, pool_.nslots * sizeof(usw_slot)) ||
        used_before != usw_pool_used(&pool_))
      err.Add("a refused free changed the pool");
  } else {
    const Mapping& m = maps_[slot];
    unsigned a = pool_.segs[m.head / kSegSlots].area;
    for (unsigned i = m.head; i < m.head + m.nslots; i++) owner_[i] = -1;
    used_ -= m.nslots;
    area_used_[a] -= m.nslots;
    // An empty area places from its start; otherwise the cursor steps back over a mapping
    // freed right behind it, and only then.
    const usw_area& was = areas_before[a];
    unsigned rel = m.head - was.first, end = rel + m.nslots < was.nslots ? rel + m.nslots : 0;
    unsigned want = !area_used_[a] ? 0 : end == was.index ? rel : was.index;
    if (pool_.areas[a].index != want)
      err.Add(std::dec, "area ", a, " cursor ", pool_.areas[a].index, " after free, expected ",
              want);
    maps_.erase(slot);
  }
  return err.Take("free(" + std::to_string(slot) + ")");
}

void PoolHarness::ResetHiwater() {
  usw_pool_reset_hiwater(&pool_);
  area_peak_ = area_used_;
}

std::string PoolHarness::Resolve(dma_addr_t bus, size_t size) const {
  return Resolve(bus, size, ModelFindSeg(bus));
}

// Takes the model's segment for bus, which the caller may know already.
std::string PoolHarness::Resolve(dma_addr_t bus, size_t size, const usw_seg* seg) const {
  usw_ref ref{~0U, nullptr, 0};
  int got = usw_pool_resolve(&pool_, bus, size, &ref);
  const Mapping* m = nullptr;
  uint64_t off = 0;
  int want = -ENOENT;
  if (seg) {
    unsigned slot = (seg - pool_.segs) * kSegSlots + (bus - seg->bus) / kSlot;
    want = -EINVAL;
    if (owner_[slot] >= 0) {
      m = &maps_.at(owner_[slot]);
      off = bus - MapBus(*m);
      if (bus >= MapBus(*m) && off < m->size && size <= m->size - off) want = 0;
    }
  }
  if (got == want && (want || (ref.head == m->head && ref.orig == m->orig + off &&
                               ref.bounce == SlotMem(m->head) + m->offset + off)))
    return {};
  Errors err;
  if (got != want)
    err.Add("returned ", std::dec, got, ", expected ", want);
  else
    err.Add("ref {head ", std::dec, ref.head, ", orig 0x", std::hex, ref.orig,
            "}, expected {head ", std::dec, m->head, ", orig 0x", std::hex, m->orig + off,
            "} and bounce ", static_cast<void*>(SlotMem(m->head) + m->offset + off));
  std::ostringstream what;
  what << std::hex << "resolve(0x" << bus << ", 0x" << size << ")";
  return err.Take(what.str());
}

std::string PoolHarness::Check() const {
  Errors err;
  std::vector<unsigned> run = FreeRuns(), area_used(pool_.nareas);
  for (unsigned i = 0; i < pool_.nslots; i++) {
    const usw_slot& s = pool_.slots[i];
    const usw_seg& seg = pool_.segs[i / kSegSlots];
    if (s.free != run[i]) err.Add(std::dec, "slot ", i, " free ", +s.free, ", expected ", run[i]);
    if (owner_[i] >= 0) {
      area_used[seg.area]++;
      if (s.head != i - static_cast<unsigned>(owner_[i]))
        err.Add(std::dec, "slot ", i, " head ", +s.head, ", expected ", i - owner_[i]);
    }
    if (usw_slot_bus(&pool_, i) != SlotBus(i) || usw_slot_vaddr(&pool_, i) != SlotMem(i) ||
        usw_slot_phys(&pool_, i) != seg.phys + i % kSegSlots * kSlot)
      err.Add(std::dec, "slot ", i, " translates wrongly");
    // One address per slot, at a varying byte.
    std::string r = Resolve(SlotBus(i) + i * 977 % kSlot, 1, &seg);
    if (!r.empty()) err.Add(r);
  }
  for (const auto& [head, m] : maps_) {
    const usw_slot& s = pool_.slots[head];
    if (s.orig != m.orig || s.size != m.size || s.offset != m.offset)
      err.Add(std::dec, "head ", head, " holds {orig 0x", std::hex, s.orig, ", size 0x", s.size,
              ", offset 0x", s.offset, "}");
    dma_addr_t bus = MapBus(m);
    for (auto [b, size] : {std::pair{bus, m.size}, {bus + m.size - 1, 1}, {bus, m.size + 1},
                           {bus - 1, 1}, {bus + m.size, 1}}) {
      std::string r = Resolve(b, size);
      if (!r.empty()) err.Add(r);
    }
  }
  for (unsigned a = 0; a < pool_.nareas; a++) {
    if (pool_.areas[a].used != area_used[a])
      err.Add(std::dec, "area ", a, " used ", pool_.areas[a].used, ", expected ", area_used[a]);
    if (pool_.areas[a].index >= pool_.areas[a].nslots)
      err.Add(std::dec, "area ", a, " cursor ", pool_.areas[a].index, " out of range");
  }
  long peaks = 0;
  for (unsigned a = 0; a < pool_.nareas; a++) {
    if (pool_.areas[a].peak != area_peak_[a])
      err.Add(std::dec, "area ", a, " peak ", pool_.areas[a].peak, ", expected ", area_peak_[a]);
    peaks += area_peak_[a];
  }
  if (usw_pool_used(&pool_) != static_cast<unsigned long>(used_))
    err.Add(std::dec, "used ", usw_pool_used(&pool_), ", expected ", used_);
  if (usw_pool_hiwater(&pool_) != static_cast<unsigned long>(peaks))
    err.Add(std::dec, "hiwater ", usw_pool_hiwater(&pool_), ", expected ", peaks);
  return err.Take("check");
}

std::string PoolHarness::CheckLayout() const {
  Errors err;
  for (unsigned i = 0; i < pool_.nsegs; i++) {
    dma_addr_t b = pool_.segs[i].bus;
    for (dma_addr_t probe : {b - 1, b, b + kSlot, b + kSegSize - 1, b + kSegSize}) {
      const usw_seg* want = nullptr;
      for (unsigned j = 0; j < pool_.nsegs; j++)
        if (probe - pool_.segs[j].bus < kSegSize) want = &pool_.segs[j];
      if (usw_pool_find_seg(&pool_, probe) != want) err.Add("find_seg(0x", probe, ") wrong");
      if (want && !usw_pool_may_contain(&pool_, probe))
        err.Add("may_contain(0x", probe, ") false");
    }
  }
  unsigned next = 0;
  for (unsigned a = 0; a < pool_.nareas; a++) {
    const usw_area& area = pool_.areas[a];
    if (area.first != next || !area.nslots || area.nslots % kSegSlots)
      err.Add(std::dec, "area ", a, " is not whole segments right after the previous area");
    for (unsigned s = area.first / kSegSlots; s < (area.first + area.nslots) / kSegSlots; s++)
      if (s < pool_.nsegs && pool_.segs[s].area != a) err.Add(std::dec, "seg ", s, " wrong area");
    next = area.first + area.nslots;
  }
  if (next != pool_.nslots) err.Add(std::dec, "areas cover ", next, " of ", pool_.nslots);
  return err.Take("layout");
}

}  // namespace usw_test
