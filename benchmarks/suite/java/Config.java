/**
 * Command-line options, with the same names, defaults and checks as the C/C++
 * programs (benchmarks/suite/common.cc, CONTRACT.md section 1). Every flag is
 * optional; "--flag value" and "--flag=value" both work.
 */
final class Config {
    String workload = "";
    double liveMib = 64;
    int threads = 1;
    double seconds = 0; // churn: 0 with --ops 0 means 10 s; trees run to completion
    int depth = -1; // -1: gcbench 16, binary-trees 18
    double replaceFraction = 0.25; // churn: the fraction of the units that is replaced (the hot set)
    long seed = 42;
    long ops = 0; // churn: 0 = no op bound
    double heapMib = 0; // accepted for symmetry with the C programs; the JVM's heap is -Xmx
    boolean verify; // accepted; the Java side always verifies
    boolean verbose;
    boolean selftest;

    static final class BadOption extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        BadOption(String m) { super(m); }
    }

    static double num(String k, String v) {
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new BadOption("bad number for " + k + ": " + v);
        }
    }

    static Config parse(String... a) {
        Config c = new Config();
        for (int i = 0; i < a.length; i++) {
            String k = a[i];
            String v = null;
            int eq = k.indexOf('=');
            if (eq > 0) {
                v = k.substring(eq + 1);
                k = k.substring(0, eq);
            }
            if (v == null) {
                switch (k) {
                    case "--selftest": c.selftest = true; continue;
                    case "--verbose": c.verbose = true; continue;
                    case "--verify": c.verify = true; continue;
                    default: break;
                }
                if (i + 1 >= a.length) throw new BadOption("missing value for " + k);
                v = a[++i];
            }
            switch (k) {
                case "--workload": c.workload = v; break;
                case "--live-mib": c.liveMib = num(k, v); break;
                case "--threads": c.threads = (int) num(k, v); break;
                case "--seconds": c.seconds = num(k, v); break;
                case "--depth": c.depth = (int) num(k, v); break;
                case "--replace-fraction": c.replaceFraction = num(k, v); break;
                case "--seed": c.seed = parseSeed(k, v); break;
                case "--ops": c.ops = (long) num(k, v); break;
                case "--heap-mib": c.heapMib = num(k, v); break;
                default: throw new BadOption("unknown option " + k);
            }
        }
        if (c.selftest) return c;
        switch (c.workload) {
            case "gcbench": case "binary-trees": case "churn": case "churn-mt": break;
            default: throw new BadOption("unknown or missing --workload '" + c.workload + "'");
        }
        if (c.threads < 1 || c.threads > 64) throw new BadOption("--threads must be 1..64");
        if (c.workload.equals("churn-mt") && c.threads < 2) c.threads = 2;
        if (c.workload.equals("churn")) c.threads = 1;
        if (isChurn(c) && c.ops == 0 && c.seconds <= 0) c.seconds = 10;
        if (c.replaceFraction <= 0 || c.replaceFraction > 1) throw new BadOption("--replace-fraction in (0,1]");
        if (c.depth < 0) c.depth = c.workload.equals("gcbench") ? 16 : 18;
        if (c.depth < 4 || c.depth > 26) throw new BadOption("--depth must be 4..26");
        if (c.liveMib < 0 || c.ops < 0) throw new BadOption("negative --live-mib or --ops");
        return c;
    }

    static boolean isChurn(Config c) { return c.workload.startsWith("churn"); }

    private static long parseSeed(String k, String v) {
        try {
            return Long.parseUnsignedLong(v);
        } catch (NumberFormatException e) {
            return (long) num(k, v);
        }
    }
}
