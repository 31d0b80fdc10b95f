#include "os/process_maps.h"

#include <cerrno>
#include <cstdio>

namespace uffdgc::os {

int read_process_mappings(std::vector<Mapping>& out) {
  out.clear();
  FILE* maps = fopen("/proc/self/maps", "re");
  if (maps == nullptr) return errno;
  unsigned long lo = 0, hi = 0;
  char line[512];
  while (fgets(line, sizeof line, maps) != nullptr) {
    if (sscanf(line, "%lx-%lx", &lo, &hi) == 2) out.push_back({lo, hi});
  }
  fclose(maps);
  return 0;
}

}  // namespace uffdgc::os
