/**
 * GCBench (after the Ellis/Kovac/Boehm benchmark), written from its description:
 *
 *  1. build and drop a "stretch" tree of depth D+2 (sizes the heap);
 *  2. build a long-lived complete binary tree of depth D and a long-lived
 *     array of 500000 doubles (a[i] = 1/i) that stay reachable throughout;
 *  3. for depth d = 4, 6, ..., D: build numIters(d) short-lived trees of depth
 *     d top-down (allocate a node, then fill its children in place), then the
 *     same number bottom-up (children first, then the parent), dropping each;
 *     numIters(d) = 2 * treeSize(D+2) / treeSize(d), treeSize(d) = 2^(d+1) - 1,
 *     so every depth allocates about the same number of nodes;
 *  4. check the long-lived tree and array are intact.
 *
 * Steps 1-2 are setup (before Suite's System.gc()); step 3 is timed.
 * Op = one short-lived tree built. Single-threaded (--threads is ignored).
 * Checksum = nodes built in step 3 + nodes of the long-lived tree (walked at the
 * end) + nodes of the stretch tree + the array's length; fully deterministic.
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

    final int maxDepth, stretchDepth, longLivedDepth, minDepth;
    Node longLived;
    double[] array;
    long built; // nodes allocated in short-lived trees
    long stretchNodes;

    GCBench(Config cfg) {
        super(cfg);
        maxDepth = cfg.depth >= 0 ? cfg.depth : 16;
        stretchDepth = maxDepth + 2;
        longLivedDepth = maxDepth;
        minDepth = Math.min(MIN_DEPTH, maxDepth);
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
    void setup() {
        long before = built;
        Node stretch = makeTree(stretchDepth);
        stretchNodes = count(stretch);
        built = before;
        stretch = null;

        longLived = new Node();
        populate(longLivedDepth, longLived);
        built = 0;
        array = new double[ARRAY_SIZE];
        for (int i = 0; i < ARRAY_SIZE / 2; i++) array[i] = 1.0 / i;
    }

    @Override
    void run() {
        long n = 0;
        for (int d = minDepth; d <= maxDepth; d += 2) {
            long iters = numIters(d);
            for (long k = 0; k < iters; k++) {
                long t0 = System.nanoTime();
                Node t = new Node();
                built++;
                populate(d, t);
                t = null;
                opHist.record(System.nanoTime() - t0);
            }
            for (long k = 0; k < iters; k++) {
                long t0 = System.nanoTime();
                Node t = makeTree(d);
                t = null;
                opHist.record(System.nanoTime() - t0);
            }
            n += 2 * iters;
            if (cfg.verbose) System.err.printf("gcbench: depth %d: %d trees each way%n", d, iters);
        }
        ops = n;
    }

    @Override
    void finish() {
        long ll = count(longLived);
        if (ll != treeSize(longLivedDepth)) throw new IllegalStateException("long-lived tree damaged: " + ll);
        if (array[1000] != 1.0 / 1000) throw new IllegalStateException("long-lived array damaged");
        checksum = built + ll + stretchNodes + array.length;
    }

    /** Expected checksum (for the self-test). */
    long expectedChecksum() {
        long c = treeSize(longLivedDepth) + treeSize(stretchDepth) + ARRAY_SIZE;
        for (int d = minDepth; d <= maxDepth; d += 2) c += 2 * numIters(d) * treeSize(d);
        return c;
    }

    @Override
    double liveMibNominal() {
        // node: 16-byte header + 2 refs + 2 ints = 40 bytes; array: 16 + 8 per double
        return (treeSize(longLivedDepth) * 40.0 + 16 + 8.0 * ARRAY_SIZE) / (1 << 20);
    }
}
