/** Command-line options; every flag is optional. */
final class Config {
    String workload = "churn";
    double liveMib = 64;
    int threads = 0; // 0 = workload default
    double seconds = -1; // <0 = default (10 s for churn; tree workloads run to completion)
    int depth = -1; // <0 = workload default (gcbench 16, binary-trees 21)
    double replaceFraction = 0; // churn: <=0 = unthrottled, else fraction of live units per second
    long seed = 1;
    long maxOps = -1; // churn: stop after this many ops in total (deterministic checksum)
    boolean verbose;
    boolean selftest;

    static Config parse(String[] a) {
        Config c = new Config();
        for (int i = 0; i < a.length; i++) {
            String k = a[i];
            String v = null;
            int eq = k.indexOf('=');
            if (k.startsWith("--") && eq > 0) {
                v = k.substring(eq + 1);
                k = k.substring(0, eq);
            }
            switch (k) {
                case "--selftest": c.selftest = true; continue;
                case "--verbose": c.verbose = true; continue;
                default: break;
            }
            if (v == null) {
                if (i + 1 >= a.length) throw new IllegalArgumentException("missing value for " + k);
                v = a[++i];
            }
            switch (k) {
                case "--workload": c.workload = v; break;
                case "--live-mib": c.liveMib = Double.parseDouble(v); break;
                case "--threads": c.threads = Integer.parseInt(v); break;
                case "--seconds": c.seconds = Double.parseDouble(v); break;
                case "--depth": c.depth = Integer.parseInt(v); break;
                case "--replace-fraction": c.replaceFraction = Double.parseDouble(v); break;
                case "--seed": c.seed = Long.parseLong(v); break;
                case "--ops": c.maxOps = Long.parseLong(v); break;
                default: throw new IllegalArgumentException("unknown flag " + k);
            }
        }
        switch (c.workload) {
            case "gcbench": case "binary-trees": case "churn": case "churn-mt": break;
            default: throw new IllegalArgumentException("unknown workload " + c.workload);
        }
        if (c.liveMib < 0 || c.threads < 0) throw new IllegalArgumentException("negative size");
        return c;
    }
}
