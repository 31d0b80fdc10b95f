// Code that cannot stop half-way (a pause with the world stopped, a mark that must not be
// lost, the write barrier's log): an exception escaping it ends the process with a message
// naming the place and the exception, rather than the heap going on inconsistent. The ABI's
// own exception boundary (runtime/c_boundary.h) builds on this.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>

namespace uffdgc::gc {

// Prints "uffdgc: <what> failed in <where>" and aborts. Only inside a catch block.
[[noreturn]] inline void abort_on_current_exception(const char* where) noexcept {
  const char* what = "an unknown exception";
  try {
    throw;
  } catch (const std::bad_alloc&) {
    what = "out of memory";
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  std::fprintf(stderr, "uffdgc: %s in %s: the heap cannot stay consistent\n", what, where);
  std::fflush(stderr);
  std::abort();
}

template <typename Fn>
decltype(auto) or_abort(const char* where, Fn&& fn) noexcept {
  try {
    return fn();
  } catch (...) {
    abort_on_current_exception(where);
  }
}

}  // namespace uffdgc::gc
