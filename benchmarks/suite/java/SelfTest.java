import java.util.List;

/** Suite --selftest: the bucket math, the collector names, the C parity of churn, tiny runs of every workload. */
final class SelfTest {
    static String run() {
        String e = Hist.selfCheck();
        if (e != null) return e;
        e = collectorNames();
        if (e != null) return e;
        e = churnParity();
        if (e != null) return e;
        System.err.println("selftest: this JVM's collector: java-" + Suite.collectorName());
        try {
            return workloads();
        } catch (Throwable t) {
            t.printStackTrace();
            return "workload failed: " + t;
        }
    }

    static String collectorNames() {
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
            String got = Suite.collectorName(beans, List.of());
            if (!got.equals(c[0])) return "collector name for " + beans + ": " + got;
        }
        if (!Suite.collectorName(List.of(), List.of("-XX:+UseEpsilonGC")).equals("Epsilon")) return "Epsilon name";
        return null;
    }

    /** Reference values printed by the C side's common.h (draw_unit, churn_units, churn_hot, churn_pick). */
    static String churnParity() {
        Rng r = new Rng(42);
        Churn.Builder b = new Churn.Builder();
        long[][] want = {{1408, 39, 19186343}, {960, 32, 11975714}, {1728, 47, 25741931}};
        for (long[] w : want) {
            Object[] u = b.build(r);
            byte[] blob = (byte[]) u[Churn.CHAINS];
            int nodes = 0;
            for (int c = 0; c < Churn.CHAINS; c++)
                for (Churn.CNode n = (Churn.CNode) u[c]; n != null; n = n.next) nodes++;
            if (blob.length != w[0] || nodes != w[1] || Churn.check(u) != w[2])
                return "churn unit differs from the C side's: blob " + blob.length + " nodes " + nodes + " sum " + Churn.check(u);
        }
        long units = Churn.units(2), hot = Churn.hot(units, 0.25, 2);
        Rng p = new Rng(Churn.threadSeed(42, 1));
        long p1 = Churn.pick(p, hot, 2, 1), p2 = Churn.pick(p, hot, 2, 1);
        if (units != 908 || hot != 227 || p1 != 11 || p2 != 1)
            return "churn table/pick differ from the C side's: " + units + " " + hot + " " + p1 + " " + p2;
        Rng q = new Rng(7);
        long tot = 0;
        for (int i = 0; i < 1000; i++) tot += Churn.check(b.build(q));
        if (tot != 18006599924L) return "churn unit sums differ from the C side's: " + tot;
        return null;
    }

    static Suite.Result run(String... args) throws Exception {
        Suite.Result r = new Suite.Result(Config.parse(args));
        Suite.run(r);
        if (!r.ok()) throw new IllegalStateException(String.join(" ", args) + ": not ok: " + r.toJson());
        if (r.w.ops != r.w.opHist.total()) return fail(args, "ops " + r.w.ops + " != histogram total " + r.w.opHist.total());
        String j = r.toJson();
        if (!j.startsWith("{\"workload\":\"" + r.cfg.workload + "\"") || !j.endsWith("}") || j.contains("\n"))
            return fail(args, "bad JSON " + j);
        return r;
    }

    private static Suite.Result fail(String[] args, String m) { throw new IllegalStateException(String.join(" ", args) + ": " + m); }

    static String workloads() throws Exception {
        Suite.Result g = run("--workload", "gcbench", "--depth", "6");
        GCBench gb = (GCBench) g.w;
        if (gb.checksum != gb.expectedChecksum()) return "gcbench checksum " + gb.checksum + " != " + gb.expectedChecksum();
        if (gb.ops != gb.expectedOps()) return "gcbench ops " + gb.ops + " != " + gb.expectedOps();
        if (g.liveMibMeasured <= 0) return "gcbench live_mib_measured " + g.liveMibMeasured;
        for (String t : new String[] {"1", "3"}) {
            Suite.Result b = run("--workload", "binary-trees", "--depth", "8", "--threads", t);
            BinaryTrees bt = (BinaryTrees) b.w;
            if (bt.checksum != bt.expectedChecksum()) return "binary-trees checksum " + bt.checksum + " != " + bt.expectedChecksum();
            if (bt.ops != bt.expectedOps()) return "binary-trees ops " + bt.ops + " != " + bt.expectedOps();
        }
        // churn with --ops: the checksum the C model gives (benchmarks/suite/common.h) for these options.
        String[] ca = {"--workload", "churn", "--live-mib", "2", "--ops", "3000", "--seed", "7"};
        Suite.Result c1 = run(ca);
        if (c1.w.ops != 3000 || !c1.w.completed) return "churn did " + c1.w.ops + " ops";
        if (c1.w.checksum != 70174601093L) return "churn checksum " + c1.w.checksum + " != the C model's 70174601093";
        if (c1.liveMibMeasured <= 0) return "churn live_mib_measured " + c1.liveMibMeasured;
        // timed: ends on time, the probe ran.
        Suite.Result c2 = run("--workload", "churn", "--live-mib", "2", "--seconds", "0.3");
        if (c2.wallS < 0.29 || c2.wallS > 3) return "churn --seconds 0.3 ran " + c2.wallS + " s";
        if (c2.probe.total() < 50) return "probe recorded only " + c2.probe.total() + " samples in 0.3 s";
        Suite.Result m = run("--workload", "churn-mt", "--live-mib", "4", "--threads", "3", "--ops", "9001");
        if (m.cfg.threads != 3 || m.w.ops != 9001) return "churn-mt: " + m.w.ops + " ops on " + m.cfg.threads + " threads";
        Suite.Result m2 = run("--workload", "churn-mt", "--live-mib", "1", "--seconds", "0.2");
        if (m2.cfg.threads != 2) return "churn-mt default threads " + m2.cfg.threads;
        return null;
    }
}
