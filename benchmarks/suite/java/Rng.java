/**
 * SplitMix64, bit for bit the C programs' suite::Rng (benchmarks/suite/common.h),
 * so a seed gives the same stream in both languages. Callers reduce with
 * Long.remainderUnsigned, as C's `r() % n` on uint64_t.
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
}
