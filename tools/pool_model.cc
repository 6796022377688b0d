// SPDX-License-Identifier: GPL-2.0
#include "pool_model.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <tuple>

extern "C" {
#include <linux/slab.h>
}

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
  void Add(const std::string& text) {
    if (!text.empty()) Add<std::string>(text);
  }
  bool empty() const { return text_.empty(); }
  // The text, prefixed with what unless empty.
  std::string Take(const std::string& what) {
    return text_.empty() || what.empty() ? text_ : what + ": " + text_;
  }

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

// The lookups are called under rcu_read_lock(), as pool.h asks; the shim checks that they are.
struct RcuRead {
  RcuRead() { rcu_read_lock(); }
  ~RcuRead() { rcu_read_unlock(); }
  RcuRead(const RcuRead&) = delete;
  RcuRead& operator=(const RcuRead&) = delete;
};

// Where a mapping's data may have been clobbered: its ends and a byte in every slot it spans.
bool FillIntact(const Mapping& m, bool whole) {
  const char* p = m.bounce;
  char want = static_cast<char>(m.fill);
  if (whole) {
    for (size_t i = 0; i < m.size; i++)
      if (p[i] != want) return false;
    return true;
  }
  for (size_t i = 0; i < m.size; i += kSlot - 13)
    if (p[i] != want) return false;
  return p[m.size - 1] == want;
}

}  // namespace

size_t ModelMaxMapping(unsigned seg_shift, unsigned min_align_mask) {
  uint64_t lost = (uint64_t{min_align_mask} + kSlot - 1) & ~(kSlot - 1);
  return lost >= SegSize(seg_shift) ? 0 : SegSize(seg_shift) - lost;
}

PoolHarness::~PoolHarness() {
  usw_pool_destroy(&pool_);
  for (const auto& seg : segs_)
    if (seg) munmap(seg->mem, seg_size());
}

std::string PoolHarness::InitEmpty(unsigned seg_shift, unsigned max_segs, unsigned nareas) {
  int err = usw_pool_init(&pool_, seg_shift, max_segs, nareas);
  if (err) return "usw_pool_init: " + std::to_string(err);
  max_segs_ = max_segs;
  segs_.assign(max_segs, std::nullopt);
  // Rounded down to a power of two, at most one per segment the pool may hold.
  unsigned want = std::clamp(nareas, 1U, max_segs);
  while (want & (want - 1)) want &= want - 1;
  if (pool_.nareas != want)
    return "usw_pool_init: " + std::to_string(pool_.nareas) + " areas, expected " +
           std::to_string(want);
  areas_.assign(want, Area{{}, 0, 0, 0});
  return Check();
}

std::string PoolHarness::Init(const std::vector<dma_addr_t>& bus, unsigned nareas,
                              unsigned seg_shift, unsigned max_segs) {
  std::string err = InitEmpty(seg_shift, max_segs ? max_segs : bus.size(), nareas);
  if (!err.empty()) return err;
  int got;
  err = Add(bus, &got);
  if (err.empty() && got) err = "usw_pool_add: " + std::to_string(got);
  return err.empty() ? Check() : err;
}

const PoolHarness::Seg* PoolHarness::SegOf(unsigned slot) const {
  unsigned id = slot >> seg_shift();
  return id < segs_.size() && segs_[id] ? &*segs_[id] : nullptr;
}

char* PoolHarness::SlotMem(unsigned slot) const {
  return SegOf(slot)->mem + (slot & Mask()) * kSlot;
}

dma_addr_t PoolHarness::SlotBus(unsigned slot) const {
  return SegOf(slot)->bus + (slot & Mask()) * kSlot;
}

std::vector<unsigned> PoolHarness::SegIds(bool live_only) const {
  std::vector<unsigned> ids;
  for (unsigned i = 0; i < segs_.size(); i++)
    if (segs_[i] && !(live_only && segs_[i]->retiring)) ids.push_back(i);
  return ids;
}

unsigned PoolHarness::LiveSegs() const { return SegIds(true).size(); }

