// Which sanitizer a test binary runs under, for the few tests that must skip there. g++ says so
// with __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__, clang (the ASan tree's compiler) with
// __has_feature.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define VSTOR_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VSTOR_UNDER_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define VSTOR_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VSTOR_UNDER_TSAN 1
#endif
#endif
