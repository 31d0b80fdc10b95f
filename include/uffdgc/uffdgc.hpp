// uffdgc: header-only C++20 layer over the C ABI (uffdgc.h, inline.h).
//
// It adds RAII and types only: every member maps to one C ABI call (or to an inline fast path
// from inline.h) and does nothing the C ABI cannot do. No exceptions are required: fallible
// calls return Status or Result<T>. Define UFFDGC_HPP_EXCEPTIONS before including this header to
// also get uffdgc::Error and value_or_throw()/throw_if_error().
//
// Misuse that a destructor cannot report (detaching, unparking, closing a handle scope or
// unpinning from the wrong thread or state; destroying a heap with attached threads) aborts with
// a message naming the misuse and the code instead of continuing in a corrupt state.
//
// Threads (same words as uffdgc.h): "any thread"; "attached" = the calling thread has a
// mutator on this heap; "owner" = the thread the mutator belongs to; "running" = not parked.
// Objects returned by reference (Ref<T>, T*) are valid only until the owner's next safepoint:
// a poll, an allocation, a collection or unpark may move them. Keep them in a Handle or Global
// across those.
//
//   auto heap = uffdgc::Heap::create(uffdgc::HeapOptions().mode(UFFDGC_MODE_STW));
//   auto node = heap->register_type(uffdgc::TypeBuilder<Node>("node").ref(&Node::left)).value();
//   uffdgc::MutatorScope thread(*heap);
//   uffdgc::Mutator m = thread.mutator();
//   uffdgc::HandleScope scope(m);
//   uffdgc::Handle<Node> root = scope.handle(m.alloc(node).value());
#ifndef UFFDGC_UFFDGC_HPP
#define UFFDGC_UFFDGC_HPP

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(UFFDGC_HPP_EXCEPTIONS)
#include <stdexcept>
#endif

#include "uffdgc/inline.h"
#include "uffdgc/uffdgc.h"

namespace uffdgc {

class Heap;
class Mutator;
class HandleScope;
template <class T>
class Handle;

namespace detail {

// Prints "uffdgc: <what>: <code name> (code <n>)" and aborts. For misuse found in destructors.
[[noreturn]] inline void fatal(const char* what, uffdgc_result code) noexcept {
  std::fprintf(stderr, "uffdgc: %s: %s (code %d)\n", what, uffdgc_result_name(code), code);
  std::fflush(stderr);
  std::abort();
}

}  // namespace detail

// ---- Results --------------------------------------------------------------------------------

#if defined(UFFDGC_HPP_EXCEPTIONS)
// Thrown only by throw_if_error() / value_or_throw(), which exist only with
// UFFDGC_HPP_EXCEPTIONS.
class Error : public std::runtime_error {
 public:
  explicit Error(uffdgc_result code) : std::runtime_error(uffdgc_result_name(code)), code_(code) {}
  uffdgc_result code() const noexcept { return code_; }

 private:
  uffdgc_result code_;
};
#endif

// A uffdgc_result: UFFDGC_OK or a negative UFFDGC_E* code. Any thread.
class [[nodiscard]] Status {
 public:
  constexpr Status() noexcept = default;
  constexpr Status(uffdgc_result code) noexcept : code_(code) {}  // NOLINT: implicit by design
  constexpr bool ok() const noexcept { return code_ == UFFDGC_OK; }
  constexpr explicit operator bool() const noexcept { return ok(); }
  constexpr uffdgc_result code() const noexcept { return code_; }
  // "UFFDGC_OK", "UFFDGC_ESTATE", ...; never null.
  const char* name() const noexcept { return uffdgc_result_name(code_); }
  // Aborts with `what` and the code's name unless ok(). Any thread.
  void check(const char* what) const noexcept {
    if (!ok()) detail::fatal(what, code_);
  }
#if defined(UFFDGC_HPP_EXCEPTIONS)
  void throw_if_error() const {
    if (!ok()) throw Error(code_);
  }
#endif
  friend constexpr bool operator==(Status a, Status b) noexcept { return a.code_ == b.code_; }

 private:
  uffdgc_result code_ = UFFDGC_OK;
};

// A value or an error code (std::expected<T, uffdgc_result> in spirit; C++20 has none). Any
// thread.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status error) : code_(error.code()) {         // NOLINT: implicit by design
    if (code_ == UFFDGC_OK) code_ = UFFDGC_EINTERNAL;  // an error Result always carries an error
  }
  bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  uffdgc_result code() const noexcept { return code_; }
  Status status() const noexcept { return Status(code_); }
  const char* name() const noexcept { return uffdgc_result_name(code_); }

  // The value; aborts with the error's name if there is none.
  T& value() & noexcept {
    if (!ok()) detail::fatal("Result::value() on an error", code_);
    return *value_;
  }
  const T& value() const& noexcept {
    if (!ok()) detail::fatal("Result::value() on an error", code_);
    return *value_;
  }
  T&& value() && noexcept {
    if (!ok()) detail::fatal("Result::value() on an error", code_);
    return std::move(*value_);
  }
  T value_or(T fallback) const& { return ok() ? *value_ : std::move(fallback); }
  T* operator->() noexcept { return &value(); }
  const T* operator->() const noexcept { return &value(); }
  T& operator*() & noexcept { return value(); }
  const T& operator*() const& noexcept { return value(); }
  T&& operator*() && noexcept { return std::move(*this).value(); }
#if defined(UFFDGC_HPP_EXCEPTIONS)
  T& value_or_throw() & {
    if (!ok()) throw Error(code_);
    return *value_;
  }
  T&& value_or_throw() && {
    if (!ok()) throw Error(code_);
    return std::move(*value_);
  }
#endif

 private:
  uffdgc_result code_ = UFFDGC_OK;
  std::optional<T> value_;
};

// ---- References and objects -----------------------------------------------------------------

// The first word of every object: low 32 bits the type index, high 32 bits the embedder's.
// Put it first in every object struct. Reading: any running mutator; writing embedder_bits:
// a running mutator (the collector preserves them).
struct ObjectHeader {
  uint64_t word;
  uint32_t type_index() const noexcept {
    return static_cast<uint32_t>(word & UFFDGC_HEADER_TYPE_MASK);
  }
  uint32_t embedder_bits() const noexcept { return static_cast<uint32_t>(word >> 32); }
  void set_embedder_bits(uint32_t bits) noexcept {
    word = (word & UFFDGC_HEADER_TYPE_MASK) | (static_cast<uint64_t>(bits) << 32);
  }
};
static_assert(sizeof(ObjectHeader) == 8 && std::is_standard_layout_v<ObjectHeader>);

