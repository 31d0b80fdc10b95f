import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.LockSupport;

/**
 * churn / churn-mt: a large live heap of which a fraction is replaced continuously.
 *
 * The live set is a table of units. A unit is a small closed subgraph with a
 * nominal size drawn uniformly from 1-4 KiB: a root node plus further objects,
 * each a small node (7 in 8; 2-4 reference fields, a byte[] payload of 16-256
 * bytes) or an array of references (1 in 8; length log-uniform in 8..1023).
 * Each new object is stored into a randomly chosen free reference slot of the
 * unit built so far (a spanning tree); once the unit is big enough, every
 * remaining free slot gets, with probability 1/2, a reference to a random node
 * of the unit (extra edges and cycles), else stays null.
 *
 * Nominal sizes count as a C program with 8-byte pointers would lay it out:
 * node = 16 + 8 * refs + payload bytes, array = 16 + 8 * length; the table is
 * filled until the units' nominal total reaches --live-mib. The JVM's real
 * footprint differs (compressed oops, object headers, separate payload
 * arrays), hence live_mib_measured in the result.
 *
 * Op = replace one randomly chosen unit of the thread's table: walk the old
 * unit and verify its checksum (reads every object: exercises load barriers and
 * catches a GC that broke the graph), build a fresh unit, store it in the slot.
 * With --replace-fraction F > 0 each thread paces its ops to replace F of its
 * units per second; otherwise it runs flat out. The run ends after --seconds
 * (default 10) or, with --ops N, after N ops in total, whichever comes first.
 *
 * churn-mt: --threads T mutators (default 2), each with its own table holding
 * 15/16 / T of the live set, plus a shared AtomicReferenceArray holding the
 * other 1/16. In 1 of 8 ops the fresh unit is swapped into a random shared slot
 * and the unit taken out of it goes into the thread's table instead, so units
 * built by one thread end up referenced from (and later verified and dropped
 * by) another.
 *
 * Checksum = sum of the checks of every unit verified by an op + of every unit
 * live at the end (all verified). For churn with --ops N (and no --seconds) it
 * depends only on --seed, --live-mib and N; with a time bound or with
 * churn-mt it varies run to run.
 */
final class Churn extends Workload {
    static final int UNIT_MIN = 1024, UNIT_MAX = 4096;
    static final int SHARED_DIV = 16;
    static final int EXCHANGE_ONE_IN = 8;

    static final class Node {
        Object r0, r1, r2, r3;
        byte[] payload;
        long mark;
        int nrefs;

        Object get(int i) {
            switch (i) {
                case 0: return r0;
                case 1: return r1;
                case 2: return r2;
                default: return r3;
            }
        }

        void set(int i, Object o) {
            switch (i) {
                case 0: r0 = o; break;
                case 1: r1 = o; break;
                case 2: r2 = o; break;
                default: r3 = o; break;
            }
        }
    }

    static final class Unit {
        final Node root;
        final long check;
        final int bytes;

        Unit(Node root, long check, int bytes) {
            this.root = root;
            this.check = check;
            this.bytes = bytes;
        }
    }

    static long nodeValue(long payloadSum, int nrefs) { return payloadSum * 31 + nrefs; }

    static long arrayValue(int len) { return len * 1000003L; }

    /** One mutator: its RNG, table, scratch space and results. */
    static final class Mutator {
        final Rng rng;
        Unit[] units = new Unit[16];
        int nunits;
        long liveBytes;
        final Hist hist = new Hist();
        long ops, sum;
        long epoch;
        // build scratch
        Node[] nodes = new Node[64];
        int nn;
        Object[] slotObj = new Object[1024];
        int[] slotIdx = new int[1024];
        int ns;
        // walk scratch
        Object[] stack = new Object[1024];

        Mutator(long seed, int id) {
            rng = new Rng(seed);
            epoch = (long) (id + 1) << 40;
        }

        void addUnit(Unit u) {
            if (nunits == units.length) units = Arrays.copyOf(units, nunits * 2);
            units[nunits++] = u;
            liveBytes += u.bytes;
        }

        private void addSlot(Object o, int idx) {
            if (ns == slotObj.length) {
                slotObj = Arrays.copyOf(slotObj, ns * 2);
                slotIdx = Arrays.copyOf(slotIdx, ns * 2);
            }
            slotObj[ns] = o;
            slotIdx[ns++] = idx;
        }

        private static void store(Object owner, int idx, Object v) {
            if (owner instanceof Node) ((Node) owner).set(idx, v);
            else ((Object[]) owner)[idx] = v;
        }

