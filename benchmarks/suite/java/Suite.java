import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

/**
 * Entry point of the Java side of the benchmark suite (README.md, CONTRACT.md).
 *
 *   java <gc flags> -Xms<H>m -Xmx<H>m -Xlog:gc*,safepoint:file=<log>:uptime,level,tags \
 *        -cp <out> Suite --workload gcbench|binary-trees|churn|churn-mt \
 *        [--live-mib N] [--threads T] [--seconds S] [--depth D] \
 *        [--replace-fraction F] [--seed X] [--ops N] [--verbose]
 *   java -cp <out> Suite --selftest
 *
 * The result is one JSON object on the last stdout line; nothing else goes to
 * stdout (diagnostics go to stderr). Exit status: 0 ok, 1 the workload failed
 * (the JSON line still comes, with "ok":false and "error"), 2 bad options.
 */
public final class Suite {
    public static void main(String[] args) {
        Config cfg;
        try {
            cfg = Config.parse(args);
        } catch (Config.BadOption e) {
            System.err.println("Suite: " + e.getMessage() + "\nusage: java Suite --workload gcbench|binary-trees|churn|churn-mt"
                + " [--live-mib N] [--threads T] [--seconds S] [--depth D] [--replace-fraction F] [--seed X] [--ops N]"
                + " | --selftest   (benchmarks/suite/CONTRACT.md)");
            System.exit(2);
            return;
        }
        if (cfg.selftest) {
            String err = SelfTest.run();
            System.err.flush();
            System.out.println(err == null ? "selftest: OK" : "selftest: FAILED: " + err);
            System.exit(err == null ? 0 : 1);
        }
        Result r = new Result(cfg);
        try {
            run(r);
        } catch (Throwable t) {
            if (r.w != null) r.w.release();
            r.error = String.valueOf(t);
            t.printStackTrace();
        }
        System.err.flush();
        System.out.println(r.toJson());
        System.out.flush();
        System.exit(r.ok() ? 0 : 1);
    }

    static Workload create(Config cfg) {
        switch (cfg.workload) {
            case "gcbench": return new GCBench(cfg);
            case "binary-trees": return new BinaryTrees(cfg);
            case "churn": case "churn-mt": return new Churn(cfg);
            default: throw new IllegalArgumentException("unknown workload " + cfg.workload);
        }
    }

    static final class Result {
        final Config cfg;
        Workload w;
        double wallS;
        double liveMibMeasured = -1;
        Hist probe = new Hist();
        long gcCount, gcTimeMs;
        /** JVM uptime (s) at the start and end of the measured phase: the clock of -Xlog's "uptime". */
        double phaseStartUptimeS = -1, phaseEndUptimeS = -1;
        String error;

        Result(Config cfg) { this.cfg = cfg; }

        boolean ok() { return error == null && w != null && w.checkFailures == 0; }

        String toJson() {
            Json j = new Json();
            j.str("workload", cfg.workload).str("collector", "java-" + collectorName());
            j.num("ops", w == null ? 0 : w.ops).num("wall_s", wallS);
            j.raw("op_latency_hist", w == null ? "[]" : w.opHist.toJson()).raw("probe_late_hist", probe.toJson());
            j.num("live_mib", w == null ? cfg.liveMib : w.liveMib()).num("live_mib_measured", liveMibMeasured);
            j.raw("ok", String.valueOf(ok())).num("check_failures", w == null ? 0 : w.checkFailures);
            j.num("build_s", w == null ? 0 : w.buildS).num("threads", cfg.threads);
            j.raw("completed", String.valueOf(w != null && w.completed && error == null));
            j.num("heap_mib", heapMib()).num("depth", cfg.depth).num("replace_fraction", cfg.replaceFraction);
            j.raw("seed", Long.toUnsignedString(cfg.seed)).num("checksum", w == null ? 0 : w.checksum);
            j.num("phase_start_uptime_s", phaseStartUptimeS).num("phase_end_uptime_s", phaseEndUptimeS);
            j.num("gc_count", gcCount).num("gc_time_ms", gcTimeMs).str("java_version", System.getProperty("java.version"));
            if (error != null) j.str("error", error);
            else if (w != null && w.checkFailures != 0) j.str("error", "the workload found corrupted data");
            j.raw("proc", procJson());
            return j.toString();
        }
    }

    /**
     * The run: setup (churn builds its live set: build_s), then for churn one
     * System.gc() and the used heap as live_mib_measured; the measured phase
     * (probe on, wall_s); for the tree workloads one System.gc() after it, with
     * the long-lived data still reachable, for live_mib_measured; then the final
     * verification.
     */
    static void run(Result r) throws Exception {
        Workload w = r.w = create(r.cfg);
        w.setup();
        if (w.liveBeforeRun()) r.liveMibMeasured = gcAndMeasure();
        long[] gc0 = gcTotals();
        Probe probe = new Probe();
        probe.start();
        r.phaseStartUptimeS = uptimeS();
        long t0 = System.nanoTime();
        try {
            w.run();
        } finally {
            long t1 = System.nanoTime();
            r.phaseEndUptimeS = uptimeS();
            probe.shutdown();
            r.wallS = (t1 - t0) / 1e9;
            r.probe = probe.hist;
            long[] gc1 = gcTotals();
            r.gcCount = gc1[0] - gc0[0];
            r.gcTimeMs = gc1[1] - gc0[1];
        }
        if (!w.liveBeforeRun()) r.liveMibMeasured = gcAndMeasure();
        w.finish();
    }