// A raw, typed object reference (a uffdgc_ref). Not a root: valid until the owner's next
// safepoint. It may be used as a field type inside objects (same layout as uffdgc_ref).
// T = void for untyped references. Any running mutator.
template <class T>
class Ref {
 public:
  constexpr Ref() noexcept = default;
  // From nullptr (a constrained template so that a literal 0 picks the uffdgc_ref overload).
  template <class N>
    requires std::is_null_pointer_v<N>
  constexpr Ref(N) noexcept {}  // NOLINT: implicit by design
  constexpr explicit Ref(uffdgc_ref raw) noexcept : raw_(raw) {}
  // Ref<Derived-or-anything> -> Ref<void>.
  template <class U>
    requires(std::is_void_v<T> && !std::is_void_v<U>)
  constexpr Ref(Ref<U> other) noexcept : raw_(other.raw()) {}  // NOLINT: implicit widening

  constexpr uffdgc_ref raw() const noexcept { return raw_; }
  constexpr bool is_null() const noexcept { return raw_ == 0; }
  constexpr explicit operator bool() const noexcept { return raw_ != 0; }
  T* get() const noexcept { return reinterpret_cast<T*>(raw_); }
  T* operator->() const noexcept
    requires(!std::is_void_v<T>)
  {
    return get();
  }
  template <class U = T>
    requires(!std::is_void_v<U>)
  U& operator*() const noexcept {
    return *get();
  }
  // Reinterprets as another type (no check; the header's type index says what it is).
  template <class U>
  constexpr Ref<U> cast() const noexcept {
    return Ref<U>(raw_);
  }
  ObjectHeader& header() const noexcept { return *reinterpret_cast<ObjectHeader*>(raw_); }
  friend constexpr bool operator==(Ref a, Ref b) noexcept = default;

 private:
  uffdgc_ref raw_ = 0;
};
static_assert(sizeof(Ref<void>) == sizeof(uffdgc_ref) && std::is_standard_layout_v<Ref<void>>);

namespace detail {
template <class F>
struct is_ref_field : std::false_type {};
template <>
struct is_ref_field<uffdgc_ref> : std::true_type {};
template <class U>
struct is_ref_field<Ref<U>> : std::true_type {};

// The slot of a reference field, as the C ABI sees it. Ref<U> is standard-layout with a single
// uffdgc_ref member, so the two are pointer-interconvertible.
template <class F>
inline uffdgc_ref* slot_of(F* field) noexcept {
  static_assert(is_ref_field<F>::value, "reference fields are uffdgc_ref or uffdgc::Ref<U>");
  return reinterpret_cast<uffdgc_ref*>(field);
}
template <class F>
inline const uffdgc_ref* slot_of(const F* field) noexcept {
  static_assert(is_ref_field<F>::value, "reference fields are uffdgc_ref or uffdgc::Ref<U>");
  return reinterpret_cast<const uffdgc_ref*>(field);
}

// offsetof() for a data-member pointer of a standard-layout class.
template <class C, class M>
inline uint32_t member_offset(M C::*member) noexcept {
  static_assert(std::is_standard_layout_v<C>, "object types must be standard-layout");
  union Storage {
    unsigned char bytes[sizeof(C)];
    C object;
    Storage() : bytes{} {}
    ~Storage() {}
  } storage;
  const auto* base = reinterpret_cast<const unsigned char*>(&storage);
  const auto* field = reinterpret_cast<const unsigned char*>(&(storage.object.*member));
  return static_cast<uint32_t>(field - base);
}
}  // namespace detail

// Any reference-valued argument: uffdgc_ref, Ref<U>, nullptr or a Handle<U> (its current
// value).
struct RefArg {
  uffdgc_ref raw;
  constexpr RefArg(uffdgc_ref r) noexcept : raw(r) {}  // NOLINT: implicit by design
  template <class N>
    requires std::is_null_pointer_v<N>
  constexpr RefArg(N) noexcept : raw(0) {}  // NOLINT
  template <class U>
  constexpr RefArg(Ref<U> r) noexcept : raw(r.raw()) {}  // NOLINT
  template <class U>
  RefArg(const Handle<U>& h) noexcept;  // NOLINT (defined after Handle)
};

// Loads a reference field (no read barrier exists; this is an atomic relaxed load). Any running
// mutator.
inline uffdgc_ref load_ref(const uffdgc_ref& field) noexcept { return uffdgc_load_ref(&field); }
template <class U>
inline Ref<U> load_ref(const Ref<U>& field) noexcept {
  return Ref<U>(uffdgc_load_ref(detail::slot_of(&field)));
}

// ---- Types ----------------------------------------------------------------------------------

// A registered type: its index plus what the inline allocation path needs. Returned by
// Heap::register_type; valid for the heap's lifetime; copy freely; any thread.
template <class T = void>
class Type {
 public:
  constexpr Type() noexcept = default;
  constexpr uint32_t index() const noexcept { return index_; }
  constexpr uint32_t flags() const noexcept { return flags_; }
  constexpr uint32_t base_size() const noexcept { return base_size_; }
  // Rounded size for uffdgc_alloc_fast, or 0 when the type must take uffdgc_alloc (variable
  // size, non-moving, finalizable, or at least the large-object threshold).
  constexpr uint32_t fast_bytes() const noexcept { return fast_bytes_; }
  constexpr bool variable() const noexcept { return (flags_ & UFFDGC_TYPE_VARIABLE) != 0; }
  template <class U>
  constexpr Type<U> cast() const noexcept {
    return Type<U>(index_, flags_, base_size_, fast_bytes_);
  }

 private:
  friend class Heap;
  template <class U>
  friend class Type;
  constexpr Type(uint32_t index, uint32_t flags, uint32_t base_size, uint32_t fast_bytes) noexcept
      : index_(index), flags_(flags), base_size_(base_size), fast_bytes_(fast_bytes) {}
  uint32_t index_ = 0;
  uint32_t flags_ = 0;
  uint32_t base_size_ = 0;
  uint32_t fast_bytes_ = 0;
};

