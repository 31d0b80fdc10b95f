// The kernel touching heap memory (issue 11 §2, uffdgc_prepare_kernel_access): with
// UFFD_FEATURE_SIGBUS a syscall that reads or writes a to-space page not produced yet fails with
// EFAULT and no signal, and an object can move under a blocking call. Each test holds the GC thread
// right after the flip (runtime/test_access.h, set_after_flip_hook), so the to-space is empty when
// the kernel meets it, then prepares the buffer and checks the bytes. In move, copy and
// stop-the-world.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "runtime/heap.h"
#include "runtime/test_access.h"
#include "tests/support/flip_gate.h"
#include "tests/support/require.h"
#include "uffdgc/uffdgc.h"

namespace {

constexpr uint32_t kLengthOffset = 8;
constexpr uint32_t kPayload = 16;  // bytes start here

uint8_t Pattern(uint64_t seed, size_t i) {
  return static_cast<uint8_t>((seed * 131 + i * 7 + (i >> 9)) & 0xff);
}

using uffdgc::test::FlipGate;

class KernelAccess : public ::testing::TestWithParam<uint32_t> {
 protected:
  void SetUp() override {
    uffdgc_heap_options o{};
    o.struct_size = sizeof o;
    o.mode = GetParam();
    o.flags = UFFDGC_HEAP_VERIFY;
    o.heap_limit = 64u << 20;
    o.trigger_allocated = 1ull << 40;  // collections only when asked
    o.large_object_threshold = 4u << 20;  // the buffers live in the moving space
    UFFDGC_CREATE_HEAP_OR_SKIP(o, heap_);
    uffdgc_type_info t{};
    t.struct_size = sizeof t;
    t.flags = UFFDGC_TYPE_VARIABLE | UFFDGC_TYPE_LEAF;
    t.base_size = kPayload;
    t.elem_size = 1;
    t.length_offset = kLengthOffset;
    t.name = "bytes";
    ASSERT_EQ(uffdgc_type_register(heap_, &t, &bytes_), UFFDGC_OK);
    ASSERT_EQ(uffdgc_mutator_attach(heap_, nullptr, &m_), UFFDGC_OK);
    ASSERT_EQ(uffdgc_handle_scope_open(m_, &scope_), UFFDGC_OK);
  }
  void TearDown() override {
    if (heap_ == nullptr) return;
    Release();
    uffdgc_handle_scope_close(m_, &scope_);
    uffdgc_mutator_detach(m_);
    EXPECT_EQ(uffdgc_heap_destroy(heap_), UFFDGC_OK);
  }
  bool concurrent() const { return GetParam() != UFFDGC_MODE_STW; }

  // A byte array of `length` bytes (pattern `seed`) behind garbage, so it slides; rooted.
  uffdgc_ref* Buffer(size_t length, uint64_t seed) {
    uffdgc_ref garbage = 0, r = 0;
    EXPECT_EQ(uffdgc_alloc(m_, bytes_, 200000, UFFDGC_ALLOC_DEFAULT, &garbage), UFFDGC_OK);
    EXPECT_EQ(uffdgc_alloc(m_, bytes_, length, UFFDGC_ALLOC_DEFAULT, &r), UFFDGC_OK);
    for (size_t i = 0; i < length; ++i) Data(r)[i] = Pattern(seed, i);
    return uffdgc_handle_new(m_, r);
  }
  static uint8_t* Data(uffdgc_ref r) { return reinterpret_cast<uint8_t*>(r + kPayload); }

