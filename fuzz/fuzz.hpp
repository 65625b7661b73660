// Shared by the libFuzzer targets: a broken invariant is a crash, with the
// condition and the line, so that libFuzzer saves the input that broke it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(condition)                                                                      \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #condition); \
            std::abort();                                                                          \
        }                                                                                          \
    } while (0)

namespace fuzz {

inline std::string_view text(const uint8_t *data, size_t size) {
    return {reinterpret_cast<const char *>(data), size};
}

// Takes bytes off the front of the input; zeros once it runs out.
class Bytes {
  public:
    Bytes(const uint8_t *data, size_t size) : data_(data), size_(size) {}

    bool empty() const { return size_ == 0; }

    uint8_t byte() {
        if (size_ == 0) {
            return 0;
        }
        --size_;
        return *data_++;
    }

    uint16_t u16() { return uint16_t(byte() | byte() << 8); }

  private:
    const uint8_t *data_;
    size_t size_;
};

}  // namespace fuzz
