import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * churn / churn-mt (CONTRACT.md section 4.3), the same units, drawn from the
 * same SplitMix64 stream, as the C programs (benchmarks/suite/common.h
 * draw_unit, native.h build_unit), so a seed gives the same live set on every
 * collector and in both languages.
 *
 * A unit is an Object[9] (the C model's RefArray(9)): elements 0-7 are the heads
 * of 8 chains of 1-8 CNodes {next, other, value}; element 8 is a byte[] blob of
 * 64-2048 bytes (no references) whose first 8 bytes (little-endian) hold the
 * sum of the unit's node values. A node's `other` points back to the unit
 * (even position in its chain) or to the blob (odd). Draw order per unit:
 * blob_len = 64 + 64 * (r % 32); then the 8 chain lengths 1 + r % 8; then one
 * value r % 1000000 per node, chain by chain (all r unsigned 64-bit).
 *
 * The live set is a table of ceil(live_mib * 2^20 / 2312) units (2312 = the
 * nominal unit size), built in order from Rng(seed) before the measured phase.
 * The hot set is the first max(threads, units * replace_fraction) units.
 * Op = replace one unit: thread t (Rng(seed + 1000003 * (t + 1))) picks a hot
 * index i with i % threads == t uniformly, checks the old unit (the chain sum
 * equals the blob's sum; else check_failures++), builds a fresh unit from its
 * own stream and stores it in table[i]. The threads share one op budget
 * (--ops) and stop at --seconds (checked every 64 ops). churn has one thread;
 * churn-mt has T >= 2 that share the table (units built by one thread sit in
 * the same table array the others write).
 *
 * Checksum = sum of the value sums of every unit checked by an op + of every
 * unit in the table at the end. With --ops and churn it depends only on the
 * seed, live_mib, replace_fraction and ops.
 */
final class Churn extends Workload {
    static final long NOMINAL_UNIT_BYTES = 2312;
    static final int CHAINS = 8, MAX_CHAIN = 8;
    static final VarHandle LE_LONG = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    static final class CNode {
        CNode next;
        Object other; // the unit (even position) or its blob (odd)
        long value;
    }

    static long units(double liveMib) {
        double bytes = liveMib * 1048576.0;
        return (long) ((bytes + NOMINAL_UNIT_BYTES - 1) / NOMINAL_UNIT_BYTES);
    }

    static long hot(long units, double fraction, int threads) {
        long h = (long) (units * fraction);
        if (h < threads) h = threads;
        if (h > units) h = units;
        return h;
    }

    static long pick(Rng r, long hot, int threads, int t) {
        long per = (hot - t + threads - 1) / threads;
        return t + (long) threads * Long.remainderUnsigned(r.next(), per);
    }

    static long threadSeed(long seed, int t) { return seed + 1000003L * (t + 1); }

    /** Build scratch, one per thread. */
    static final class Builder {
        final int[] chainLen = new int[CHAINS];
        final long[] values = new long[CHAINS * MAX_CHAIN];

        Object[] build(Rng r) {
            int blobLen = (int) (64 + 64 * Long.remainderUnsigned(r.next(), 32));
            int nodes = 0;
            for (int c = 0; c < CHAINS; c++) {
                chainLen[c] = 1 + (int) Long.remainderUnsigned(r.next(), MAX_CHAIN);
                nodes += chainLen[c];
            }
            long sum = 0;
            for (int i = 0; i < nodes; i++) {
                values[i] = Long.remainderUnsigned(r.next(), 1000000);
                sum += values[i];
            }
            Object[] u = new Object[CHAINS + 1];
            byte[] blob = new byte[blobLen];
            LE_LONG.set(blob, 0, sum);
            u[CHAINS] = blob;
            int v = 0;
            for (int c = 0; c < CHAINS; c++) {
                int first = v;
                v += chainLen[c];
                CNode head = null;
                for (int k = chainLen[c] - 1; k >= 0; k--) { // from the tail
                    CNode n = new CNode();
                    n.next = head;
                    n.other = (k & 1) == 0 ? u : blob;
                    n.value = values[first + k];
                    head = n;
                }
                u[c] = head;
            }
            return u;
        }
    }

    /** The unit's value sum if it checks out, else -1. */
    static long check(Object[] u) {
        if (u == null || u.length != CHAINS + 1 || !(u[CHAINS] instanceof byte[])) return -1;
        byte[] blob = (byte[]) u[CHAINS];
        long sum = 0;
        for (int c = 0; c < CHAINS; c++) {
            int k = 0;
            for (CNode n = (CNode) u[c]; n != null; n = n.next, k++) {
                if (n.other != ((k & 1) == 0 ? (Object) u : blob)) return -1;
                sum += n.value;
            }
        }
        return sum == (long) LE_LONG.get(blob, 0) ? sum : -1;
    }

    final int nthreads;
    final long nunits, nhot;
    Object[][] table;

    Churn(Config cfg) {
        super(cfg);
        nthreads = cfg.threads;
        nunits = units(cfg.liveMib);
        nhot = hot(nunits, cfg.replaceFraction, nthreads);
        if (nunits > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("--live-mib too large");
    }

    @Override
    boolean liveBeforeRun() { return true; }

    @Override
    void setup() {
        long b0 = System.nanoTime();
        table = new Object[(int) nunits][];
        Rng r = new Rng(cfg.seed);
        Builder b = new Builder();
        for (int i = 0; i < nunits; i++) table[i] = b.build(r);
        buildS = (System.nanoTime() - b0) / 1e9;
        if (cfg.verbose) System.err.printf("churn: %d units (%d hot), built in %.2f s%n", nunits, nhot, buildS);
    }

    @Override
    void run() throws Exception {
        final long start = System.nanoTime();
        final long deadline = cfg.seconds > 0 ? start + (long) (cfg.seconds * 1e9) : Long.MAX_VALUE;
        final long budget = cfg.ops;
        final AtomicLong claimed = new AtomicLong();
        final AtomicBoolean stop = new AtomicBoolean();
        final Hist[] hists = new Hist[nthreads];
        final long[] opsBy = new long[nthreads], sums = new long[nthreads], bad = new long[nthreads];
        final Object[][] tab = table;
        Runnable[] work = new Runnable[nthreads];
        for (int w = 0; w < nthreads; w++) {
            final int t = w;
            final Hist h = hists[w] = t == 0 ? opHist : new Hist();
            work[w] = () -> {
                Rng r = new Rng(threadSeed(cfg.seed, t));
                Builder b = new Builder();
                long n = 0, s = 0, f = 0;
                try {
                    while (true) { // Budget.claim()
                        if (stop.get()) break;
                        if (budget != 0 && claimed.getAndIncrement() >= budget) {
                            stop.set(true);
                            break;
                        }
                        long t0 = System.nanoTime();
                        int i = (int) pick(r, nhot, nthreads, t);
                        long c = check(tab[i]);
                        if (c < 0) f++;
                        else s += c;
                        tab[i] = b.build(r);
                        long t1 = System.nanoTime();
                        h.record(t1 - t0);
                        n++;
                        if ((n & 63) == 0 && t1 >= deadline) stop.set(true);
                    }
                } catch (Throwable e) { // e.g. OutOfMemoryError: stop the others too
                    stop.set(true);
                    throw e;
                }
                opsBy[t] = n;
                sums[t] = s;
                bad[t] = f;
            };
        }
        Suite.runThreads("churn", work);
        for (int w = 0; w < nthreads; w++) {
            if (w != 0) opHist.merge(hists[w]);
            ops += opsBy[w];
            checksum += sums[w];
            checkFailures += bad[w];
        }
        completed = budget == 0 || ops >= budget;
    }

    @Override
    void finish() {
        for (Object[] u : table) {
            long c = check(u);
            if (c < 0) checkFailures++;
            else checksum += c;
        }
    }

    @Override
    void release() { table = null; }

    @Override
    double liveMib() { return cfg.liveMib; }
}