  // Collects and holds the GC thread after the flip (concurrent modes): the to-space is empty.
  void CollectAndHold() {
    gate_ = std::make_unique<FlipGate>();
    gate_->install(heap_);
    ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);
    while (concurrent() && !gate_->held.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  void Release() {
    if (gate_ == nullptr) return;
    gate_->release.store(true);
    gate_->wait_left();
    uffdgc::test_access::set_after_flip_hook(heap_, nullptr, nullptr);
    gate_.reset();
  }

  uffdgc_heap* heap_ = nullptr;
  uffdgc_mutator* m_ = nullptr;
  uffdgc_handle_scope scope_{};
  uint32_t bytes_ = 0;
  std::unique_ptr<FlipGate> gate_;
};

TEST_P(KernelAccess, WriteOfAnUntouchedBufferToAPipeIsWholeAndRight) {
  constexpr size_t kLen = 64 << 10;
  uffdgc_ref* unprepared = Buffer(kLen, 1);
  uffdgc_ref* buf = Buffer(kLen, 2);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ASSERT_GE(fcntl(p[1], F_SETPIPE_SZ, 1 << 20), static_cast<int>(2 * kLen));
  CollectAndHold();
  if (concurrent()) {
    // What the preparation prevents: the kernel meets an unproduced page and stops there.
    const ssize_t n = write(p[1], Data(*unprepared), kLen);
    EXPECT_LT(n, static_cast<ssize_t>(kLen)) << "the to-space should still be empty";
    std::vector<uint8_t> sink(kLen);
    if (n > 0) {
      ASSERT_EQ(read(p[0], sink.data(), static_cast<size_t>(n)), n);
    }
  }
  ASSERT_EQ(uffdgc_prepare_kernel_access(m_, *buf, kPayload, kLen), UFFDGC_OK);
  ASSERT_EQ(write(p[1], Data(*buf), kLen), static_cast<ssize_t>(kLen));
  std::vector<uint8_t> got(kLen);
  ASSERT_EQ(read(p[0], got.data(), kLen), static_cast<ssize_t>(kLen));
  for (size_t i = 0; i < kLen; ++i) ASSERT_EQ(got[i], Pattern(2, i)) << "byte " << i;
  EXPECT_EQ(uffdgc_unpin(m_, *buf), UFFDGC_OK);
  Release();
  close(p[0]);
  close(p[1]);
}

TEST_P(KernelAccess, RecvIntoAPreparedBufferKeepsTheDatagram) {
  constexpr size_t kLen = 48 << 10;
  uffdgc_ref* buf = Buffer(kLen, 3);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
  int size = 1 << 20;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  std::vector<uint8_t> datagram(kLen);
  for (size_t i = 0; i < kLen; ++i) datagram[i] = Pattern(9, i);
  CollectAndHold();
  ASSERT_EQ(uffdgc_prepare_kernel_access(m_, *buf, kPayload, kLen), UFFDGC_OK);
  ASSERT_EQ(send(sv[0], datagram.data(), kLen, 0), static_cast<ssize_t>(kLen));
  ASSERT_EQ(recv(sv[1], Data(*buf), kLen, 0), static_cast<ssize_t>(kLen));
  EXPECT_EQ(std::memcmp(Data(*buf), datagram.data(), kLen), 0);
  EXPECT_EQ(uffdgc_unpin(m_, *buf), UFFDGC_OK);
  Release();
  close(sv[0]);
  close(sv[1]);
}

TEST_P(KernelAccess, ODirectPreadIntoAPreparedBufferAcrossCycles) {
  constexpr size_t kBlock = 4096, kLen = 4 * kBlock;
  // A file on the build tree's filesystem (tmpfs would refuse O_DIRECT).
  const std::string path = std::string("odirect-") + std::to_string(getpid()) + ".bin";
  {
    std::vector<uint8_t> content(kLen);
    for (size_t i = 0; i < kLen; ++i) content[i] = Pattern(5, i);
    const int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, content.data(), kLen), static_cast<ssize_t>(kLen));
    fsync(fd);
    close(fd);
  }
  const int fd = open(path.c_str(), O_RDONLY | O_DIRECT);
  unlink(path.c_str());
  if (fd < 0) GTEST_SKIP() << "O_DIRECT is refused on this filesystem: " << strerror(errno);
  uffdgc_ref* buf = Buffer(kLen + 2 * kBlock, 4);  // room to align the transfer
  for (int cycle = 0; cycle < 6; ++cycle) {
    Buffer(100000, 100 + cycle);  // more to compact each cycle (rooted, so it moves too)
    CollectAndHold();
    const uint64_t start = (reinterpret_cast<uint64_t>(Data(*buf)) + kBlock - 1) & ~(kBlock - 1);
    const size_t offset = start - *buf;
    ASSERT_EQ(uffdgc_prepare_kernel_access(m_, *buf, offset, kLen), UFFDGC_OK);
    std::memset(reinterpret_cast<void*>(start), 0, kLen);
    ASSERT_EQ(pread(fd, reinterpret_cast<void*>(start), kLen, 0), static_cast<ssize_t>(kLen))
        << "cycle " << cycle << ": " << strerror(errno);
    for (size_t i = 0; i < kLen; ++i) {
      ASSERT_EQ(reinterpret_cast<const uint8_t*>(start)[i], Pattern(5, i)) << "byte " << i;
    }
    EXPECT_EQ(uffdgc_unpin(m_, *buf), UFFDGC_OK);
    Release();
  }
  close(fd);
}

