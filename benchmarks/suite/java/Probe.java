import java.util.concurrent.locks.LockSupport;

/**
 * Latency probe: a daemon thread that wants to wake every 1 ms and records how
 * late it actually woke (ns) into its own histogram. If it falls more than 1 s
 * behind it resyncs to now (so one long stall is one big sample, not a
 * thousand). Read hist only after stop() returned.
 */
final class Probe extends Thread {
    static final long PERIOD_NS = 1_000_000L;
    static final long RESYNC_NS = 1_000_000_000L;

    final Hist hist = new Hist();
    private volatile boolean stop;

    Probe() {
        super("latency-probe");
        setDaemon(true);
    }

    @Override
    public void run() {
        long intended = System.nanoTime();
        while (!stop) {
            intended += PERIOD_NS;
            long now;
            while ((now = System.nanoTime()) < intended) LockSupport.parkNanos(intended - now);
            long late = now - intended;
            hist.record(Math.max(0, late));
            if (late > RESYNC_NS) intended = now;
        }
    }

    void shutdown() {
        stop = true;
        try {
            join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
