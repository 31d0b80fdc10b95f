/**
 * GCBench (after the Ellis/Kovac/Boehm benchmark), written from its description
 * (CONTRACT.md section 4.1). With D = --depth (default 16):
 *
 *  1. build a "stretch" tree of depth D+2 bottom-up, check its size, drop it;
 *  2. build a long-lived complete binary tree of depth D top-down and a
 *     long-lived array of 500000 doubles (a[i] = 1/i); both stay reachable;
 *  3. for depth d = 4, 6, ..., D: build numIters(d) short-lived trees of depth
 *     d top-down (allocate a node, then fill its children in place), then the
 *     same number bottom-up (children first, then the parent), dropping each;
 *     numIters(d) = 2 * treeSize(D+2) / treeSize(d), treeSize(d) = 2^(d+1) - 1,
 *     so every depth allocates about the same number of nodes;
 *  4. check the long-lived tree and array are intact.
 *
 * All of 1-3 is the measured phase (as in the C programs). Op = one tree
 * built: the stretch tree, the long-lived tree, and every short-lived tree.
 * Single-threaded (--threads is ignored). Checksum = nodes allocated in all
 * trees + the array's length; it depends only on --depth.
 */
final class GCBench extends Workload {
    static final int ARRAY_SIZE = 500_000;
    static final int MIN_DEPTH = 4;

    static final class Node {
        Node left, right;
        int i, j;

        Node() {}

        Node(Node l, Node r) { left = l; right = r; }
    }

    final int maxDepth, stretchDepth, longLivedDepth;
    Node longLived;
    double[] array;
    long built; // nodes allocated

    GCBench(Config cfg) {
        super(cfg);
        maxDepth = cfg.depth;
        stretchDepth = maxDepth + 2;
        longLivedDepth = maxDepth;
    }

    static long treeSize(int d) { return (1L << (d + 1)) - 1; }

    long numIters(int d) { return 2 * treeSize(stretchDepth) / treeSize(d); }

    /** Top-down: children allocated into an existing parent. */
    void populate(int depth, Node n) {
        if (depth <= 0) return;
        depth--;
        n.left = new Node();
        n.right = new Node();
        built += 2;
        populate(depth, n.left);
        populate(depth, n.right);
    }

    Node topDown(int depth) {
        Node n = new Node();
        built++;
        populate(depth, n);
        return n;
    }

    /** Bottom-up: children first, then the parent that points at them. */
    Node makeTree(int depth) {
        built++;
        if (depth <= 0) return new Node();
        return new Node(makeTree(depth - 1), makeTree(depth - 1));
    }

    static long count(Node n) {
        long c = 0;
        while (n != null) { // recurse left, iterate right
            c += 1 + count(n.left);
            n = n.right;
        }
        return c;
    }

    @Override
    void run() {
        long t = System.nanoTime();
        Node stretch = makeTree(stretchDepth);
        opHist.record(System.nanoTime() - t);
        if (count(stretch) != treeSize(stretchDepth)) checkFailures++;
        stretch = null;

        t = System.nanoTime();
        longLived = topDown(longLivedDepth);
        opHist.record(System.nanoTime() - t);
        long n = 2;

        array = new double[ARRAY_SIZE];
        for (int i = 0; i < ARRAY_SIZE; i++) array[i] = 1.0 / i;

        for (int d = MIN_DEPTH; d <= maxDepth; d += 2) {
            long iters = numIters(d);
            for (long k = 0; k < iters; k++) {
                long t0 = System.nanoTime();
                Node tree = topDown(d);
                opHist.record(System.nanoTime() - t0);
                tree = null;
            }
            for (long k = 0; k < iters; k++) {
                long t0 = System.nanoTime();
                Node tree = makeTree(d);
                opHist.record(System.nanoTime() - t0);
                tree = null;
            }
            n += 2 * iters;
            if (cfg.verbose) System.err.printf("gcbench: depth %d: %d trees each way%n", d, iters);
        }
        ops = n;
    }

    @Override
    void finish() {
        if (count(longLived) != treeSize(longLivedDepth) || array[1000] != 1.0 / 1000) checkFailures++;
        checksum = built + array.length;
    }

    /** Expected checksum and ops (for the self-test). */
    long expectedChecksum() {
        long c = treeSize(longLivedDepth) + treeSize(stretchDepth) + ARRAY_SIZE;
        for (int d = MIN_DEPTH; d <= maxDepth; d += 2) c += 2 * numIters(d) * treeSize(d);
        return c;
    }

    long expectedOps() {
        long o = 2;
        for (int d = MIN_DEPTH; d <= maxDepth; d += 2) o += 2 * numIters(d);
        return o;
    }

    @Override
    void release() {
        longLived = null;
        array = null;
    }

    @Override
    double liveMib() { return (treeSize(longLivedDepth) * 32.0 + ARRAY_SIZE * 8.0) / 1048576.0; }
}
