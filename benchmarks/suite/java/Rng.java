/**
 * SplitMix64: tiny, fast, and trivial to reproduce in C (the C/C++ workloads
 * can use the same generator for identical streams from the same seed).
 */
final class Rng {
    private long s;

    Rng(long seed) { s = seed; }

    long next() {
        long z = (s += 0x9E3779B97F4A7C15L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform in [0, n), n > 0 (Lemire's multiply-high reduction of the top 32 bits). */
    int below(int n) { return (int) (((next() >>> 32) * n) >>> 32); }

    /** Uniform in [lo, hi] inclusive. */
    int range(int lo, int hi) { return lo + below(hi - lo + 1); }

    /** Stream i derived from a seed (independent per thread). */
    static long stream(long seed, int i) { return new Rng(seed ^ (0x632BE59BD9B4E019L * (i + 1))).next(); }
}
