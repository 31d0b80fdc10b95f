// The running kernel's upstream version and the UFFDIO_MOVE quirks known for it
// (design: .install.quirks; research/kernel.md §1.5, §1.6).
#pragma once

#include <compare>
#include <cstdint>

namespace uffdgc::uffd {

struct KernelVersion {
  uint32_t major = 0, minor = 0, patch = 0;
  friend auto operator<=>(const KernelVersion&, const KernelVersion&) = default;
};

// Parses the leading "X.Y[.Z]" of a release string ("6.18.44-fc-v669" -> 6.18.44).
bool parse_kernel_version(const char* text, KernelVersion* out);

// The upstream version of the running kernel. Distribution kernels hide the stable patch
// level in uname -r ("6.1.0-18-amd64"), so the real one is taken from /proc/version_signature
// (Ubuntu) or the "Debian X.Y.Z" tag of uname -v when present. Returns false if unparsable.
bool running_kernel_version(KernelVersion* out, char* release, unsigned release_size);

// UFFDGC_QUIRK_* bits for a kernel version.
uint32_t kernel_quirks(const KernelVersion& v);

}  // namespace uffdgc::uffd
