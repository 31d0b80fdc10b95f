// Which sanitizer this test build runs under (the asan and tsan presets), for tests whose
// behaviour depends on the build rather than the machine: GCC defines __SANITIZE_*__, clang
// answers __has_feature.
#pragma once

namespace uffdgc::test {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif
#else
inline constexpr bool kAddressSanitizer = false;
#endif

#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif
#else
inline constexpr bool kThreadSanitizer = false;
#endif

// ASan and TSan reserve terabytes of shadow address space and intercept mlock (a no-op there).
inline constexpr bool kSanitizerShadow = kAddressSanitizer || kThreadSanitizer;

}  // namespace uffdgc::test