        Unit build() {
            final Rng r = rng;
            int budget = r.range(UNIT_MIN, UNIT_MAX);
            nn = 0;
            ns = 0;
            Node root = newNode();
            addSlots(root);
            int bytes = lastBytes;
            long check = lastValue, edges = 0;
            while (bytes < budget) {
                Object o;
                if (r.below(8) == 0) {
                    int e = r.below(7);
                    int len = (8 << e) + r.below(8 << e);
                    Object[] a = new Object[len];
                    bytes += 16 + 8 * len;
                    check += arrayValue(len);
                    attach(a);
                    for (int i = 0; i < len; i++) addSlot(a, i);
                } else {
                    Node n = newNode();
                    bytes += lastBytes;
                    check += lastValue;
                    attach(n);
                    addSlots(n);
                }
                edges++;
            }
            // Remaining free slots: half get an extra edge to a random node of the unit.
            Node[] nd = nodes;
            for (int k = 0; k < ns; k++) {
                if (r.below(2) == 0) {
                    store(slotObj[k], slotIdx[k], nd[r.below(nn)]);
                    edges++;
                }
                slotObj[k] = null;
            }
            for (int k = 0; k < nn; k++) nd[k] = null;
            ns = 0;
            nn = 0;
            return new Unit(root, check + edges, bytes);
        }

        private int lastBytes;
        private long lastValue;

        private void addSlots(Node n) {
            for (int i = 0, k = n.nrefs; i < k; i++) addSlot(n, i);
        }

        /** A node with its payload; registers it (not its slots); sets lastBytes/lastValue. */
        private Node newNode() {
            final Rng r = rng;
            Node n = new Node();
            int nrefs = r.range(2, 4);
            int plen = r.range(16, 256);
            long x = r.next();
            byte b = (byte) x, step = (byte) ((x >>> 8) | 1);
            byte[] p = new byte[plen];
            long psum = 0;
            for (int i = 0; i < plen; i++) {
                p[i] = b;
                psum += b & 0xff;
                b += step;
            }
            n.payload = p;
            n.nrefs = nrefs;
            lastBytes = 16 + 8 * nrefs + plen;
            lastValue = nodeValue(psum, nrefs);
            if (nn == nodes.length) nodes = Arrays.copyOf(nodes, nn * 2);
            nodes[nn++] = n;
            return n;
        }

        /** Store o into a random free slot (taking the slot), before o's own slots exist. */
        private void attach(Object o) {
            int k = rng.below(ns);
            store(slotObj[k], slotIdx[k], o);
            ns--;
            slotObj[k] = slotObj[ns];
            slotIdx[k] = slotIdx[ns];
            slotObj[ns] = null;
        }

        /** Recompute a unit's check by walking it (nodes may be reached twice, arrays once). */
        long walk(Unit u) {
            long ep = ++epoch;
            long check = 0, edges = 0;
            Object[] st = stack;
            int sp = 0;
            st[sp++] = u.root;
            while (sp > 0) {
                Object o = st[--sp];
                st[sp] = null;
                if (o instanceof Node) {
                    Node n = (Node) o;
                    if (n.mark == ep) continue;
                    n.mark = ep;
                    byte[] p = n.payload;
                    long psum = 0;
                    for (byte b : p) psum += b & 0xff;
                    int nr = n.nrefs;
                    check += nodeValue(psum, nr);
                    if (sp + nr > st.length) st = stack = Arrays.copyOf(st, st.length * 2);
                    for (int i = 0; i < nr; i++) {
                        Object c = n.get(i);
                        if (c != null) {
                            edges++;
                            st[sp++] = c;
                        }
                    }
                } else {
                    Object[] a = (Object[]) o;
                    check += arrayValue(a.length);
                    if (sp + a.length > st.length) st = stack = Arrays.copyOf(st, Math.max(st.length * 2, sp + a.length));
                    for (Object c : a) {
                        if (c != null) {
                            edges++;
                            st[sp++] = c;
                        }
                    }
                }
            }
            return check + edges;
        }

        long verify(Unit u) {
            long c = walk(u);
            if (c != u.check)
                throw new IllegalStateException("unit damaged: check " + c + " != " + u.check);
            return c;
        }
    }

    final boolean multi;
    final int nthreads;
    Mutator[] muts;
    AtomicReferenceArray<Unit> shared;
    long sharedBytes;
    long totalUnits;
    double builtMib;

    Churn(Config cfg, boolean multi) {
        super(cfg);
        this.multi = multi;
        int t = cfg.threads > 0 ? cfg.threads : (multi ? 2 : 1);
        if (!multi && t > 1) {
            System.err.println("churn: single mutator (use churn-mt for --threads " + t + ")");
            t = 1;
        }
        nthreads = t;
    }

