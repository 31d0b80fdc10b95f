/**
 * One benchmark program. Suite drives it (see Suite.run): setup() is not timed;
 * run() is the measured phase (the probe records during it); finish() does the
 * final verification, not timed.
 */
abstract class Workload {
    final Config cfg;
    /** Per-op latencies (ns), merged from all mutator threads by run(). */
    final Hist opHist = new Hist();
    long ops;
    long checksum;
    /** Units/trees whose check failed (corrupted data); reported, never thrown. */
    long checkFailures;
    /** False when an --ops bound was not reached. */
    boolean completed = true;
    double buildS;

    Workload(Config cfg) { this.cfg = cfg; }

    void setup() throws Exception {}

    abstract void run() throws Exception;

    void finish() throws Exception {}

    /** Drops the live data (after a failure such as OutOfMemoryError, so the JSON line can be written). */
    abstract void release();

    /** The live size the C programs report for the same run (MiB, nominal layout). */
    abstract double liveMib();

    /** Churn builds its live set in setup(): Suite measures it before run(); else after. */
    boolean liveBeforeRun() { return false; }
}
