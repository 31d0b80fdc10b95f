// The sanitizers install SIGBUS handlers of their own; the collector's fault path and the
// installer's signal-handler tests need to see SIGBUS themselves (design: .embedder.signal-safe).
// Linked into every test binary so running one by hand behaves like ctest.
extern "C" {
__attribute__((used)) const char* __asan_default_options() {
  return "handle_sigbus=0:allow_user_segv_handler=1:detect_leaks=1";
}
__attribute__((used)) const char* __tsan_default_options() { return "handle_sigbus=0"; }
__attribute__((used)) const char* __ubsan_default_options() {
  return "print_stacktrace=1:halt_on_error=1";
}
}
