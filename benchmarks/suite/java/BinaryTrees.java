import java.util.concurrent.atomic.AtomicInteger;

/**
 * binary-trees (the Benchmarks Game program), written from its description
 * (CONTRACT.md section 4.2). With n = --depth (default 18), min depth 4:
 *
 *  1. build a "stretch" tree of depth n+1 bottom-up, check it, drop it;
 *  2. build a long-lived tree of depth n (and check it);
 *  3. for d = 4, 6, ..., n: build 2^(n - d + 4) trees of depth d bottom-up,
 *     check each (count its nodes) and drop it;
 *  4. check the long-lived tree again.
 *
 * All of 1-3 is the measured phase. Op = one tree built and checked (stretch,
 * long-lived and every tree of step 3). With --threads T > 1 the trees of step
 * 3 are split into chunks of 64 handed out to T threads (the C programs run
 * single-threaded). Checksum = sum of all checks of steps 1-3; it depends only
 * on --depth: treeSize(n+1) + treeSize(n) + sum_d 2^(n-d+4) * treeSize(d).
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

    BinaryTrees(Config cfg) {
        super(cfg);
        maxDepth = cfg.depth;
        nthreads = cfg.threads;
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

    static long treeSize(int d) { return (1L << (d + 1)) - 1; }

    long iterations(int d) { return 1L << (maxDepth - d + MIN_DEPTH); }

    @Override
    void run() throws Exception {
        long t = System.nanoTime();
        long c = check(bottomUp(maxDepth + 1));
        opHist.record(System.nanoTime() - t);
        if (c != treeSize(maxDepth + 1)) checkFailures++;
        long sum = c;

        t = System.nanoTime();
        longLived = bottomUp(maxDepth);
        c = check(longLived);
        opHist.record(System.nanoTime() - t);
        if (c != treeSize(maxDepth)) checkFailures++;
        sum += c;
        ops = 2;

        // Tasks: (depth, count) chunks, in the program's depth order.
        int ntasks = 0;
        for (int d = MIN_DEPTH; d <= maxDepth; d += 2) ntasks += (int) ((iterations(d) + CHUNK - 1) / CHUNK);
        int[] td = new int[ntasks];
        int[] tc = new int[ntasks];
        int k = 0;
        for (int d = MIN_DEPTH; d <= maxDepth; d += 2) {
            for (long left = iterations(d); left > 0; left -= CHUNK) {
                td[k] = d;
                tc[k++] = (int) Math.min(CHUNK, left);
            }
        }
        AtomicInteger next = new AtomicInteger();
        Hist[] hists = new Hist[nthreads];
        long[] sums = new long[nthreads], opsBy = new long[nthreads], bad = new long[nthreads];
        Runnable[] work = new Runnable[nthreads];
        for (int w = 0; w < nthreads; w++) {
            final int me = w;
            final Hist h = hists[w] = me == 0 ? opHist : new Hist();
            work[w] = () -> {
                long s = 0, n = 0, b = 0;
                int i;
                try {
                    while ((i = next.getAndIncrement()) < td.length) {
                        int d = td[i];
                        long want = treeSize(d);
                        for (int r = tc[i]; r > 0; r--) {
                            long t0 = System.nanoTime();
                            long x = check(bottomUp(d));
                            h.record(System.nanoTime() - t0);
                            if (x != want) b++;
                            s += x;
                            n++;
                        }
                    }
                } catch (Throwable e) { // e.g. OutOfMemoryError: stop the others too
                    next.set(td.length);
                    throw e;
                }
                sums[me] = s;
                opsBy[me] = n;
                bad[me] = b;
            };
        }
        Suite.runThreads("binary-trees", work);
        for (int w = 0; w < nthreads; w++) {
            if (w != 0) opHist.merge(hists[w]);
            sum += sums[w];
            ops += opsBy[w];
            checkFailures += bad[w];
        }
        checksum = sum;
    }

    @Override
    void finish() {
        if (check(longLived) != treeSize(maxDepth)) checkFailures++;
    }

    long expectedChecksum() {
        long c = treeSize(maxDepth + 1) + treeSize(maxDepth);
        for (int d = MIN_DEPTH; d <= maxDepth; d += 2) c += iterations(d) * treeSize(d);
        return c;
    }

    long expectedOps() {
        long o = 2;
        for (int d = MIN_DEPTH; d <= maxDepth; d += 2) o += iterations(d);
        return o;
    }

    @Override
    void release() { longLived = null; }

    @Override
    double liveMib() { return treeSize(maxDepth) * 24.0 / 1048576.0; }
}
