import java.util.concurrent.atomic.AtomicInteger;

/**
 * binary-trees (the Benchmarks Game program), written from its description:
 * with n = max(6, --depth) (default 21), min depth 4:
 *
 *  1. build a "stretch" tree of depth n+1, check it, drop it;
 *  2. build a long-lived tree of depth n;
 *  3. for d = 4, 6, ..., n: build 2^(n - d + 4) trees of depth d bottom-up,
 *     check each (count its nodes) and drop it;
 *  4. check the long-lived tree.
 *
 * Steps 1-2 are setup (before Suite's System.gc()), step 3 is timed.
 * Op = one tree built and checked. With --threads T > 1, the trees of step 3
 * are split into chunks handed out to T threads (any depth on any thread).
 * Checksum = sum of all checks (stretch + every tree + long-lived), which
 * depends only on --depth: sum_d 2^(n-d+4) * (2^(d+1) - 1) + 2^(n+2) - 1 + 2^(n+1) - 1.
 */
final class BinaryTrees extends Workload {
    static final int MIN_DEPTH = 4;
    static final int CHUNK = 64; // trees per task handed to a thread

    static final class Node {
        final Node left, right;

        Node(Node l, Node r) { left = l; right = r; }
    }

    final int maxDepth;
    final int nthreads;
    Node longLived;
    long stretchCheck;

    BinaryTrees(Config cfg) {
        super(cfg);
        maxDepth = Math.max(MIN_DEPTH + 2, cfg.depth >= 0 ? cfg.depth : 21);
        nthreads = Math.max(1, cfg.threads);
    }

    static Node bottomUp(int depth) {
        return depth > 0 ? new Node(bottomUp(depth - 1), bottomUp(depth - 1)) : new Node(null, null);
    }

    static long check(Node n) {
        long c = 1;
        while (n.left != null) { // recurse left, iterate right
            c += 1 + check(n.left);
            n = n.right;
        }
        return c;
    }

    long iterations(int d) { return 1L << (maxDepth - d + MIN_DEPTH); }

    @Override
    void setup() {
        stretchCheck = check(bottomUp(maxDepth + 1));
        longLived = bottomUp(maxDepth);
    }

    @Override
    void run() throws Exception {
        // Task list: (depth, first, count) chunks, in the program's depth order.
        int ndepths = (maxDepth - MIN_DEPTH) / 2 + 1;
        int ntasks = 0;
        for (int i = 0; i < ndepths; i++) ntasks += (int) ((iterations(MIN_DEPTH + 2 * i) + CHUNK - 1) / CHUNK);
        int[] td = new int[ntasks];
        int[] tc = new int[ntasks];
        int t = 0;
        for (int i = 0; i < ndepths; i++) {
            int d = MIN_DEPTH + 2 * i;
            for (long left = iterations(d); left > 0; left -= CHUNK) {
                td[t] = d;
                tc[t++] = (int) Math.min(CHUNK, left);
            }
        }
        AtomicInteger next = new AtomicInteger();
        Hist[] hists = new Hist[nthreads];
        long[] checks = new long[nthreads];
        long[] opsBy = new long[nthreads];
        Thread[] th = new Thread[nthreads];
        Throwable[] err = new Throwable[1];
        for (int k = 0; k < nthreads; k++) {
            final int me = k;
            hists[k] = new Hist();
            th[k] = new Thread(() -> {
                Hist h = hists[me];
                long sum = 0, n = 0;
                int i;
                while ((i = next.getAndIncrement()) < td.length) {
                    int d = td[i];
                    for (int c = tc[i]; c > 0; c--) {
                        long t0 = System.nanoTime();
                        sum += check(bottomUp(d));
                        h.record(System.nanoTime() - t0);
                        n++;
                    }
                }
                checks[me] = sum;
                opsBy[me] = n;
            }, "binary-trees-" + k);
            th[k].setUncaughtExceptionHandler((x, e) -> err[0] = e);
            th[k].start();
        }
        for (Thread x : th) x.join();
        if (err[0] != null) throw new RuntimeException(err[0]);
        long sum = 0;
        for (int k = 0; k < nthreads; k++) {
            opHist.merge(hists[k]);
            sum += checks[k];
            ops += opsBy[k];
        }
        checksum = sum;
    }

    @Override
    void finish() {
        long ll = check(longLived);
        if (ll != (1L << (maxDepth + 1)) - 1) throw new IllegalStateException("long-lived tree damaged: " + ll);
        checksum += stretchCheck + ll;
    }

    long expectedChecksum() {
        long c = (1L << (maxDepth + 2)) - 1 + (1L << (maxDepth + 1)) - 1;
        for (int d = MIN_DEPTH; d <= maxDepth; d += 2) c += iterations(d) * ((1L << (d + 1)) - 1);
        return c;
    }

    @Override
    int threadsUsed() { return nthreads; }

    @Override
    double liveMibNominal() {
        // node: 16-byte header + 2 refs = 32 bytes
        return ((1L << (maxDepth + 1)) - 1) * 32.0 / (1 << 20);
    }
}
