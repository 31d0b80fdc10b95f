#include "gc/barrier/remembered_log.h"

#include <new>

namespace uffdgc::gc {

bool RememberedLog::allocate() noexcept {
  entries_.reset(new (std::nothrow) uffdgc_ref[2 * kPairs]);
  if (entries_ == nullptr) return false;
  fast_->remembered_cursor = entries_.get();
  fast_->remembered_limit = entries_.get() + 2 * kPairs;
  return true;
}

}  // namespace uffdgc::gc