    @Override
    void setup() throws Exception {
        long total = (long) (cfg.liveMib * (1 << 20));
        long sharedTarget = multi ? total / SHARED_DIV : 0;
        long perThread = (total - sharedTarget) / nthreads;
        muts = new Mutator[nthreads];
        Thread[] th = new Thread[nthreads];
        Throwable[] err = new Throwable[1];
        for (int k = 0; k < nthreads; k++) {
            Mutator m = muts[k] = new Mutator(Rng.stream(cfg.seed, k), k);
            th[k] = new Thread(() -> {
                do m.addUnit(m.build());
                while (m.liveBytes < perThread);
            }, "churn-build-" + k);
            th[k].setUncaughtExceptionHandler((x, e) -> err[0] = e);
            th[k].start();
        }
        if (multi) {
            Mutator sm = new Mutator(Rng.stream(cfg.seed, nthreads), nthreads);
            do sm.addUnit(sm.build());
            while (sm.liveBytes < sharedTarget);
            shared = new AtomicReferenceArray<>(Arrays.copyOf(sm.units, sm.nunits));
            sharedBytes = sm.liveBytes;
            totalUnits += sm.nunits;
        }
        for (Thread x : th) x.join();
        if (err[0] != null) throw new RuntimeException(err[0]);
        long bytes = sharedBytes;
        for (Mutator m : muts) {
            m.units = Arrays.copyOf(m.units, m.nunits);
            bytes += m.liveBytes;
            totalUnits += m.nunits;
        }
        builtMib = bytes / (double) (1 << 20);
        if (cfg.verbose)
            System.err.printf("churn: %d units, %.1f MiB nominal, %d threads%n", totalUnits, builtMib, nthreads);
    }

    @Override
    void run() throws Exception {
        boolean hasOps = cfg.maxOps >= 0;
        double secs = cfg.seconds >= 0 ? cfg.seconds : (hasOps ? -1 : 10);
        CountDownLatch go = new CountDownLatch(1);
        Thread[] th = new Thread[nthreads];
        Throwable[] err = new Throwable[1];
        for (int k = 0; k < nthreads; k++) {
            final Mutator m = muts[k];
            final long limit = hasOps ? cfg.maxOps / nthreads + (k < cfg.maxOps % nthreads ? 1 : 0) : Long.MAX_VALUE;
            th[k] = new Thread(() -> {
                try {
                    go.await();
                } catch (InterruptedException e) {
                    return;
                }
                mutate(m, limit, secs);
            }, "churn-" + k);
            th[k].setUncaughtExceptionHandler((x, e) -> err[0] = e);
            th[k].start();
        }
        go.countDown();
        for (Thread x : th) x.join();
        if (err[0] != null) throw new RuntimeException(err[0]);
        for (Mutator m : muts) {
            opHist.merge(m.hist);
            ops += m.ops;
            checksum += m.sum;
        }
    }

    private void mutate(Mutator m, long limit, double secs) {
        final Rng r = m.rng;
        final Unit[] units = m.units;
        final int n = units.length;
        final AtomicReferenceArray<Unit> sh = shared;
        final long start = System.nanoTime();
        final long deadline = secs >= 0 ? start + (long) (secs * 1e9) : Long.MAX_VALUE;
        final boolean paced = cfg.replaceFraction > 0;
        final long interval = paced ? Math.max(1, (long) (1e9 / (cfg.replaceFraction * n))) : 0;
        long next = start;
        long ops = 0, sum = 0;
        if (limit == 0 || start >= deadline) return;
        while (true) {
            if (paced) {
                next += interval;
                long now;
                while ((now = System.nanoTime()) < next) {
                    if (now >= deadline) break;
                    LockSupport.parkNanos(Math.min(next, deadline) - now);
                }
                if (now >= deadline) break;
                if (now - next > Probe.RESYNC_NS) next = now;
            }
            int i = r.below(n);
            long t0 = System.nanoTime();
            Unit old = units[i];
            sum += m.verify(old);
            Unit u = m.build();
            if (sh != null && r.below(EXCHANGE_ONE_IN) == 0) u = sh.getAndSet(r.below(sh.length()), u);
            units[i] = u;
            long t1 = System.nanoTime();
            m.hist.record(t1 - t0);
            ops++;
            if (ops >= limit || t1 >= deadline) break;
        }
        m.ops = ops;
        m.sum = sum;
    }

    @Override
    void finish() {
        Mutator v = new Mutator(0, nthreads + 1);
        long s = 0;
        for (Mutator m : muts)
            for (Unit u : m.units) s += v.verify(u);
        if (shared != null)
            for (int i = 0; i < shared.length(); i++) s += v.verify(shared.get(i));
        checksum += s;
    }

    @Override
    int threadsUsed() { return nthreads; }

    @Override
    double liveMibNominal() { return builtMib; }
}