std::optional<unsigned> PoolHarness::ModelFindSeg(dma_addr_t bus) const {
  auto it = by_bus_.upper_bound(bus);
  if (it == by_bus_.begin()) return std::nullopt;
  --it;
  if (bus - it->first >= seg_size()) return std::nullopt;
  return it->second;
}

// Free slots from each slot to the next used one or the end of its segment.
std::vector<unsigned> PoolHarness::FreeRuns(const Seg& seg) const {
  std::vector<unsigned> run(seg_slots() + 1, 0);
  for (unsigned i = seg_slots(); i-- > 0;) run[i] = seg.owner[i] >= 0 ? 0 : 1 + run[i + 1];
  run.pop_back();
  return run;
}

unsigned PoolHarness::Avail(const Area& area) const {
  unsigned n = 0;
  for (unsigned id : area.ids) n += seg_slots() - segs_[id]->used;
  return n;
}

// Next fit: the first area in probe order from area_hint that has a place, and in it the first
// place at or after the area's cursor, circularly, along the area's list of segments.
std::optional<unsigned> PoolHarness::ExpectedHead(const usw_req& req, unsigned area_hint) const {
  unsigned n = Slots(req), shift = seg_shift();
  for (unsigned i = 0; i < areas_.size(); i++) {
    const Area& area = areas_[(area_hint + i) & (areas_.size() - 1)];
    unsigned nslots = area.ids.size() << shift;
    std::vector<std::vector<unsigned>> runs;
    for (unsigned id : area.ids) runs.push_back(FreeRuns(*segs_[id]));
    for (unsigned k = 0; k < nslots; k++) {
      unsigned j = (area.cursor + k) % nslots, s = j & Mask();
      const Seg& seg = *segs_[area.ids[j >> shift]];
      dma_addr_t first = seg.bus + s * kSlot, last = first + n * kSlot - 1;
      if (runs[j >> shift][s] >= n &&
          ((first + Offset(req)) & req.min_align_mask) == (req.orig & req.min_align_mask) &&
          !(first & req.alloc_align_mask) && !((first ^ last) & ~uint64_t{req.boundary_mask}))
        return area.ids[j >> shift] << shift | s;
    }
  }
  return std::nullopt;
}

std::string PoolHarness::CheckArea(unsigned a) const {
  Errors err;
  const usw_area& got = pool_.areas[a];
  const Area& want = areas_[a];
  if (got.nsegs != want.ids.size() || !std::equal(want.ids.begin(), want.ids.end(), got.ids)) {
    std::ostringstream os;
    os << std::dec << "area " << a << " lists segments {";
    for (unsigned i = 0; i < got.nsegs; i++) os << (i ? " " : "") << got.ids[i];
    os << "}, expected {";
    for (unsigned i = 0; i < want.ids.size(); i++) os << (i ? " " : "") << want.ids[i];
    err.Add(os.str() + "}");
  }
  if (got.index != want.cursor)
    err.Add(std::dec, "area ", a, " cursor ", got.index, ", expected ", want.cursor);
  if (got.used != want.used)
    err.Add(std::dec, "area ", a, " used ", got.used, ", expected ", want.used);
  if (got.avail != Avail(want))
    err.Add(std::dec, "area ", a, " avail ", got.avail, ", expected ", Avail(want));
  if (got.peak != want.peak)
    err.Add(std::dec, "area ", a, " peak ", got.peak, ", expected ", want.peak);
  return err.Take("");
}