// Builds a uffdgc_type_info from offsets (offsetof or member pointers). For T != void the base
// size defaults to sizeof(T). The builder owns the offset array and the name; register it with
// Heap::register_type (the heap copies both). Any thread; not shared between threads.
//
//   struct Node { uffdgc::ObjectHeader h; uffdgc_ref left, right; int64_t payload; };
//   uffdgc::TypeBuilder<Node>("node").ref(&Node::left).ref(&Node::right)
//   struct Array { uffdgc::ObjectHeader h; uint64_t length; /* uffdgc_ref elements follow */ };
//   uffdgc::TypeBuilder<Array>("array").elements_are_refs(&Array::length)
template <class T = void>
class TypeBuilder {
 public:
  explicit TypeBuilder(const char* name = nullptr) {
    info_.struct_size = sizeof(info_);
    if (name != nullptr) name_ = name;
    if constexpr (!std::is_void_v<T>) {
      static_assert(std::is_standard_layout_v<T>, "object types must be standard-layout");
      static_assert(sizeof(T) >= sizeof(ObjectHeader), "objects start with a header word");
      info_.base_size = static_cast<uint32_t>(sizeof(T));
    }
  }
  // Bytes including the header (the whole size unless variable).
  TypeBuilder& size(uint32_t base_size) {
    info_.base_size = base_size;
    return *this;
  }
  // A reference slot at a byte offset.
  TypeBuilder& ref(uint32_t offset) {
    offsets_.push_back(offset);
    return *this;
  }
  // A reference slot given by a member of T (uffdgc_ref or Ref<U>).
  template <class F, class C = T>
    requires(!std::is_void_v<C>)
  TypeBuilder& ref(F C::*field) {
    static_assert(std::is_same_v<C, T>, "a member of this builder's type");
    static_assert(detail::is_ref_field<F>::value, "reference fields are uffdgc_ref or Ref<U>");
    return ref(detail::member_offset(field));
  }
  // Variable size: base_size + elem_size * length, the uint64_t length at length_offset.
  TypeBuilder& variable(uint32_t elem_size, uint32_t length_offset) {
    info_.flags |= UFFDGC_TYPE_VARIABLE;
    info_.elem_size = elem_size;
    info_.length_offset = length_offset;
    return *this;
  }
  template <class L, class C = T>
    requires(!std::is_void_v<C>)
  TypeBuilder& variable(uint32_t elem_size, L C::*length_field) {
    static_assert(std::is_same_v<L, uint64_t>, "the length field is a uint64_t");
    return variable(elem_size, detail::member_offset(length_field));
  }
  // Variable size, every element a reference (elem_size 8).
  TypeBuilder& elements_are_refs(uint32_t length_offset) {
    info_.flags |= UFFDGC_TYPE_ELEMENTS_ARE_REFS;
    return variable(sizeof(uffdgc_ref), length_offset);
  }
  template <class L, class C = T>
    requires(!std::is_void_v<C>)
  TypeBuilder& elements_are_refs(L C::*length_field) {
    info_.flags |= UFFDGC_TYPE_ELEMENTS_ARE_REFS;
    return variable(sizeof(uffdgc_ref), length_field);
  }
  TypeBuilder& leaf() { return flag(UFFDGC_TYPE_LEAF); }
  TypeBuilder& has_finalizer() { return flag(UFFDGC_TYPE_HAS_FINALIZER); }
  TypeBuilder& weak_container() { return flag(UFFDGC_TYPE_WEAK_CONTAINER); }
  TypeBuilder& nonmoving() { return flag(UFFDGC_TYPE_NONMOVING); }
  TypeBuilder& flag(uint32_t bits) {
    info_.flags |= bits;
    return *this;
  }
  // Irregular objects: must be async-signal-safe (see uffdgc_trace_fn).
  TypeBuilder& trace(uffdgc_trace_fn fn) {
    info_.trace = fn;
    return *this;
  }
  // The descriptor; pointers into this builder stay valid while it lives and is not changed.
  const uffdgc_type_info& info() const {
    info_.num_ref_offsets = static_cast<uint32_t>(offsets_.size());
    info_.ref_offsets = offsets_.empty() ? nullptr : offsets_.data();
    info_.name = name_.empty() ? nullptr : name_.c_str();
    return info_;
  }

 private:
  mutable uffdgc_type_info info_{};
  std::vector<uint32_t> offsets_;
  std::string name_;
};

// ---- Heap options, statistics, events -------------------------------------------------------

// uffdgc_heap_options with defaults (all zero = library defaults) and chainable setters. Any
// thread.
class HeapOptions {
 public:
  HeapOptions() { raw_.struct_size = sizeof(raw_); }
  HeapOptions& mode(uint32_t m) { return set(raw_.mode, m); }
  HeapOptions& verify(bool on = true) {
    raw_.flags = on ? (raw_.flags | UFFDGC_HEAP_VERIFY) : (raw_.flags & ~UFFDGC_HEAP_VERIFY);
    return *this;
  }
  HeapOptions& flags(uint32_t f) { return set(raw_.flags, f); }
  HeapOptions& gc_threads(uint32_t n) { return set(raw_.gc_threads, n); }
  HeapOptions& heap_limit(size_t bytes) { return set(raw_.heap_limit, bytes); }
  HeapOptions& nonmoving_limit(size_t bytes) { return set(raw_.nonmoving_limit, bytes); }
  HeapOptions& trigger_allocated(size_t bytes) { return set(raw_.trigger_allocated, bytes); }
  HeapOptions& trigger_occupancy_pct(uint32_t pct) { return set(raw_.trigger_occupancy_pct, pct); }
  HeapOptions& tlab_size(uint32_t bytes) { return set(raw_.tlab_size, bytes); }
  HeapOptions& large_object_threshold(size_t bytes) {
    return set(raw_.large_object_threshold, bytes);
  }
  // Copied here and again by the library at create: need not outlive the options.
  HeapOptions& embedder(const uffdgc_embedder& e) {
    embedder_ = e;
    embedder_->struct_size = sizeof(uffdgc_embedder);
    return *this;
  }
  // The C struct, with the embedder pointer aimed at this object's copy.
  const uffdgc_heap_options& raw() const {
    raw_.embedder = embedder_ ? &*embedder_ : nullptr;
    return raw_;
  }

