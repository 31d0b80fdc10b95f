import java.util.concurrent.locks.LockSupport;

/**
 * Latency probe (CONTRACT.md section 2), as the C programs' suite::Probe: a
 * daemon thread that loops { intended = now + 1 ms; sleep until intended;
 * record max(0, now - intended) } and so measures how late a thread that wants
 * to run gets to run (safepoints, GC pauses, CPU contention). A stall of S ms
 * gives one sample of about S ms. LockSupport.parkNanos may return early
 * (spuriously); it is re-armed until intended. Read hist only after shutdown().
 */
final class Probe extends Thread {
    static final long PERIOD_NS = 1_000_000L;

    final Hist hist = new Hist();
    private volatile boolean stop;

    Probe() {
        super("latency-probe");
        setDaemon(true);
    }

    @Override
    public void run() {
        while (!stop) {
            long intended = System.nanoTime() + PERIOD_NS;
            long now;
            while ((now = System.nanoTime()) < intended) LockSupport.parkNanos(intended - now);
            hist.record(now - intended);
        }
    }

    void shutdown() {
        stop = true;
        boolean interrupted = false;
        while (isAlive()) {
            try {
                join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) Thread.currentThread().interrupt();
    }
}
