import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Entry point of the Java side of the benchmark suite (see README.md).
 *
 *   java <gc flags> -Xms<H> -Xmx<H> -Xlog:gc*,safepoint:file=<log>:uptime,level,tags \
 *        -cp <out> Suite --workload gcbench|binary-trees|churn|churn-mt \
 *        [--live-mib N] [--threads T] [--seconds S] [--depth D] \
 *        [--replace-fraction F] [--seed X] [--ops N] [--verbose]
 *   java -cp <out> Suite --selftest
 *
 * The result is one JSON object on the last stdout line; nothing else goes to
 * stdout (diagnostics go to stderr).
 */
public final class Suite {
    public static void main(String[] args) {
        Config cfg;
        try {
            cfg = Config.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("Suite: " + e.getMessage());
            System.exit(2);
            return;
        }
        if (cfg.selftest) {
            String err = selftest();
            if (err == null) {
                System.out.println("selftest: OK");
                System.exit(0);
            }
            System.out.println("selftest: FAILED: " + err);
            System.exit(1);
        }
        try {
            Result r = run(cfg);
            System.out.println(r.toJson());
            System.out.flush();
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1);
        }
    }

    static Workload create(Config cfg) {
        switch (cfg.workload) {
            case "gcbench": return new GCBench(cfg);
            case "binary-trees": return new BinaryTrees(cfg);
            case "churn": return new Churn(cfg, false);
            case "churn-mt": return new Churn(cfg, true);
            default: throw new IllegalArgumentException("unknown workload " + cfg.workload);
        }
    }

    static final class Result {
        Config cfg;
        Workload w;
        double wallS;
        double liveMibMeasured;
        Hist probe;
        long gcCount, gcTimeMs;

        String toJson() {
            StringBuilder sb = new StringBuilder("{");
            sb.append("\"workload\":\"").append(cfg.workload).append('"');
            sb.append(",\"collector\":\"java-").append(collectorName()).append('"');
            sb.append(",\"ops\":").append(w.ops);
            sb.append(",\"wall_s\":").append(fmt(wallS));
            sb.append(",\"live_mib\":").append(fmt(cfg.workload.startsWith("churn") ? cfg.liveMib : w.liveMibNominal()));
            sb.append(",\"live_mib_nominal\":").append(fmt(w.liveMibNominal()));
            sb.append(",\"live_mib_measured\":").append(fmt(liveMibMeasured));
            sb.append(",\"threads\":").append(w.threadsUsed());
            sb.append(",\"seed\":").append(cfg.seed);
            sb.append(",\"heap_max_mib\":").append(fmt(Runtime.getRuntime().maxMemory() / (double) (1 << 20)));
            sb.append(",\"gc_count\":").append(gcCount);
            sb.append(",\"gc_time_ms\":").append(gcTimeMs);
            sb.append(",\"java_version\":\"").append(System.getProperty("java.version")).append('"');
            sb.append(",\"op_latency_hist\":").append(w.opHist.toJson());
            sb.append(",\"probe_late_hist\":").append(probe.toJson());
            sb.append(",\"checksum\":").append(w.checksum);
            return sb.append('}').toString();
        }
    }

    static String fmt(double d) { return String.format(Locale.ROOT, "%.6f", d); }

    static Result run(Config cfg) throws Exception {
        Workload w = create(cfg);
        w.setup();
        System.gc(); // once, so the live set is measured and the run starts from a clean heap
        Result r = new Result();
        r.cfg = cfg;
        r.w = w;
        r.liveMibMeasured = usedHeap() / (double) (1 << 20);
        long[] gc0 = gcTotals();
        Probe probe = new Probe();
        probe.start();
        long t0 = System.nanoTime();
        w.run();
        long t1 = System.nanoTime();
        probe.shutdown();
        long[] gc1 = gcTotals();
        w.finish();
        r.wallS = (t1 - t0) / 1e9;
        r.probe = probe.hist;
        r.gcCount = gc1[0] - gc0[0];
        r.gcTimeMs = gc1[1] - gc0[1];
        return r;
    }

    static long usedHeap() { return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed(); }

    /** [collections, time ms] summed over the collector beans (what they count differs per GC). */
    static long[] gcTotals() {
        long c = 0, t = 0;
        for (GarbageCollectorMXBean b : ManagementFactory.getGarbageCollectorMXBeans()) {
            c += Math.max(0, b.getCollectionCount());
            t += Math.max(0, b.getCollectionTime());
        }
        return new long[] {c, t};
    }

    /** "G1", "Parallel", "Z", "Shenandoah", "Serial", "Epsilon", from the GC MXBean names. */
    static String collectorName() {
        List<String> names = new ArrayList<>();
        for (GarbageCollectorMXBean b : ManagementFactory.getGarbageCollectorMXBeans()) names.add(b.getName());
        return collectorName(names, ManagementFactory.getRuntimeMXBean().getInputArguments());
    }

    static String collectorName(List<String> beans, List<String> jvmArgs) {
        for (String n : beans) {
            if (n.startsWith("G1 ")) return "G1";
            if (n.startsWith("PS ")) return "Parallel";
            if (n.startsWith("ZGC")) return "Z";
            if (n.startsWith("Shenandoah")) return "Shenandoah";
            if (n.equals("Copy") || n.equals("MarkSweepCompact")) return "Serial";
        }
        if (jvmArgs.contains("-XX:+UseEpsilonGC")) return "Epsilon";
        return beans.isEmpty() ? "unknown" : beans.get(0).replaceAll("[^A-Za-z0-9]+", "_");
    }

    /** Bucket math, collector names, and a tiny run of every workload; null = OK. */
    static String selftest() {
        String e = Hist.selfCheck();
        if (e != null) return e;
        String[][] cases = {
            {"G1", "G1 Young Generation", "G1 Old Generation"},
            {"Parallel", "PS Scavenge", "PS MarkSweep"},
            {"Z", "ZGC Cycles", "ZGC Pauses"},
            {"Z", "ZGC"},
            {"Shenandoah", "Shenandoah Pauses", "Shenandoah Cycles"},
            {"Serial", "Copy", "MarkSweepCompact"},
        };
        for (String[] c : cases) {
            List<String> beans = List.of(c).subList(1, c.length);
            String got = collectorName(beans, List.of());
            if (!got.equals(c[0])) return "collector name for " + beans + ": " + got;
        }
        System.err.println("selftest: this JVM's collector: java-" + collectorName());
        try {
            // gcbench and binary-trees: checksums are known in closed form.
            Result g = run(Config.parse(new String[] {"--workload", "gcbench", "--depth", "8"}));
            long want = ((GCBench) g.w).expectedChecksum();
            if (g.w.checksum != want) return "gcbench checksum " + g.w.checksum + " != " + want;
            if (g.w.ops != g.w.opHist.total() || g.w.ops == 0) return "gcbench ops/hist mismatch";
            for (String t : new String[] {"1", "3"}) {
                Result b = run(Config.parse(new String[] {"--workload", "binary-trees", "--depth", "10", "--threads", t}));
                want = ((BinaryTrees) b.w).expectedChecksum();
                if (b.w.checksum != want) return "binary-trees checksum " + b.w.checksum + " != " + want;
                if (b.w.ops != b.w.opHist.total() || b.w.ops == 0) return "binary-trees ops/hist mismatch";
            }
            // churn with --ops: deterministic for a seed.
            String[] ca = {"--workload", "churn", "--live-mib", "2", "--ops", "3000", "--seed", "7"};
            Result c1 = run(Config.parse(ca)), c2 = run(Config.parse(ca));
            if (c1.w.ops != 3000 || c1.w.opHist.total() != 3000) return "churn did " + c1.w.ops + " ops";
            if (c1.w.checksum != c2.w.checksum) return "churn checksum not deterministic";
            Result c3 = run(Config.parse(new String[] {"--workload", "churn", "--live-mib", "2", "--ops", "3000", "--seed", "8"}));
            if (c3.w.checksum == c1.w.checksum) return "churn checksum ignores the seed";
            if (Math.abs(c1.w.liveMibNominal() - 2) > 0.1) return "churn built " + c1.w.liveMibNominal() + " MiB";
            // timed and paced runs end on time; the probe ran.
            Result c4 = run(Config.parse(new String[] {"--workload", "churn", "--live-mib", "2", "--seconds", "0.3",
                "--replace-fraction", "2"}));
            if (c4.wallS < 0.25 || c4.wallS > 2) return "paced churn ran " + c4.wallS + " s";
            long expect = (long) (2 * 0.3 * ((Churn) c4.w).totalUnits);
            if (Math.abs(c4.w.ops - expect) > expect / 4 + 5) return "paced churn did " + c4.w.ops + " ops, want ~" + expect;
            if (c4.probe.total() < 100) return "probe recorded only " + c4.probe.total() + " samples";
            Result m = run(Config.parse(new String[] {"--workload", "churn-mt", "--live-mib", "4", "--threads", "3",
                "--seconds", "0.3"}));
            if (m.w.threadsUsed() != 3 || m.w.ops == 0 || m.w.ops != m.w.opHist.total()) return "churn-mt ops";
            if (!m.toJson().startsWith("{\"workload\":\"churn-mt\"")) return "bad json";
        } catch (Throwable t) {
            t.printStackTrace();
            return "workload failed: " + t;
        }
        return null;
    }
}