 private:
  template <class F, class V>
  HeapOptions& set(F& field, V v) {
    field = static_cast<F>(v);
    return *this;
  }
  mutable uffdgc_heap_options raw_{};
  std::optional<uffdgc_embedder> embedder_;
};

// uffdgc_heap_stats plus derived figures. A plain value.
struct Stats : uffdgc_heap_stats {
  uint64_t pause_ns_mean() const noexcept {
    return collections == 0 ? 0 : pause_ns_total / collections;
  }
};

// An event listener that records every pause (PAUSE_END) and the bytes before/after every
// cycle (CYCLE_END) into preallocated storage, so it never allocates inside a pause. Install it
// with Heap::set_event_listener(recorder); it must outlive that registration (clear the
// listener or destroy the heap first). The listener side runs on the collecting thread; the
// readers (count, percentile, ...) may run on any thread and see every pause that has ended.
class PauseRecorder {
 public:
  explicit PauseRecorder(size_t capacity = 1u << 16)
      : capacity_(capacity), pauses_(new std::atomic<uint64_t>[capacity]) {}
  PauseRecorder(const PauseRecorder&) = delete;
  PauseRecorder& operator=(const PauseRecorder&) = delete;

  // The listener (collecting thread, world stopped).
  void operator()(const uffdgc_event& e) noexcept {
    if (e.kind == UFFDGC_EVENT_PAUSE_END) {
      size_t n = count_.load(std::memory_order_relaxed);
      if (n < capacity_) {
        pauses_[n].store(e.pause_ns, std::memory_order_relaxed);
        count_.store(n + 1, std::memory_order_release);
      } else {
        dropped_.fetch_add(1, std::memory_order_relaxed);
      }
      uint64_t m = max_.load(std::memory_order_relaxed);
      if (e.pause_ns > m) max_.store(e.pause_ns, std::memory_order_relaxed);
    } else if (e.kind == UFFDGC_EVENT_CYCLE_END) {
      cycles_.fetch_add(1, std::memory_order_relaxed);
      if (e.bytes_before > e.bytes_after) {
        reclaimed_.fetch_add(e.bytes_before - e.bytes_after, std::memory_order_relaxed);
      }
    }
  }
  // Pauses recorded (at most the capacity) and pauses that did not fit.
  size_t count() const noexcept { return count_.load(std::memory_order_acquire); }
  uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }
  uint64_t cycles() const noexcept { return cycles_.load(std::memory_order_relaxed); }
  uint64_t max_ns() const noexcept { return max_.load(std::memory_order_relaxed); }
  uint64_t bytes_reclaimed() const noexcept { return reclaimed_.load(std::memory_order_relaxed); }
  // The p-th percentile (0..100, nearest rank) of the recorded pauses; 0 with none. Allocates
  // (a sorted copy): not from inside the listener.
  uint64_t percentile_ns(double p) const {
    std::vector<uint64_t> v = pauses();
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    if (p <= 0) return v.front();
    if (p >= 100) return v.back();
    size_t rank = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size()) + 0.999999);
    return v[rank == 0 ? 0 : rank - 1];
  }
  // A copy of the recorded pauses, in order.
  std::vector<uint64_t> pauses() const {
    size_t n = count();
    std::vector<uint64_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = pauses_[i].load(std::memory_order_relaxed);
    return v;
  }

 private:
  size_t capacity_;
  std::unique_ptr<std::atomic<uint64_t>[]> pauses_;
  std::atomic<size_t> count_{0};
  std::atomic<uint64_t> dropped_{0}, cycles_{0}, max_{0}, reclaimed_{0};
};

// ---- Heap -----------------------------------------------------------------------------------

// Owns a uffdgc_heap. Movable, not copyable. Destroying it with threads still attached is a
// misuse and aborts (call destroy() to get the error code instead).
class Heap {
 public:
  // Creates a heap (uffdgc_heap_create). Any thread.
  static Result<Heap> create(const HeapOptions& options = HeapOptions()) {
    uffdgc_heap* h = nullptr;
    Status s = uffdgc_heap_create(&options.raw(), &h);
    if (!s.ok()) return s;
    size_t threshold = options.raw().large_object_threshold;
    return Heap(h, threshold == 0 ? size_t{64} * 1024 : threshold);
  }
  Heap(Heap&& other) noexcept
      : heap_(std::exchange(other.heap_, nullptr)), large_threshold_(other.large_threshold_) {}
  Heap& operator=(Heap&& other) noexcept {
    if (this != &other) {
      reset();
      heap_ = std::exchange(other.heap_, nullptr);
      large_threshold_ = other.large_threshold_;
    }
    return *this;
  }
  Heap(const Heap&) = delete;
  Heap& operator=(const Heap&) = delete;
  // uffdgc_heap_destroy; aborts if threads are still attached. Any thread.
  ~Heap() { reset(); }

  // uffdgc_heap_destroy now; on success this object becomes empty. UFFDGC_ESTATE (and the heap
  // stays) while mutators are attached. Any thread.
  Status destroy() noexcept {
    if (heap_ == nullptr) return UFFDGC_OK;
    Status s = uffdgc_heap_destroy(heap_);
    if (s.ok()) heap_ = nullptr;
    return s;
  }

  // Registers a type (uffdgc_type_register). Any thread, any time.
  template <class T>
  Result<Type<T>> register_type(const TypeBuilder<T>& builder) {
    return register_type<T>(builder.info());
  }
  template <class T = void>
  Result<Type<T>> register_type(const uffdgc_type_info& info) {
    uint32_t index = 0;
    Status s = uffdgc_type_register(heap_, &info, &index);
    if (!s.ok()) return s;
    constexpr uint32_t kSlowFlags =
        UFFDGC_TYPE_VARIABLE | UFFDGC_TYPE_NONMOVING | UFFDGC_TYPE_HAS_FINALIZER;
    // uffdgc_alloc_fast bumps the TLAB without looking at the type: only fixed-size, movable,
    // non-finalizable types below the large-object threshold may take it.
    uint32_t rounded =
        (info.base_size + (UFFDGC_OBJECT_ALIGNMENT - 1)) & ~(UFFDGC_OBJECT_ALIGNMENT - 1);
    uint32_t fast = (info.flags & kSlowFlags) == 0 && rounded < large_threshold_ ? rounded : 0;
    return Type<T>(index, info.flags, info.base_size, fast);
  }

