// OS layer (design: .os.contract): the process's mappings as /proc/self/maps lists them.
// Contract: returns 0 or an errno (fopen's); not async-signal-safe (stdio, allocation).
#pragma once

#include <cstdint>
#include <vector>

namespace uffdgc::os {

struct Mapping {
  uint64_t begin;  // first byte
  uint64_t end;    // one past the last byte
};

// Fills `out` with every mapping of the process, in address order (the kernel's).
int read_process_mappings(std::vector<Mapping>& out);

}  // namespace uffdgc::os