std::string PoolHarness::Add(const std::vector<dma_addr_t>& bus, int* out) {
  unsigned n = bus.size();
  uint64_t size = seg_size();
  int want = 0;
  if (n > max_segs_ - by_bus_.size()) {
    want = -ENOSPC;
  } else {
    std::vector<dma_addr_t> all(bus);
    for (const auto& [b, id] : by_bus_) all.push_back(b);  // retiring ones still take space
    std::sort(all.begin(), all.end());
    for (size_t i = 0; i < all.size(); i++)
      if (all[i] % kSlot || all[i] > UINT64_MAX - size || (i && all[i] - all[i - 1] < size))
        want = -EINVAL;
  }

  std::vector<usw_seg_mem> mem(n);
  for (unsigned i = 0; i < n; i++) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return "mmap failed";
    mem[i] = {p, 0x400000000000ULL + nsegs_made_++ * 3 * size, bus[i]};
  }
  bool injecting = shim_fail_alloc_nth;
  int got = usw_pool_add(&pool_, mem.data(), n);
  bool injected = injecting && !shim_fail_alloc_nth;
  if (out) *out = got;

  std::ostringstream what;
  what << "add(" << std::hex;
  for (unsigned i = 0; i < n; i++) what << (i ? " 0x" : "0x") << bus[i];
  what << ")";
  Errors err;
  if (got != want && !(got == -ENOMEM && injected))
    err.Add("returned ", std::dec, got, ", expected ", want);
  if (got || !n || !err.empty()) {
    if (got || !n)  // else the pool holds them: a leak, in a failing test
      for (const auto& m : mem) munmap(m.vaddr, size);
    return err.Take(what.str());
  }

  // New segments take the lowest free ids, and each goes to the area with the fewest. They
  // count as touched: a whole idle period must pass before retire_idle() may take them.
  unsigned id = 0;
  for (unsigned i = 0; i < n; i++) {
    while (segs_[id]) id++;
    unsigned a = 0;
    for (unsigned b = 1; b < areas_.size(); b++)
      if (areas_[b].ids.size() < areas_[a].ids.size()) a = b;
    Seg seg{bus[i], mem[i].phys, static_cast<char*>(mem[i].vaddr), a, false, true, 0,
            std::vector<int>(seg_slots(), -1)};
    segs_[id] = std::move(seg);
    areas_[a].ids.push_back(id);
    by_bus_[bus[i]] = id;
    bus_lo_ = std::min(bus_lo_, bus[i]);
    bus_hi_ = std::max(bus_hi_, bus[i] + size);
  }
  return err.Take(what.str());
}

// Out of its area's list, the area's last segment taking its place: nothing is placed in it
// any more. The cursor keeps its number if still in the list, and an area that is all free
// places from its start.
void PoolHarness::RetireSeg(unsigned id) {
  Seg& seg = *segs_[id];
  Area& area = areas_[seg.area];
  auto pos = std::find(area.ids.begin(), area.ids.end(), id);
  *pos = area.ids.back();
  area.ids.pop_back();
  seg.retiring = true;
  unsigned nslots = area.ids.size() << seg_shift();
  if (area.cursor >= nslots || Avail(area) == nslots) area.cursor = 0;
}

std::string PoolHarness::Retire(unsigned keep, unsigned* out) {
  // The least used first, the highest id of equals.
  unsigned want = 0;
  while (LiveSegs() > keep) {
    std::optional<unsigned> best;
    for (unsigned id : SegIds(true))
      if (!best || segs_[id]->used <= segs_[*best]->used) best = id;
    RetireSeg(*best);
    want++;
  }
  unsigned got = usw_pool_retire(&pool_, keep);
  if (out) *out = got;
  return CheckRetired("retire(" + std::to_string(keep) + ")", got, want);
}

// Exactly the segments the model retired, out of their areas' lists as it says.
std::string PoolHarness::CheckRetired(const std::string& what, unsigned got,
                                      unsigned want) const {
  Errors err;
  if (got != want) err.Add("returned ", std::dec, got, ", expected ", want);
  for (unsigned id : SegIds())
    if (pool_.segs[id] && pool_.segs[id]->retiring != segs_[id]->retiring)
      err.Add(std::dec, "segment ", id, segs_[id]->retiring ? " kept" : " retired");
  for (unsigned a = 0; a < areas_.size(); a++) err.Add(CheckArea(a));
  return err.Take(what);
}

std::string PoolHarness::RetireIdle(unsigned keep, unsigned* out) {
  // Empty and untouched since the last call, the highest ids first; the kept start afresh.
  unsigned want = 0;
  for (unsigned id = max_segs_; id-- > 0;) {
    if (!segs_[id] || segs_[id]->retiring) continue;
    if (LiveSegs() > keep && !segs_[id]->used && !segs_[id]->touched) {
      RetireSeg(id);
      want++;
    }
    segs_[id]->touched = false;
  }
  unsigned got = usw_pool_retire_idle(&pool_, keep);
  if (out) *out = got;
  return CheckRetired("retire_idle(" + std::to_string(keep) + ")", got, want);
}