  // uffdgc_heap_get_stats. Any thread.
  Result<Stats> stats() const {
    Stats st{};
    st.struct_size = sizeof(uffdgc_heap_stats);
    Status s = uffdgc_heap_get_stats(heap_, &st);
    if (!s.ok()) return s;
    return st;
  }
  // uffdgc_get_attrs: the fast-path layout for JITs. Any thread.
  Result<uffdgc_attrs> attrs() const {
    uffdgc_attrs a{};
    a.struct_size = sizeof(a);
    Status s = uffdgc_get_attrs(heap_, &a);
    if (!s.ok()) return s;
    return a;
  }

  // uffdgc_set_event_listener with a C function. Any thread, not during a collection (uffdgc.h).
  Status set_event_listener(uffdgc_event_fn fn, void* arg) noexcept {
    return uffdgc_set_event_listener(heap_, fn, arg);
  }
  // Installs listener(const uffdgc_event&) (e.g. a PauseRecorder); it must stay alive until
  // cleared or the heap is destroyed, run on the collecting thread and not call uffdgc. Any
  // thread, not during a collection (uffdgc.h).
  template <class F>
  Status set_event_listener(F& listener) noexcept {
    return uffdgc_set_event_listener(
        heap_, [](const uffdgc_event* e, void* arg) noexcept { (*static_cast<F*>(arg))(*e); },
        &listener);
  }
  // Removes the listener. Any thread, not during a collection (uffdgc.h).
  Status clear_event_listener() noexcept {
    return uffdgc_set_event_listener(heap_, nullptr, nullptr);
  }

  // fork hooks (uffdgc_atfork_*); see uffdgc.h. The forking thread.
  void atfork_prepare() noexcept { uffdgc_atfork_prepare(heap_); }
  void atfork_parent() noexcept { uffdgc_atfork_parent(heap_); }
  void atfork_child() noexcept { uffdgc_atfork_child(heap_); }

  // The C handle (still owned). Any thread.
  uffdgc_heap* raw() const noexcept { return heap_; }
  // Gives up ownership: the caller destroys it with uffdgc_heap_destroy. Any thread.
  uffdgc_heap* release() noexcept { return std::exchange(heap_, nullptr); }

 private:
  Heap(uffdgc_heap* h, size_t large_threshold) noexcept
      : heap_(h), large_threshold_(large_threshold) {}
  void reset() noexcept {
    if (heap_ != nullptr) {
      Status s = uffdgc_heap_destroy(heap_);
      if (!s.ok())
        detail::fatal("uffdgc::Heap destroyed while threads are still attached", s.code());
      heap_ = nullptr;
    }
  }
  uffdgc_heap* heap_ = nullptr;
  size_t large_threshold_ = 0;
};

// ---- Mutator --------------------------------------------------------------------------------

// A non-owning view of the calling thread's uffdgc_mutator (MutatorScope owns the attachment).
// Copy freely, but use it only on its owner thread: every member is "owner thread" and, unless
// it says otherwise, "running".
class Mutator {
 public:
  constexpr Mutator() noexcept = default;
  constexpr explicit Mutator(uffdgc_mutator* m) noexcept : m_(m) {}
  // The C handle; whether there is one. Any thread.
  uffdgc_mutator* raw() const noexcept { return m_; }
  explicit operator bool() const noexcept { return m_ != nullptr; }

  // ---- allocation (may collect: every Ref/T* not in a handle is stale afterwards) ----
  // A fixed-size object: the inline TLAB fast path when the type allows it, else uffdgc_alloc.
  // Owner, running (all allocation).
  template <class T>
  Result<Ref<T>> alloc(Type<T> type) const noexcept {
    uffdgc_ref out = 0;
    Status s = type.fast_bytes() != 0
                   ? Status(uffdgc_alloc_fast(m_, type.index(), type.fast_bytes(), &out))
                   : Status(uffdgc_alloc(m_, type.index(), 0, UFFDGC_ALLOC_DEFAULT, &out));
    if (!s.ok()) return s;
    return Ref<T>(out);
  }
  // Any type with an element count (0 for fixed-size types) and a UFFDGC_ALLOC_* kind
  // (uffdgc_alloc).
  template <class T>
  Result<Ref<T>> alloc(Type<T> type, uint64_t length,
                       uint32_t kind = UFFDGC_ALLOC_DEFAULT) const noexcept {
    uffdgc_ref out = 0;
    Status s = uffdgc_alloc(m_, type.index(), length, kind, &out);
    if (!s.ok()) return s;
    return Ref<T>(out);
  }
  template <class T>
  Result<Ref<T>> alloc_nonmoving(Type<T> type, uint64_t length = 0) const noexcept {
    return alloc(type, length, UFFDGC_ALLOC_NONMOVING);
  }
  template <class T>
  Result<Ref<T>> alloc_large(Type<T> type, uint64_t length = 0) const noexcept {
    return alloc(type, length, UFFDGC_ALLOC_LARGE);
  }
  // Object size in bytes, rounded (uffdgc_object_size); 0 for a non-object. Owner, running.
  size_t object_size(RefArg ref) const noexcept { return uffdgc_object_size(m_, ref.raw); }

  // ---- reference stores and loads (uffdgc_store_ref: the barrier sees the old value) ----
  // holder->*field = value. Owner, running (all stores and loads).
  template <class T, class F>
  void store(Ref<T> holder, F T::*field, RefArg value) const noexcept {
    uffdgc_store_ref(m_, holder.raw(), detail::slot_of(&(holder.get()->*field)), value.raw);
  }
  template <class T, class F>
  void store(const Handle<T>& holder, F T::*field, RefArg value) const noexcept;
  // *slot = value where slot lies inside holder's object (e.g. an array element).
  void store(RefArg holder, uffdgc_ref* slot, RefArg value) const noexcept {
    uffdgc_store_ref(m_, holder.raw, slot, value.raw);
  }
  // Copies count references src -> dst (inside holder) with the barrier; overlap allowed
  // (uffdgc_store_refs).
  void store_refs(RefArg holder, uffdgc_ref* dst, const uffdgc_ref* src,
                  size_t count) const noexcept {
    uffdgc_store_refs(m_, holder.raw, dst, src, count);
  }
  // holder->*field.
  template <class T, class F>
  F load(Ref<T> holder, F T::*field) const noexcept {
    return F(uffdgc_load_ref(detail::slot_of(&(holder.get()->*field))));
  }
  // A slot of a weak-container object; null once the referent was found dead
  // (uffdgc_load_weak).
  uffdgc_ref load_weak(RefArg holder, const uffdgc_ref* slot) const noexcept {
    return uffdgc_load_weak(m_, holder.raw, slot);
  }