    /** ms resolution; the same origin (JVM start) as the [N.NNNs] uptime decoration of -Xlog. */
    static double uptimeS() { return ManagementFactory.getRuntimeMXBean().getUptime() / 1000.0; }

    static double gcAndMeasure() {
        System.gc();
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed() / 1048576.0;
    }

    /** Runs one Runnable per thread (index 0 on the calling thread); rethrows the first failure. */
    static void runThreads(String name, Runnable[] work) throws Exception {
        Thread[] th = new Thread[work.length];
        Throwable[] err = new Throwable[1];
        for (int i = 1; i < work.length; i++) {
            th[i] = new Thread(work[i], name + "-" + i);
            th[i].setUncaughtExceptionHandler((x, e) -> {
                synchronized (err) {
                    if (err[0] == null) err[0] = e;
                }
            });
            th[i].start();
        }
        Throwable mine = null;
        try {
            work[0].run();
        } catch (Throwable e) {
            mine = e;
        }
        for (int i = 1; i < work.length; i++) th[i].join();
        if (mine == null) mine = err[0];
        if (mine instanceof Exception) throw (Exception) mine;
        if (mine instanceof Error) throw (Error) mine;
    }

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

    /** The heap limit: -Xmx as given to the JVM (MiB), else the runtime's max. */
    static double heapMib() {
        double mib = Runtime.getRuntime().maxMemory() / 1048576.0;
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!a.startsWith("-Xmx")) continue;
            try {
                mib = parseSize(a.substring(4)) / 1048576.0;
            } catch (NumberFormatException e) {
                // keep maxMemory
            }
        }
        return mib;
    }

    static long parseSize(String s) {
        long mul = 1;
        char c = Character.toLowerCase(s.charAt(s.length() - 1));
        if (c == 'k') mul = 1L << 10;
        else if (c == 'm') mul = 1L << 20;
        else if (c == 'g') mul = 1L << 30;
        else if (c == 't') mul = 1L << 40;
        if (mul != 1) s = s.substring(0, s.length() - 1);
        return Long.parseLong(s) * mul;
    }

    /** As the C programs' proc_json: VmHWM, VmRSS (KiB), faults, CPU seconds of the process. */
    static String procJson() {
        long hwm = 0, rss = 0, majflt = 0, minflt = 0;
        try {
            for (String l : Files.readAllLines(Paths.get("/proc/self/status"))) {
                if (l.startsWith("VmHWM:")) hwm = Long.parseLong(l.replaceAll("[^0-9]", ""));
                if (l.startsWith("VmRSS:")) rss = Long.parseLong(l.replaceAll("[^0-9]", ""));
            }
            String st = new String(Files.readAllBytes(Paths.get("/proc/self/stat")));
            String[] f = st.substring(st.lastIndexOf(')') + 2).trim().split("\\s+");
            minflt = Long.parseLong(f[7]); // field 10 of stat; f[0] is field 3
            majflt = Long.parseLong(f[9]); // field 12
        } catch (Exception e) {
            // not Linux: zeros
        }
        double cpu = 0;
        java.lang.management.OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean)
            cpu = ((com.sun.management.OperatingSystemMXBean) os).getProcessCpuTime() / 1e9;
        return new Json().num("vm_hwm_kib", hwm).num("vm_rss_kib", rss).num("majflt", majflt).num("minflt", minflt)
            .num("cpu_s", cpu).toString();
    }

    /** A flat JSON object writer. */
    static final class Json {
        private final StringBuilder sb = new StringBuilder();

        private Json key(String k) {
            sb.append(sb.length() == 0 ? "" : ",").append(quote(k)).append(':');
            return this;
        }

        Json str(String k, String v) {
            key(k).sb.append(quote(v));
            return this;
        }

        Json num(String k, long v) {
            key(k).sb.append(v);
            return this;
        }

        Json num(String k, double v) {
            key(k).sb.append(fmt(v));
            return this;
        }

        Json raw(String k, String json) {
            key(k).sb.append(json);
            return this;
        }

        @Override
        public String toString() { return "{" + sb + "}"; }

        static String fmt(double d) {
            if (Double.isNaN(d) || Double.isInfinite(d)) return "null";
            if (d == Math.rint(d) && Math.abs(d) < 1e15) return Long.toString((long) d);
            return new BigDecimal(d).round(new MathContext(9)).stripTrailingZeros().toPlainString();
        }

        static String quote(String s) {
            StringBuilder o = new StringBuilder("\"");
            for (char ch : s.toCharArray()) {
                if (ch == '"' || ch == '\\') o.append('\\').append(ch);
                else if (ch < 0x20) o.append(String.format("\\u%04x", (int) ch));
                else o.append(ch);
            }
            return o.append('"').toString();
        }
    }
}
