// core/zone_layout: where each table of a zone lies, the smallest zone, and
// the token capacity that nginx -t tells.
#include "unit.hpp"

#include <vector>

#include "core/tokens/revocation_list.hpp"
#include "core/tokens/token_store.hpp"
#include "core/zone_layout.hpp"

using namespace oauth;

namespace {

constexpr size_t kPage = 4096;
// nginx 1.22 on x86-64: ngx_slab_pool_t, ngx_slab_page_t, ngx_slab_stat_t.
constexpr SlabGeometry kSlab{kPage, 12, 3, 200, 24, 32};
// ZoneRegions (256-byte class), a log context (64-byte class), ZoneState.
constexpr ZoneRecords kRecords{152, 40, 248};

const ZoneOptions kEveryOptions[] = {{false, false}, {true, false}, {false, true}, {true, true}};

std::vector<ZoneRegion> regions_of(const ZoneLayout &layout) {
    std::vector<ZoneRegion> regions{layout.throttle,    layout.metrics, layout.verdicts,
                                    layout.revocations, layout.replays, layout.tokens};
    for (const ZoneRegion &optional : {layout.changes, layout.outbox}) {
        if (optional.size != 0) {
            regions.push_back(optional);
        }
    }
    return regions;
}

void check_laid_out(size_t zone, const ZoneOptions &options) {
    ZoneLayout layout = ZoneLayout::of(zone, options, kRecords, kSlab);
    assert_true(layout.fits);
    assert_int_equal(layout.changes.size != 0, options.state_file);
    assert_int_equal(layout.outbox.size != 0, options.fleet);
    const size_t pool = kSlab.pages_in(zone) * kPage;
    std::vector<ZoneRegion> regions = regions_of(layout);
    for (size_t i = 0; i < regions.size(); ++i) {
        const ZoneRegion &a = regions[i];
        assert_int_equal(a.offset % kPage, 0);
        assert_int_equal(a.size % kPage, 0);
        assert_true(a.size > 0);
        assert_true(a.offset + a.size <= pool);
        for (size_t j = i + 1; j < regions.size(); ++j) {
            const ZoneRegion &b = regions[j];
            assert_true(a.offset + a.size <= b.offset || b.offset + b.size <= a.offset);
        }
    }
    // The token store takes every page left, up to the pool's last.
    assert_int_equal(layout.tokens.offset + layout.tokens.size, pool);
}

void every_region_lies_in_the_zone_aligned_and_apart(void **) {
    for (const ZoneOptions &options : kEveryOptions) {
        size_t minimum = ZoneLayout::minimum_size(options, kRecords, kSlab);
        for (size_t zone = minimum; zone < 4 * 1024 * 1024; zone += 1024) {
            check_laid_out(zone, options);
        }
        for (size_t zone : {size_t{16} << 20, size_t{128} << 20, size_t{1} << 30}) {
            check_laid_out(zone, options);
        }
    }
}

void the_minimum_is_the_smallest_zone_that_lays_out(void **) {
    const size_t none = ZoneLayout::minimum_size({}, kRecords, kSlab);
    for (const ZoneOptions &options : kEveryOptions) {
        size_t minimum = ZoneLayout::minimum_size(options, kRecords, kSlab);
        assert_true(ZoneLayout::of(minimum, options, kRecords, kSlab).fits);
        assert_false(ZoneLayout::of(minimum - 1, options, kRecords, kSlab).fits);
        assert_int_equal(ZoneLayout::of(minimum - 1, options, kRecords, kSlab).token_capacity(), 0);
        assert_true(options.state_file || options.fleet ? minimum > none : minimum == none);
    }
}

// With a state file and a fleet, 160k lays out but 162k does not: the
// revocation list, the replay cache, the verdicts and the counters each grow
// a page there.
void the_minimum_lies_past_the_last_size_that_does_not_lay_out(void **) {
    const ZoneOptions both{true, true};
    assert_true(ZoneLayout::of(160 * 1024, both, kRecords, kSlab).fits);
    assert_false(ZoneLayout::of(162 * 1024, both, kRecords, kSlab).fits);
    assert_int_equal(ZoneLayout::minimum_size(both, kRecords, kSlab), 164 * 1024);
}

void the_capacity_told_is_what_the_store_gets(void **) {
    for (const ZoneOptions &options : kEveryOptions) {
        for (size_t zone : {size_t{1} << 20, size_t{16} << 20, size_t{100} << 20}) {
            ZoneLayout layout = ZoneLayout::of(zone, options, kRecords, kSlab);
            assert_int_equal(layout.token_capacity(), TokenStore::capacity_for(layout.tokens.size));
            assert_int_equal(layout.revocation_capacity(),
                             RevocationList::capacity_for(layout.revocations.size));
            assert_true(layout.token_capacity() > 0);
        }
    }
}

// The shares of a 16m zone, as zone.cpp laid them out before this file.
void a_16m_zone_keeps_its_shares_and_order(void **) {
    const size_t zone = size_t{16} << 20;
    ZoneLayout layout = ZoneLayout::of(zone, {true, true}, kRecords, kSlab);
    assert_int_equal(layout.throttle.offset, 2 * kPage);  // after the records' two pages
    assert_int_equal(layout.throttle.size, zone / 32);
    assert_int_equal(layout.metrics.offset, layout.throttle.offset + layout.throttle.size);
    assert_int_equal(layout.metrics.size, zone / 64);
    assert_int_equal(layout.verdicts.size, zone / 32);
    assert_int_equal(layout.revocations.size, zone / 8);
    assert_int_equal(layout.replays.offset, layout.revocations.offset + layout.revocations.size);
    assert_int_equal(layout.replays.size, zone / 32);
    assert_int_equal(layout.changes.offset, layout.replays.offset + layout.replays.size);
    assert_int_equal(layout.changes.size, zone / 64);
    assert_int_equal(layout.outbox.size, zone / 128);
    // ZoneState shares the page of ZoneRegions' size class.
    assert_int_equal(layout.tokens.offset, layout.outbox.offset + layout.outbox.size);
}

void a_record_of_a_new_size_class_takes_a_page(void **) {
    const size_t zone = size_t{1} << 20;
    ZoneLayout shared = ZoneLayout::of(zone, {}, kRecords, kSlab);
    ZoneLayout apart = ZoneLayout::of(zone, {}, {136, 40, 1500}, kSlab);
    assert_int_equal(apart.tokens.offset, shared.tokens.offset + kPage);
    assert_int_equal(apart.tokens.size, shared.tokens.size - kPage);
    // A long zone name: its log context shares ZoneRegions' page.
    ZoneLayout long_name = ZoneLayout::of(zone, {}, {136, 200, 248}, kSlab);
    assert_int_equal(long_name.throttle.offset, kPage);
    // A record over half a page takes whole pages.
    ZoneLayout large = ZoneLayout::of(zone, {}, {136, 40, 5000}, kSlab);
    assert_int_equal(large.tokens.offset, shared.tokens.offset + 2 * kPage);
}

// ngx_slab_init: 9 slots of bookkeeping after the pool's header, a
// descriptor per page, and the pages from the next page boundary.
void the_slab_pool_counts_its_pages_as_nginx_does(void **) {
    const size_t bookkeeping = 200 + 9 * (24 + 32);
    assert_int_equal(kSlab.pages_in(bookkeeping), 0);
    assert_int_equal(kSlab.pages_in(2 * kPage), 1);
    // 1m: 254 descriptors fit, but their pages start at 8192: 254 pages remain.
    size_t pages = ((size_t{1} << 20) - bookkeeping) / (kPage + 24);
    assert_int_equal(pages, 254);
    assert_int_equal(kSlab.pages_in(size_t{1} << 20), 254);
    assert_int_equal(kSlab.slot_of(1), 0);
    assert_int_equal(kSlab.slot_of(8), 0);
    assert_int_equal(kSlab.slot_of(9), 1);
    assert_int_equal(kSlab.slot_of(2048), 8);
    assert_int_equal(kSlab.pages_of(4097), 2);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_region_lies_in_the_zone_aligned_and_apart),
        cmocka_unit_test(the_minimum_is_the_smallest_zone_that_lays_out),
        cmocka_unit_test(the_minimum_lies_past_the_last_size_that_does_not_lay_out),
        cmocka_unit_test(the_capacity_told_is_what_the_store_gets),
        cmocka_unit_test(a_16m_zone_keeps_its_shares_and_order),
        cmocka_unit_test(a_record_of_a_new_size_class_takes_a_page),
        cmocka_unit_test(the_slab_pool_counts_its_pages_as_nginx_does),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
