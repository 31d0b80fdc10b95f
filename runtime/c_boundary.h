// The C ABI's exception boundary (include/uffdgc/uffdgc.h: "never throws"): no C++ exception
// leaves an extern "C" function. Each entry point that can allocate (a vector or map that
// grows, new, a std::thread) runs its body through one of these:
//   guard     for entry points that return a result code: std::bad_alloc becomes
//             UFFDGC_ENOMEM; std::system_error (a thread or mutex the C++ library could not
//             create) and anything else UFFDGC_EINTERNAL.
//   guard_or  for entry points that return a value: the documented fallback (NULL, 0).
//   or_abort  for code that cannot stop half-way (a pause with the world stopped, the write
//             barrier's log): the process ends with a message naming the place and the
//             exception, rather than the heap going on with a lost mark or a lost log entry.
// The happy path costs nothing (table-based unwinding); callers keep their state consistent by
// allocating before they change anything.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <system_error>
#include <type_traits>

#include "gc/no_unwind.h"
#include "uffdgc/uffdgc.h"

namespace uffdgc::runtime {

using gc::or_abort;

// The result code for the exception being handled. Only inside a catch block.
inline uffdgc_result result_of_current_exception() noexcept {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return UFFDGC_ENOMEM;
  } catch (const std::system_error&) {
    return UFFDGC_EINTERNAL;
  } catch (...) {
    return UFFDGC_EINTERNAL;
  }
}

template <typename Fn>
uffdgc_result guard(Fn&& fn) noexcept {
  try {
    return fn();
  } catch (...) {
    return result_of_current_exception();
  }
}

template <typename T, typename Fn>
T guard_or(T fallback, Fn&& fn) noexcept {
  try {
    return fn();
  } catch (...) {
    return fallback;
  }
}

}  // namespace uffdgc::runtime