std::string PoolHarness::Reap(unsigned max, unsigned* out) {
  // Retiring segments that are empty, the lowest ids first when there are more than max.
  unsigned cap = std::min(max, max_segs_);
  std::vector<unsigned> want;
  for (unsigned id = 0; id < max_segs_ && want.size() < cap; id++)
    if (segs_[id] && segs_[id]->retiring && !segs_[id]->used) want.push_back(id);

  // One entry past the room given, to catch an overrun.
  std::vector<usw_seg_mem> mem(cap + 1);
  std::memset(mem.data(), 0xa5, mem.size() * sizeof(mem[0]));
  const usw_seg_mem untouched = mem[0];
  bool injecting = shim_fail_alloc_nth;
  unsigned got = usw_pool_reap(&pool_, mem.data(), cap);
  bool injected = injecting && !shim_fail_alloc_nth;
  if (out) *out = got;

  Errors err;
  if (got != want.size() && !(got == 0 && injected))
    err.Add("returned ", std::dec, got, ", expected ", want.size());
  for (unsigned i = got; i <= cap; i++)
    if (memcmp(&mem[i], &untouched, sizeof(untouched))) err.Add(std::dec, "wrote out[", i, "]");
  if (!err.empty() || !got) return err.Take("reap(" + std::to_string(max) + ")");

  // Exactly the memory each segment was given, in any order.
  auto key = [](const usw_seg_mem& m) { return std::tuple(m.bus, m.phys, m.vaddr); };
  std::vector<usw_seg_mem> expect;
  for (unsigned id : want) expect.push_back({segs_[id]->mem, segs_[id]->phys, segs_[id]->bus});
  mem.resize(got);
  auto by_key = [&](const usw_seg_mem& a, const usw_seg_mem& b) { return key(a) < key(b); };
  std::sort(mem.begin(), mem.end(), by_key);
  std::sort(expect.begin(), expect.end(), by_key);
  for (unsigned i = 0; i < got; i++)
    if (key(mem[i]) != key(expect[i]))
      err.Add("gave back {bus 0x", mem[i].bus, ", phys 0x", mem[i].phys, ", vaddr ",
              mem[i].vaddr, "}, expected {bus 0x", expect[i].bus, ", phys 0x", expect[i].phys,
              ", vaddr ", expect[i].vaddr, "}");

  for (unsigned id : want) {
    munmap(segs_[id]->mem, seg_size());
    by_bus_.erase(segs_[id]->bus);
    gone_bus_.push_back(segs_[id]->bus);
    segs_[id].reset();
  }
  // Removal narrows the bus range to the segments left.
  bus_lo_ = ~dma_addr_t{0};
  bus_hi_ = 0;
  for (const auto& [b, id] : by_bus_) {
    bus_lo_ = std::min(bus_lo_, b);
    bus_hi_ = std::max(bus_hi_, b + seg_size());
  }
  return err.Take("reap(" + std::to_string(max) + ")");
}

