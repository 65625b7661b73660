// The opening words of a table of slots laid over a zone's memory (the
// revocation list, the change log, the fleet's outbox): what format() wrote
// there, so that a region of another build, kind or size is never read as one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

namespace oauth {

struct SlotRegionHeader {
    uint64_t magic;
    uint32_t version;
    uint32_t slot_count;
    uint64_t size;
};

// A kind of table: its stamp, the least region it takes, and where and how
// big its slots are.
struct SlotRegionShape {
    uint64_t magic;
    uint32_t version;
    size_t min_size;
    size_t slots_offset;
    size_t slot_size;

    uint32_t slots_in(size_t size) const noexcept {
        return uint32_t((size - slots_offset) / slot_size);
    }
    bool fits(const void *region, size_t size, size_t alignment) const noexcept {
        return size >= min_size && reinterpret_cast<uintptr_t>(region) % alignment == 0;
    }
};

// Zeroes `region` and opens it with a `Header` (a SlotRegionHeader and the
// table's own fields). False when the region is too small or misaligned.
template <class Header>
bool format_slot_region(void *region, size_t size, const SlotRegionShape &shape) noexcept {
    if (!shape.fits(region, size, alignof(Header)) || sizeof(Header) > shape.slots_offset) {
        return false;
    }
    std::memset(region, 0, size);
    Header *header = new (region) Header{};
    header->magic = shape.magic;
    header->version = shape.version;
    header->slot_count = shape.slots_in(size);
    header->size = size;
    return true;
}

// True when format_slot_region() wrote `region` for this shape and size.
template <class Header>
bool is_slot_region(const void *region, size_t size, const SlotRegionShape &shape) noexcept {
    if (!shape.fits(region, size, alignof(Header))) {
        return false;
    }
    const auto *header = static_cast<const Header *>(region);
    return header->magic == shape.magic && header->version == shape.version &&
           header->size == size && header->slot_count == shape.slots_in(size);
}

}  // namespace oauth