  // ---- safepoints and thread state ----
  // Inline poll (uffdgc_poll): stops here while a collection wants the world. Owner, running.
  void poll() const noexcept { uffdgc_poll(m_); }
  // A full collection (uffdgc_collect). Owner, running.
  Status collect() const noexcept { return uffdgc_collect(m_); }
  // Prefer ParkedScope. Running -> parked (uffdgc_mutator_park). Owner, running.
  Status park() const noexcept { return uffdgc_mutator_park(m_); }
  // Parked -> running (uffdgc_mutator_unpark). Owner thread, parked.
  Status unpark() const noexcept { return uffdgc_mutator_unpark(m_); }
  // Runs fn(Mutator target) once per attached mutator: running ones at their next poll (on
  // their own threads, so possibly concurrently), parked ones and this one on the calling
  // thread; returns when all have run (uffdgc_run_checkpoint). fn must be thread-safe.
  // Owner, running.
  template <class F>
  Status run_checkpoint(F& fn) const noexcept {
    return uffdgc_run_checkpoint(
        m_,
        [](uffdgc_mutator* target, void* arg) noexcept {
          (*static_cast<F*>(arg))(Mutator(target));
        },
        &fn);
  }
  // The vm_thread given at attach. Any thread.
  void* vm_thread() const noexcept { return uffdgc_mutator_vm_thread(m_); }

  // ---- roots ----
  // A handle in the innermost open HandleScope of this thread (uffdgc_handle_new); an empty
  // Handle (slot() == nullptr) when none is open. Owner (running or parked).
  template <class T = void>
  Handle<T> new_handle(Ref<T> ref) const noexcept;
  // Prefer PinScope. uffdgc_pin / uffdgc_unpin. Owner, running.
  Status pin(RefArg ref) const noexcept { return uffdgc_pin(m_, ref.raw); }
  Status unpin(RefArg ref) const noexcept { return uffdgc_unpin(m_, ref.raw); }
  // The next object queued for finalization; UFFDGC_EEMPTY when none
  // (uffdgc_finalization_pop). Owner, running.
  Result<Ref<void>> finalization_pop() const noexcept {
    uffdgc_ref out = 0;
    Status s = uffdgc_finalization_pop(m_, &out);
    if (!s.ok()) return s;
    return Ref<void>(out);
  }

  // ---- introspection ----
  // Calls fn(Ref<void> ref, uint32_t type_index, size_t size) for every object with the world
  // stopped; fn returns void, or bool (true = stop). fn must not allocate or store into the
  // heap (uffdgc_heap_walk). Owner, running.
  template <class F>
  Status heap_walk(F& fn) const noexcept {
    return uffdgc_heap_walk(
        m_,
        [](uffdgc_ref ref, uint32_t type, size_t size, void* arg) noexcept -> int {
          F& f = *static_cast<F*>(arg);
          if constexpr (std::is_void_v<std::invoke_result_t<F&, Ref<void>, uint32_t, size_t>>) {
            f(Ref<void>(ref), type, size);
            return 0;
          } else {
            return f(Ref<void>(ref), type, size) ? 1 : 0;
          }
        },
        &fn);
  }

 private:
  uffdgc_mutator* m_ = nullptr;
};

// Attaches the calling thread to a heap for the scope's lifetime (uffdgc_mutator_attach /
// uffdgc_mutator_detach). Construct and destroy on the same thread; movable only within that
// thread. Check ok() before use. Detaching from another thread aborts with a message.
class MutatorScope {
 public:
  // Attaches the calling thread. Any unattached thread.
  explicit MutatorScope(const Heap& heap, void* vm_thread = nullptr) noexcept {
    uffdgc_mutator* m = nullptr;
    status_ = uffdgc_mutator_attach(heap.raw(), vm_thread, &m);
    if (status_.ok()) mutator_ = Mutator(m);
  }
  // The same, as a Result. Any unattached thread.
  static Result<MutatorScope> attach(const Heap& heap, void* vm_thread = nullptr) noexcept {
    MutatorScope s(heap, vm_thread);
    if (!s.ok()) return s.status();
    return s;
  }
  MutatorScope(MutatorScope&& other) noexcept
      : mutator_(std::exchange(other.mutator_, Mutator())), status_(other.status_) {}
  MutatorScope& operator=(MutatorScope&&) = delete;
  MutatorScope(const MutatorScope&) = delete;
  MutatorScope& operator=(const MutatorScope&) = delete;
  // Detaches (running or parked). Owner thread.
  ~MutatorScope() {
    Status s = detach();
    if (!s.ok())
      detail::fatal("uffdgc::MutatorScope: detach failed (destroyed on another thread?)", s.code());
  }
  // Detaches now; later calls do nothing. Owner thread.
  Status detach() noexcept {
    if (!mutator_) return UFFDGC_OK;
    Status s = uffdgc_mutator_detach(mutator_.raw());
    if (s.ok()) mutator_ = Mutator();
    return s;
  }
  // Whether the attach succeeded, and why not. Owner thread.
  bool ok() const noexcept { return status_.ok(); }
  Status status() const noexcept { return status_; }
  // The view (empty if attach failed or after detach). Owner thread.
  Mutator mutator() const noexcept { return mutator_; }
  Mutator operator*() const noexcept { return mutator_; }
  const Mutator* operator->() const noexcept { return &mutator_; }

 private:
  Mutator mutator_;
  Status status_;
};

