#include "tests/support/require.h"

#include <cstdlib>
#include <sstream>

#include "uffdgc/uffdgc.h"

namespace uffdgc::test {

bool capability_required(const std::string& capability) {
  const char* list = std::getenv("UFFDGC_TEST_REQUIRE");
  if (list == nullptr) return false;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    if (item == capability || item == "all") return true;
  }
  return false;
}

const char* mode_capability(uint32_t mode) {
  switch (mode) {
    case UFFDGC_MODE_MOVE:
      return "move";
    case UFFDGC_MODE_COPY:
      return "copy";
    default:
      return "stw";
  }
}

uint32_t test_mode() {
  const char* m = std::getenv("UFFDGC_TEST_MODE");
  const std::string mode = m != nullptr ? m : "";
  if (mode == "move") return UFFDGC_MODE_MOVE;
  if (mode == "copy") return UFFDGC_MODE_COPY;
  if (mode == "auto") return UFFDGC_MODE_AUTO;
  return UFFDGC_MODE_STW;
}

}  // namespace uffdgc::test