TEST_P(KernelAccess, ABlockingReadOfAParkedThreadSurvivesTenCycles) {
  constexpr size_t kLen = 32 << 10;
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ASSERT_GE(fcntl(p[1], F_SETPIPE_SZ, 1 << 20), static_cast<int>(kLen));
  std::atomic<bool> reading{false};
  std::atomic<ssize_t> got{-2};
  std::atomic<bool> intact{false};
  std::thread reader([&] {
    uffdgc_mutator* m = nullptr;
    if (uffdgc_mutator_attach(heap_, nullptr, &m) != UFFDGC_OK) return;
    uffdgc_handle_scope s;
    uffdgc_handle_scope_open(m, &s);
    uffdgc_ref garbage = 0, r = 0;
    uffdgc_alloc(m, bytes_, 300000, UFFDGC_ALLOC_DEFAULT, &garbage);
    uffdgc_alloc(m, bytes_, kLen, UFFDGC_ALLOC_DEFAULT, &r);
    uffdgc_ref* h = uffdgc_handle_new(m, r);
    if (uffdgc_prepare_kernel_access(m, *h, kPayload, kLen) != UFFDGC_OK) return;
    uint8_t* target = Data(*h);
    uffdgc_mutator_park(m);
    reading.store(true);
    size_t done = 0;
    while (done < kLen) {
      const ssize_t n = read(p[0], target + done, kLen - done);  // blocks across the cycles
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    got.store(static_cast<ssize_t>(done));
    uffdgc_mutator_unpark(m);
    bool ok = Data(*h) == target;  // pinned: never moved
    for (size_t i = 0; ok && i < kLen; ++i) ok = Data(*h)[i] == Pattern(7, i);
    intact.store(ok);
    uffdgc_unpin(m, *h);
    uffdgc_handle_scope_close(m, &s);
    uffdgc_mutator_detach(m);
  });
  while (!reading.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (int cycle = 0; cycle < 10; ++cycle) {
    Buffer(50000, 200 + cycle);
    ASSERT_EQ(uffdgc_collect(m_), UFFDGC_OK);
  }
  std::vector<uint8_t> data(kLen);
  for (size_t i = 0; i < kLen; ++i) data[i] = Pattern(7, i);
  ASSERT_EQ(write(p[1], data.data(), kLen), static_cast<ssize_t>(kLen));
  ASSERT_EQ(uffdgc_mutator_park(m_), UFFDGC_OK);  // the last compaction may stop the world
  reader.join();
  ASSERT_EQ(uffdgc_mutator_unpark(m_), UFFDGC_OK);
  EXPECT_EQ(got.load(), static_cast<ssize_t>(kLen));
  EXPECT_TRUE(intact.load()) << "the buffer moved or lost bytes while the read was blocked";
  close(p[0]);
  close(p[1]);
}

TEST_P(KernelAccess, ARangeBeyondTheObjectIsRefusedAndLeavesNoPin) {
  uffdgc_ref* buf = Buffer(1000, 6);
  EXPECT_EQ(uffdgc_prepare_kernel_access(m_, *buf, kPayload, 1001), UFFDGC_EINVAL);
  EXPECT_EQ(uffdgc_unpin(m_, *buf), UFFDGC_ENOTFOUND) << "a refused range must not stay pinned";
  EXPECT_EQ(uffdgc_prepare_kernel_access(m_, *buf + 8, 0, 8), UFFDGC_EINVAL) << "not an object";
}

std::string ModeName(const ::testing::TestParamInfo<uint32_t>& info) {
  return info.param == UFFDGC_MODE_MOVE ? "Move" : info.param == UFFDGC_MODE_COPY ? "Copy" : "Stw";
}
INSTANTIATE_TEST_SUITE_P(Modes, KernelAccess,
                         ::testing::Values(UFFDGC_MODE_MOVE, UFFDGC_MODE_COPY, UFFDGC_MODE_STW),
                         ModeName);

}  // namespace