// Parks the thread for the scope (uffdgc_mutator_park / _unpark): collections proceed without
// it; it must not touch the heap (no Ref, no allocation, no store) until the scope ends. Wrap
// blocking calls and long native code in it. Owner thread, running; the destructor waits while
// the world is stopped. A failed unpark aborts (continuing would touch the heap unsafely).
class ParkedScope {
 public:
  explicit ParkedScope(Mutator m) noexcept : m_(m), status_(m.park()) {}
  ParkedScope(const ParkedScope&) = delete;
  ParkedScope& operator=(const ParkedScope&) = delete;
  ~ParkedScope() {
    if (status_.ok()) {
      Status s = m_.unpark();
      if (!s.ok()) detail::fatal("uffdgc::ParkedScope: unpark failed (wrong thread?)", s.code());
    }
  }
  // Whether the park succeeded, and why not. Owner.
  bool ok() const noexcept { return status_.ok(); }
  Status status() const noexcept { return status_; }

 private:
  Mutator m_;
  Status status_;
};

// ---- Handles --------------------------------------------------------------------------------

// A root slot in a HandleScope (uffdgc_handle_new): the collector keeps the object alive and
// rewrites the slot when the object moves, so get() always returns the current address. A
// Handle is a pointer to that slot: copying or moving the Handle object is free and the copy
// names the same slot. Valid until its scope closes. Owner thread of the scope, running (the
// slot may change at every safepoint; read it after).
template <class T = void>
class Handle {
 public:
  constexpr Handle() noexcept = default;
  constexpr explicit Handle(uffdgc_ref* slot) noexcept : slot_(slot) {}
  template <class U>
    requires(std::is_void_v<T> && !std::is_void_v<U>)
  constexpr Handle(const Handle<U>& other) noexcept : slot_(other.slot()) {}  // NOLINT

  // The object's current address (until the next safepoint).
  Ref<T> get() const noexcept { return Ref<T>(uffdgc_load_ref(slot_)); }
  uffdgc_ref raw() const noexcept { return uffdgc_load_ref(slot_); }
  T* operator->() const noexcept
    requires(!std::is_void_v<T>)
  {
    return get().get();
  }
  template <class U = T>
    requires(!std::is_void_v<U>)
  U& operator*() const noexcept {
    return *get().get();
  }
  operator Ref<T>() const noexcept { return get(); }  // NOLINT: implicit by design
  // Points the handle at another object (or null). A root slot: no barrier needed.
  void set(RefArg ref) const noexcept { __atomic_store_n(slot_, ref.raw, __ATOMIC_RELAXED); }
  // True if this Handle has no slot (default-constructed or creation failed).
  bool empty() const noexcept { return slot_ == nullptr; }
  bool is_null() const noexcept { return raw() == 0; }
  uffdgc_ref* slot() const noexcept { return slot_; }
  template <class U>
  Handle<U> cast() const noexcept {
    return Handle<U>(slot_);
  }

 private:
  uffdgc_ref* slot_ = nullptr;
};

template <class U>
inline RefArg::RefArg(const Handle<U>& h) noexcept : raw(h.raw()) {}

template <class T, class F>
inline void Mutator::store(const Handle<T>& holder, F T::*field, RefArg value) const noexcept {
  store(holder.get(), field, value);
}

template <class T>
inline Handle<T> Mutator::new_handle(Ref<T> ref) const noexcept {
  return Handle<T>(uffdgc_handle_new_fast(m_, ref.raw()));
}

// Opens a handle scope for its lifetime (inline.h uffdgc_handle_scope_open_fast / _close_fast:
// a few instructions each); handles created in it die when it closes. Scopes nest strictly:
// create handles only in the innermost open scope of this mutator. With UFFDGC_CHECKED
// defined (for the whole program: the debug and sanitizer presets) that is checked, and
// handle() aborts otherwise (the C ABI would silently put the handle in the inner scope);
// without it nothing is checked. Not copyable or movable. Owner thread.
class HandleScope {
 public:
  explicit HandleScope(Mutator m) noexcept : m_(m) {
    status_ = uffdgc_handle_scope_open_fast(m.raw(), &scope_);
#ifdef UFFDGC_CHECKED
    if (status_.ok()) {
      prev_ = innermost_;
      innermost_ = this;
    }
#endif
  }
  HandleScope(const HandleScope&) = delete;
  HandleScope& operator=(const HandleScope&) = delete;
  ~HandleScope() {
    if (!status_.ok()) return;
#ifdef UFFDGC_CHECKED
    if (innermost_ != this) {
      detail::fatal("uffdgc::HandleScope closed out of order (or on another thread)",
                    UFFDGC_ESTATE);
    }
    innermost_ = prev_;
#endif
    Status s = uffdgc_handle_scope_close_fast(m_.raw(), &scope_);
    if (!s.ok()) detail::fatal("uffdgc::HandleScope: close failed", s.code());
  }
  // Whether it opened, and why not. Owner.
  bool ok() const noexcept { return status_.ok(); }
  Status status() const noexcept { return status_; }
  Mutator mutator() const noexcept { return m_; }

  // A new handle in this scope holding ref. Owner. Aborts if the scope failed to open, is not the
  // innermost one of its mutator (checked builds), or the library refuses (out of memory,
  // wrong thread in checked builds).
  template <class T>
  Handle<T> handle(Ref<T> ref) const noexcept {
    Result<Handle<T>> h = try_handle(ref);
    if (!h.ok()) detail::fatal("uffdgc::HandleScope::handle", h.code());
    return *h;
  }
  Handle<void> handle(uffdgc_ref ref) const noexcept { return handle(Ref<void>(ref)); }
  // The same, reporting UFFDGC_ESTATE (not open; checked builds: not innermost / wrong thread)
  // or UFFDGC_ENOMEM (uffdgc_handle_new returned NULL on the owner thread) instead of
  // aborting. Owner.
  template <class T>
  Result<Handle<T>> try_handle(Ref<T> ref) const noexcept {
    if (!status_.ok()) return Status(UFFDGC_ESTATE);
#ifdef UFFDGC_CHECKED
    if (!is_innermost()) return Status(UFFDGC_ESTATE);
#endif
    uffdgc_ref* slot = uffdgc_handle_new_fast(m_.raw(), ref.raw());
    if (slot == nullptr) return Status(UFFDGC_ENOMEM);
    return Handle<T>(slot);
  }

