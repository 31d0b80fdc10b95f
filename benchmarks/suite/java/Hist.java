/**
 * Log-linear latency histogram (nanoseconds), shared format with the C/C++ side.
 *
 * For a value v >= 0: values below 8 get one bucket per integer. Otherwise
 * p = floor(log2(v)) and the power-of-two range [2^p, 2^(p+1)) is split into
 * 8 equal sub-buckets of width 2^(p-3). A bucket is reported by its EXCLUSIVE
 * upper bound. (The top bucket's bound, 2^63, is clamped to Long.MAX_VALUE.)
 *
 * Index layout: v < 16 -> index v (the p = 3 buckets have width 1 too);
 * v >= 8 -> (p - 2) * 8 + sub. Negative values are recorded as 0.
 * Not thread-safe: one histogram per thread, merged at the end.
 */
final class Hist {
    static final int SIZE = (62 - 2) * 8 + 8; // p = 62 is the largest power for a long

    final long[] counts = new long[SIZE];

    static int index(long v) {
        if (v < 8) return v < 0 ? 0 : (int) v;
        int p = 63 - Long.numberOfLeadingZeros(v);
        int sub = (int) ((v >>> (p - 3)) & 7);
        return (p - 2) * 8 + sub;
    }

    /** Exclusive upper bound of bucket idx. */
    static long upper(int idx) {
        if (idx < 8) return idx + 1;
        int p = idx / 8 + 2, sub = idx % 8;
        if (p == 62 && sub == 7) return Long.MAX_VALUE;
        return (1L << p) + ((long) (sub + 1) << (p - 3));
    }

    /** Inclusive lower bound of bucket idx. */
    static long lower(int idx) {
        if (idx < 8) return idx;
        int p = idx / 8 + 2, sub = idx % 8;
        return (1L << p) + ((long) sub << (p - 3));
    }

    void record(long v) { counts[index(v)]++; }

    void merge(Hist o) { for (int i = 0; i < SIZE; i++) counts[i] += o.counts[i]; }

    long total() { long t = 0; for (long c : counts) t += c; return t; }

    /** [[upper_ns,count],...], only non-empty buckets, ascending. */
    String toJson() {
        StringBuilder sb = new StringBuilder("[");
        boolean first = true;
        for (int i = 0; i < SIZE; i++) {
            if (counts[i] == 0) continue;
            if (!first) sb.append(',');
            first = false;
            sb.append('[').append(upper(i)).append(',').append(counts[i]).append(']');
        }
        return sb.append(']').toString();
    }

    /** Unit self-check of the bucket math; returns null if fine, else a message. */
    static String selfCheck() {
        if (SIZE != 8 + 60 * 8) return "size";
        Hist h = new Hist();
        for (long v : new long[] {0, 1, 7, 8, 9, 15, 16, 17, 1000, 1023, 1024, -5})
            h.record(v);
        String want = "[[1,2],[2,1],[8,1],[9,1],[10,1],[16,1],[18,2],[1024,2],[1152,1]]";
        if (!h.toJson().equals(want))
            return "hist json: got " + h.toJson() + " want " + want;
        // Every value lies in [lower, upper) of its bucket; widths are max(1, 2^(p-3)).
        Rng r = new Rng(42);
        long prevIdx = -1;
        for (long v = 0; v < 200_000; v++) {
            int i = index(v);
            if (i < prevIdx) return "index not monotonic at " + v;
            prevIdx = i;
            String e = checkOne(v);
            if (e != null) return e;
        }
        for (int k = 0; k < 63; k++) {
            for (long v : new long[] {(1L << k) - 1, 1L << k, (1L << k) + 1}) {
                if (v < 0) continue;
                String e = checkOne(v);
                if (e != null) return e;
            }
        }
        for (int k = 0; k < 100_000; k++) {
            String e = checkOne(r.next() >>> (r.next() & 63) >>> 1);
            if (e != null) return e;
        }
        if (index(Long.MAX_VALUE) != SIZE - 1) return "max value not in last bucket";
        for (int i = 1; i < SIZE; i++)
            if (lower(i) != upper(i - 1)) return "buckets not contiguous at " + i;
        return null;
    }

    private static String checkOne(long v) {
        int i = index(v);
        long lo = lower(i), hi = upper(i);
        boolean in = lo <= v && (v < hi || (hi == Long.MAX_VALUE && i == SIZE - 1));
        if (!in) return "value " + v + " outside bucket " + i + " [" + lo + "," + hi + ")";
        if (v >= 8) {
            int p = 63 - Long.numberOfLeadingZeros(v);
            long width = 1L << (p - 3);
            if (i != SIZE - 1 && hi - lo != width) return "bad width for " + v;
        }
        return null;
    }
}