std::string PoolHarness::Alloc(const usw_req& req, unsigned area_hint, int* out) {
  bool invalid = !req.size || req.size > ModelMaxMapping(seg_shift(), req.min_align_mask);
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

  unsigned head = *want, s = head & Mask(), id = head >> seg_shift();
  Seg& seg = *segs_[id];
  Area& area = areas_[seg.area];
  Mapping m{head, Slots(req), req.orig, req.size, Offset(req), SlotBus(head) + Offset(req),
            SlotMem(head) + Offset(req), static_cast<unsigned char>(1 + fills_++ % 255)};
  for (unsigned i = s; i < s + m.nslots; i++) seg.owner[i] = head;
  seg.used += m.nslots;
  seg.touched = true;
  maps_[head] = m;
  used_ += m.nslots;
  area.used += m.nslots;
  area.peak = std::max(area.peak, area.used);
  unsigned nslots = area.ids.size() << seg_shift();
  unsigned rel = (std::find(area.ids.begin(), area.ids.end(), id) - area.ids.begin())
                     << seg_shift() | s;
  area.cursor = rel + m.nslots < nslots ? rel + m.nslots : 0;
  std::memset(m.bounce, m.fill, m.size);

  // The placement contract again, on the pool's own view of the mapping.
  dma_addr_t bus = usw_mapping_bus(&pool_, head);
  if (bus != m.bus) err.Add("mapping bus 0x", bus, ", expected 0x", m.bus);
  if ((bus & req.min_align_mask) != (req.orig & req.min_align_mask))
    err.Add("bus 0x", bus, " breaks min_align_mask");
  if (usw_slot_bus(&pool_, head) & req.alloc_align_mask) err.Add("breaks alloc_align_mask");
  if ((bus ^ (bus + req.size - 1)) & ~uint64_t{req.boundary_mask}) err.Add("crosses boundary");
  err.Add(CheckArea(seg.area));
  return err.Take(Describe(req, area_hint));
}

std::string PoolHarness::Free(unsigned slot, bool* out) {
  bool live = maps_.count(slot);
  // What a refused free must leave as it was: every slot, segment and area.
  struct SegState {
    std::vector<struct usw_slot> slots;
    unsigned used, pos;
    bool touched, retiring;
  };
  std::vector<SegState> segs_before;
  std::vector<usw_area> areas_before(pool_.areas, pool_.areas + pool_.nareas);
  if (!live) {
    for (unsigned id : SegIds()) {
      const usw_seg* s = pool_.segs[id];
      if (!s) return "free(" + std::to_string(slot) + "): segment " + std::to_string(id) + " missing";
      segs_before.push_back({std::vector<struct usw_slot>(s->slots, s->slots + seg_slots()), s->used,
                             s->pos, s->touched, s->retiring});
    }
  }
  Errors err;
  // Its data must have survived everything since it was mapped.
  if (live && !FillIntact(maps_[slot], true)) err.Add("data clobbered before the free");
  bool got = usw_pool_free(&pool_, slot);
  if (out) *out = got;

  if (got != live) {
    err.Add("returned ", got, ", expected ", live);
  } else if (!live) {
    std::vector<unsigned> ids = SegIds();
    for (size_t i = 0; i < ids.size(); i++) {
      const usw_seg* s = pool_.segs[ids[i]];
      const SegState& b = segs_before[i];
      if (memcmp(b.slots.data(), s->slots, seg_slots() * sizeof(struct usw_slot)) ||
          b.used != s->used || b.pos != s->pos || b.touched != s->touched ||
          b.retiring != s->retiring)
        err.Add(std::dec, "a refused free changed segment ", ids[i]);
    }
    for (unsigned a = 0; a < pool_.nareas; a++) {
      const usw_area &was = areas_before[a], &is = pool_.areas[a];
      if (was.index != is.index || was.used != is.used || was.avail != is.avail ||
          was.peak != is.peak || was.nsegs != is.nsegs)
        err.Add(std::dec, "a refused free changed area ", a);
    }
  } else {
    const Mapping& m = maps_[slot];
    unsigned s = m.head & Mask(), id = m.head >> seg_shift();
    Seg& seg = *segs_[id];
    Area& area = areas_[seg.area];
    for (unsigned i = s; i < s + m.nslots; i++) seg.owner[i] = -1;
    seg.used -= m.nslots;
    used_ -= m.nslots;
    area.used -= m.nslots;
    // Only a listed segment moves the cursor: an area all free places from its start;
    // otherwise the cursor steps back over a mapping freed right behind it, and only then.
    if (!seg.retiring) {
      unsigned nslots = area.ids.size() << seg_shift();
      unsigned rel = (std::find(area.ids.begin(), area.ids.end(), id) - area.ids.begin())
                         << seg_shift() | s;
      unsigned end = rel + m.nslots < nslots ? rel + m.nslots : 0;
      if (Avail(area) == nslots)
        area.cursor = 0;
      else if (end == area.cursor)
        area.cursor = rel;
    }
    err.Add(CheckArea(seg.area));
    maps_.erase(slot);
  }
  return err.Take("free(" + std::to_string(slot) + ")");
}

