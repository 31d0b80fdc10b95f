/**
 * One benchmark program. Suite drives it: setup() builds the long-lived data
 * (not timed), then Suite forces one System.gc() and measures the used heap,
 * starts the latency probe and the clock, calls run(), stops both, and calls
 * finish() (final verification, not timed).
 */
abstract class Workload {
    final Config cfg;
    /** Per-op latencies (ns), merged from all mutator threads by run(). */
    final Hist opHist = new Hist();
    long ops;
    long checksum;

    Workload(Config cfg) { this.cfg = cfg; }

    abstract void setup() throws Exception;

    abstract void run() throws Exception;

    void finish() throws Exception {}

    /** Nominal live size in MiB (see README: 8-byte references, 16-byte headers). */
    abstract double liveMibNominal();

    /** Threads that actually mutate. */
    int threadsUsed() { return 1; }
}
