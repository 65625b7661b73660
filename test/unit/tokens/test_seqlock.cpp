// core/tokens/seqlock: the token store's readers' retry, the writer's odd
// counter, and the dead writer found by the next one.
#include "unit.hpp"

#include "core/tokens/seqlock.hpp"

using namespace oauth;

namespace {

struct LockCount {
    int locked = 0;
    int unlocked = 0;
};

void count_lock(void *context) {
    ++static_cast<LockCount *>(context)->locked;
}
void count_unlock(void *context) {
    ++static_cast<LockCount *>(context)->unlocked;
}

void a_writer_keeps_the_counter_odd_under_the_lock(void **) {
    std::atomic<uint32_t> seq{4};
    LockCount count;
    StoreLock lock{&count, count_lock, count_unlock};
    {
        seqlock::Write write(seq, lock);
        assert_false(write.found_dead_writer());
        assert_int_equal(seq.load(), 5);
        assert_int_equal(count.locked, 1);
        assert_int_equal(count.unlocked, 0);
    }
    assert_int_equal(seq.load(), 6);
    assert_int_equal(count.unlocked, 1);
}

void the_next_writer_finds_a_dead_one(void **) {
    std::atomic<uint32_t> seq{7};  // a writer died mid-change
    {
        seqlock::Write write(seq, StoreLock{});
        assert_true(write.found_dead_writer());
        assert_int_equal(seq.load(), 7);  // still odd while it repairs
    }
    assert_int_equal(seq.load(), 8);
}

void a_reader_retries_when_a_writer_changed_something(void **) {
    std::atomic<uint32_t> seq{2};
    int reads = 0;
    bool found = seqlock::read_consistently(
        seq,
        [&] {
            if (++reads == 1) {
                seq += 2;  // a whole write while this read ran
            }
            return reads == 2;
        },
        [] {
            fail_msg("no lock needed");
            return false;
        });
    assert_true(found);
    assert_int_equal(reads, 2);
}

void a_reader_takes_the_lock_when_the_counter_stays_odd(void **) {
    std::atomic<uint32_t> seq{3};
    int unlocked_reads = 0;
    bool found = seqlock::read_consistently(
        seq,
        [&] {
            ++unlocked_reads;
            return false;
        },
        [] { return true; });
    assert_true(found);
    assert_int_equal(unlocked_reads, 0);
}

void a_lock_free_reader_takes_a_stuck_writer_for_dead_once(void **) {
    std::atomic<uint32_t> seq{9};
    seqlock::LockFreeReader reader(seq);
    int reads = 0;
    assert_true(reader.read([&] { return ++reads > 0; }));
    assert_int_equal(reads, 1);
    // The same odd count again: read at once, without waiting for it.
    assert_true(reader.read([&] { return ++reads > 0; }));
    assert_int_equal(reads, 2);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_writer_keeps_the_counter_odd_under_the_lock),
        cmocka_unit_test(the_next_writer_finds_a_dead_one),
        cmocka_unit_test(a_reader_retries_when_a_writer_changed_something),
        cmocka_unit_test(a_reader_takes_the_lock_when_the_counter_stays_odd),
        cmocka_unit_test(a_lock_free_reader_takes_a_stuck_writer_for_dead_once),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
