// cmocka, with the headers it expects before it.
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

// cmocka 1.1.5 (Debian 12) declares its functions without extern "C".
extern "C" {
#include <cmocka.h>
}

#include <string>
#include <string_view>

// assert_string_equal for string_view and std::string alike.
#define assert_text(actual, expected) \
    assert_string_equal(std::string(actual).c_str(), std::string(expected).c_str())