void PoolHarness::ResetHiwater() {
  usw_pool_reset_hiwater(&pool_);
  for (Area& a : areas_) a.peak = a.used;
}

std::string PoolHarness::Resolve(dma_addr_t bus, size_t size) const {
  return Resolve(bus, size, ModelFindSeg(bus));
}

// Takes the model's segment for bus, which the caller may know already.
std::string PoolHarness::Resolve(dma_addr_t bus, size_t size, std::optional<unsigned> id) const {
  usw_ref ref{~0U, nullptr, 0};
  int got;
  {
    RcuRead rcu;
    got = usw_pool_resolve(&pool_, bus, size, &ref);
  }
  const Mapping* m = nullptr;
  uint64_t off = 0;
  int want = -ENOENT;
  if (id) {
    const Seg& ms = *segs_[*id];
    int owner = ms.owner[(bus - ms.bus) / kSlot];
    want = -EINVAL;
    if (owner >= 0) {
      m = &maps_.at(owner);
      off = bus - m->bus;
      if (bus >= m->bus && off < m->size && size <= m->size - off) want = 0;
    }
  }
  if (got == want &&
      (want || (ref.head == m->head && ref.orig == m->orig + off && ref.bounce == m->bounce + off)))
    return {};
  Errors err;
  if (got != want)
    err.Add("returned ", std::dec, got, ", expected ", want);
  else
    err.Add("ref {head ", std::dec, ref.head, ", orig 0x", std::hex, ref.orig,
            "}, expected {head ", std::dec, m->head, ", orig 0x", std::hex, m->orig + off,
            "} and bounce ", static_cast<void*>(m->bounce + off));
  std::ostringstream what;
  what << std::hex << "resolve(0x" << bus << ", 0x" << size << ")";
  return err.Take(what.str());
}

