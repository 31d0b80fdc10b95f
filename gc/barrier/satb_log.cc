#include "gc/barrier/satb_log.h"

namespace uffdgc::gc {

SatbLog::SatbLog(uffdgc_mutator_fast& fast)
    : fast_(&fast), entries_(std::make_unique_for_overwrite<uffdgc_ref[]>(kEntries)) {
  fast_->satb_cursor = entries_.get();
  fast_->satb_limit = entries_.get() + kEntries;
}

std::vector<uffdgc_ref> SatbLog::take() {
  std::vector<uffdgc_ref> out(begin(), end());
  clear();
  return out;
}

}  // namespace uffdgc::gc