 private:
  friend class EscapableHandleScope;
  // Innermost open scope of the same mutator on this thread is this one.
  bool is_innermost() const noexcept {
    for (const HandleScope* s = innermost_; s != nullptr; s = s->prev_) {
      if (s->m_.raw() == m_.raw()) return s == this;
    }
    return false;
  }
  Mutator m_;
  Status status_;
  uffdgc_handle_scope scope_{};
  const HandleScope* prev_ = nullptr;
  static inline thread_local const HandleScope* innermost_ = nullptr;
};

// A HandleScope whose result can outlive it: it reserves one slot in the enclosing scope when
// constructed (an enclosing scope must be open), and escape(ref) stores ref there and returns a
// handle to it (V8's EscapableHandleScope, built only on uffdgc_handle_new). Owner thread.
class EscapableHandleScope {
 public:
  explicit EscapableHandleScope(Mutator m) noexcept
      : reserved_(uffdgc_handle_new_fast(m.raw(), 0)), inner_(m) {}
  // A slot was reserved outside and the inner scope opened. Owner.
  bool ok() const noexcept { return reserved_ != nullptr && inner_.ok(); }
  // The inner scope; handle() creates handles in it. Owner.
  HandleScope& scope() noexcept { return inner_; }
  template <class T>
  Handle<T> handle(Ref<T> ref) const noexcept {
    return inner_.handle(ref);
  }
  // Once. Aborts if no slot was reserved (no enclosing scope) or on a second call. Owner.
  template <class T>
  Handle<T> escape(Ref<T> ref) noexcept {
    if (reserved_ == nullptr)
      detail::fatal("uffdgc::EscapableHandleScope::escape: no enclosing scope", UFFDGC_ESTATE);
    if (escaped_) detail::fatal("uffdgc::EscapableHandleScope::escape called twice", UFFDGC_ESTATE);
    escaped_ = true;
    Handle<T> h(reserved_);
    h.set(ref);
    return h;
  }

 private:
  uffdgc_ref* reserved_;
  HandleScope inner_;
  bool escaped_ = false;
};

// A global root (uffdgc_global_create / _destroy): keeps its object alive and follows it when it
// moves, until destroyed. Movable (the slot stays put), not copyable. Must be destroyed before
// its heap (uffdgc_heap_destroy frees the slots; nothing can tell a Global that outlived it).
// create, destroy, the destructor and moves: any thread. get, set, ->: a running mutator of
// the heap; from any other thread only set(nullptr) and comparing get() with null mean
// anything (uffdgc_global_get/_set: atomic with respect to the collector, but such a thread
// holds no reference safely).
template <class T = void>
class Global {
 public:
  Global() noexcept = default;
  // A new global root holding ref (uffdgc_global_create). Any thread.
  static Result<Global> create(const Heap& heap, RefArg ref = nullptr) noexcept {
    uffdgc_global* g = nullptr;
    Status s = uffdgc_global_create(heap.raw(), ref.raw, &g);
    if (!s.ok()) return s;
    return Global(heap.raw(), g);
  }
  Global(Global&& other) noexcept
      : heap_(std::exchange(other.heap_, nullptr)),
        global_(std::exchange(other.global_, nullptr)) {}
  Global& operator=(Global&& other) noexcept {
    if (this != &other) {
      reset();
      heap_ = std::exchange(other.heap_, nullptr);
      global_ = std::exchange(other.global_, nullptr);
    }
    return *this;
  }
  Global(const Global&) = delete;
  Global& operator=(const Global&) = delete;
  ~Global() { reset(); }

  // The object's current address (until the next safepoint). A running mutator.
  Ref<T> get() const noexcept { return Ref<T>(uffdgc_global_get(global_)); }
  T* operator->() const noexcept
    requires(!std::is_void_v<T>)
  {
    return get().get();
  }
  // Points the root at another object (or null). A running mutator.
  void set(RefArg ref) const noexcept { uffdgc_global_set(global_, ref.raw); }
  // No root (default-constructed, moved from or destroyed). Any thread.
  bool empty() const noexcept { return global_ == nullptr; }
  uffdgc_global* raw() const noexcept { return global_; }
  // Destroys the root now; this object becomes empty. Any thread.
  Status destroy() noexcept {
    if (global_ == nullptr) return UFFDGC_OK;
    Status s = uffdgc_global_destroy(heap_, global_);
    if (s.ok()) {
      global_ = nullptr;
      heap_ = nullptr;
    }
    return s;
  }

 private:
  Global(uffdgc_heap* h, uffdgc_global* g) noexcept : heap_(h), global_(g) {}
  void reset() noexcept {
    Status s = destroy();
    if (!s.ok()) detail::fatal("uffdgc::Global: destroy failed", s.code());
  }
  uffdgc_heap* heap_ = nullptr;
  uffdgc_global* global_ = nullptr;
};

// Pins an object for the scope (uffdgc_pin / uffdgc_unpin): it neither moves nor dies, so the
// address from get() stays valid across safepoints (e.g. for a read(2) into it). Owner thread,
// running, at construction and destruction.
template <class T = void>
class PinScope {
 public:
  PinScope(Mutator m, Ref<T> ref) noexcept : m_(m), ref_(ref), status_(m.pin(ref)) {}
  PinScope(Mutator m, const Handle<T>& h) noexcept : PinScope(m, h.get()) {}
  PinScope(const PinScope&) = delete;
  PinScope& operator=(const PinScope&) = delete;
  ~PinScope() {
    if (status_.ok()) {
      Status s = m_.unpin(ref_);
      if (!s.ok())
        detail::fatal("uffdgc::PinScope: unpin failed (wrong thread or parked?)", s.code());
    }
  }
  // Whether the pin succeeded, and why not. Owner.
  bool ok() const noexcept { return status_.ok(); }
  Status status() const noexcept { return status_; }
  // The pinned address: stable for the scope. Owner.
  Ref<T> get() const noexcept { return ref_; }
  T* operator->() const noexcept
    requires(!std::is_void_v<T>)
  {
    return ref_.get();
  }

 private:
  Mutator m_;
  Ref<T> ref_;
  Status status_;
};

}  // namespace uffdgc

#endif  // UFFDGC_UFFDGC_HPP