std::string PoolHarness::Check() const {
  Errors err;
  unsigned shift = seg_shift(), nretiring = 0;
  std::vector<unsigned> ids = SegIds();
  if (pool_.max_segs != max_segs_ || pool_.nareas != areas_.size())
    err.Add(std::dec, "pool shape {max_segs ", pool_.max_segs, ", nareas ", pool_.nareas, "}");
  for (unsigned id = 0; id < max_segs_; id++)
    if (!pool_.segs[id] != !segs_[id])
      err.Add(std::dec, "segs[", id, "] is ", pool_.segs[id] ? "set" : "NULL");
  for (unsigned id : ids) {
    const Seg& ms = *segs_[id];
    const usw_seg* s = pool_.segs[id];
    if (!s) continue;
    nretiring += ms.retiring;
    const auto& list = areas_[ms.area].ids;
    unsigned pos = std::find(list.begin(), list.end(), id) - list.begin();
    if (s->vaddr != ms.mem || s->phys != ms.phys || s->bus != ms.bus || s->id != id ||
        s->area != ms.area || s->retiring != ms.retiring || s->touched != ms.touched ||
        s->used != ms.used || (!ms.retiring && s->pos != pos))
      err.Add(std::dec, "segment ", id, " is {bus 0x", std::hex, s->bus, ", id ", std::dec,
              s->id, ", area ", s->area, ", pos ", s->pos, ", used ", s->used, ", retiring ",
              s->retiring, ", touched ", s->touched, "}, expected {bus 0x", std::hex, ms.bus,
              ", id ", std::dec, id, ", area ", ms.area, ", pos ", pos, ", used ", ms.used,
              ", retiring ", ms.retiring, ", touched ", ms.touched, "}");

    std::vector<unsigned> run = FreeRuns(ms);
    for (unsigned s_i = 0; s_i < seg_slots(); s_i++) {
      unsigned slot = id << shift | s_i;
      int owner = ms.owner[s_i];
      u16 want = owner >= 0 ? USW_SLOT_USED | (slot - owner) : run[s_i];
      if (s->slots[s_i].state != want)
        err.Add(std::dec, "slot ", slot, " state 0x", std::hex, s->slots[s_i].state,
                ", expected 0x", want);
      if (usw_slot_seg(&pool_, slot) != s || usw_slot(&pool_, slot) != &s->slots[s_i] ||
          usw_slot_bus(&pool_, slot) != SlotBus(slot) ||
          usw_slot_vaddr(&pool_, slot) != SlotMem(slot) ||
          usw_slot_phys(&pool_, slot) != ms.phys + s_i * kSlot)
        err.Add(std::dec, "slot ", slot, " translates wrongly");
      // One address per slot, at a varying byte.
      err.Add(Resolve(SlotBus(slot) + slot * 977 % kSlot, 1, id));
    }
  }
  if (pool_.nsegs != ids.size() || pool_.nretiring != nretiring)
    err.Add(std::dec, "nsegs ", pool_.nsegs, ", nretiring ", pool_.nretiring, ", expected ",
            ids.size(), ", ", nretiring);
  if (usw_pool_nslots(&pool_) != (ids.size() - nretiring) << shift)
    err.Add(std::dec, "nslots ", usw_pool_nslots(&pool_));

  for (const auto& [head, m] : maps_) {
    const struct usw_slot* s = usw_slot(&pool_, head);
    if (s->orig != m.orig || s->size != m.size || s->offset != m.offset)
      err.Add(std::dec, "head ", head, " holds {orig 0x", std::hex, s->orig, ", size 0x",
              s->size, ", offset 0x", s->offset, "}");
    if (usw_mapping_bus(&pool_, head) != m.bus ||
        static_cast<char*>(usw_slot_vaddr(&pool_, head)) + m.offset != m.bounce)
      err.Add(std::dec, "mapping at head ", head, " moved");
    if (!FillIntact(m, false)) err.Add(std::dec, "mapping at head ", head, " clobbered");
    dma_addr_t bus = m.bus;
    for (auto [b, size] : {std::pair{bus, m.size}, {bus + m.size - 1, 1}, {bus, m.size + 1},
                           {bus - 1, 1}, {bus + m.size, 1}})
      err.Add(Resolve(b, size));
  }

  for (unsigned a = 0; a < areas_.size(); a++) err.Add(CheckArea(a));
  long peaks = 0;
  for (const Area& a : areas_) peaks += a.peak;
  if (usw_pool_used(&pool_) != static_cast<unsigned long>(used_))
    err.Add(std::dec, "used ", usw_pool_used(&pool_), ", expected ", used_);
  if (usw_pool_hiwater(&pool_) != static_cast<unsigned long>(peaks))
    err.Add(std::dec, "hiwater ", usw_pool_hiwater(&pool_), ", expected ", peaks);

  // Adding widens the bus range, removing narrows it to the segments left.
  if (pool_.bus_lo != bus_lo_ || pool_.bus_hi != bus_hi_)
    err.Add("bus range [0x", pool_.bus_lo, ", 0x", pool_.bus_hi, "), expected [0x", bus_lo_,
            ", 0x", bus_hi_, ")");
  // find_seg() around every segment, and at the addresses of removed ones (the latest few).
  RcuRead rcu;
  auto probe = [&](dma_addr_t b) {
    std::optional<unsigned> id = ModelFindSeg(b);
    const usw_seg* want = id ? pool_.segs[*id] : nullptr;
    if (usw_pool_find_seg(&pool_, b) != want) err.Add("find_seg(0x", b, ") wrong");
    if (want && !usw_pool_may_contain(&pool_, b)) err.Add("may_contain(0x", b, ") false");
  };
  for (unsigned id : ids) {
    dma_addr_t b = segs_[id]->bus;
    for (dma_addr_t p : {b - 1, b, b + kSlot, b + seg_size() - 1, b + seg_size()}) probe(p);
  }
  for (size_t i = gone_bus_.size() > 64 ? gone_bus_.size() - 64 : 0; i < gone_bus_.size(); i++)
    for (dma_addr_t p : {gone_bus_[i], gone_bus_[i] + seg_size() / 2, gone_bus_[i] + seg_size() - 1})
      probe(p);
  return err.Take("check");
}

}  // namespace usw_test
