// SPDX-License-Identifier: GPL-2.0
/*
 * uffd_mthp_probe - how does UFFDIO_MOVE treat large anon folios (mTHP)?
 *
 * Static test program for the uffdgc kernel co-test (kernel-patches/).  It runs
 * in the qemu guest as root (it writes the mTHP sysfs knobs and reads
 * /proc/kpageflags) and prints one machine-readable line per case:
 *
 *   RESULT <case> <OK|FAIL|LIVELOCK|HANG|SKIP> key=value ...
 *
 * OK means the ioctl returned a documented answer and the data is intact; the
 * key=value pairs carry what differs between kernels (split counter delta,
 * EBUSY count, whether the destination folios are still large, ns per page).
 * LIVELOCK means the move did not return within the watchdog time and the
 * child that ran it was killed with SIGKILL (the split_folio() retry loop of
 * 6.12 up to 6.12.117, fixed upstream by "userfaultfd: fix UFFDIO_MOVE livelock
 * on large folio with extra references").  HANG means the child did not even
 * die from SIGKILL: a thread sleeps in the kernel for good (the v1 series'
 * self-deadlock, see case_anon_vma_race()).  FAIL means corruption or an
 * undocumented answer.
 *
 * Usage: uffd_mthp_probe [--swap-only] [--stress SECONDS] [--anon-vma-race SECONDS]
 *                        [--watchdog SECONDS]
 *   default       all present-folio cases, then the swap cases on whatever swap
 *                 device is active
 *   --swap-only   only the swap cases (run.sh calls it again on a loop device)
 *   --stress N    only the ping-pong/MADV_PAGEOUT stress (0 = skip)
 *   --anon-vma-race N  only the anon_vma contention race (needs swap)
 *
 * Build: gcc -O2 -static -pthread -o uffd_mthp_probe uffd_mthp_probe.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

/* Debian 12's uapi headers are 6.1: no UFFDIO_MOVE yet. */
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16)
#endif
#ifndef UFFDIO_MOVE
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
	__u64 mode;
	__s64 move;
};
#define _UFFDIO_MOVE (0x05)
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#define __NR_io_uring_register 427
#endif

#define PAGE 4096UL
#define FOLIO (64 * 1024UL)
#define NFOLIO 16
#define AREA (NFOLIO * FOLIO)
#define THP "/sys/kernel/mm/transparent_hugepage"

static int watchdog_s = 5;
static int failures;

/* ---- small helpers -------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void result(const char *name, const char *status, const char *fmt, ...)
{
	va_list ap;

	if (!strcmp(status, "FAIL") || !strcmp(status, "HANG"))
		failures++;
	printf("RESULT %s %s ", name, status);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -1 : 0;
}

/* Current "[mode]" of an mTHP enabled file, so it can be restored. */
static void thp_mode(const char *path, char *out, size_t len)
{
	char buf[256], *a, *b;

	out[0] = 0;
	if (read_file(path, buf, sizeof(buf)))
		return;
	a = strchr(buf, '[');
	b = a ? strchr(a, ']') : NULL;
	if (a && b && (size_t)(b - a) < len) {
		memcpy(out, a + 1, b - a - 1);
		out[b - a - 1] = 0;
	}
}

static long stat_counter(const char *name)
{
	char path[256], buf[64];

	snprintf(path, sizeof(path), THP "/hugepages-64kB/stats/%s", name);
	if (read_file(path, buf, sizeof(buf)))
		return -1;
	return atol(buf);
}

/* Sum of the 64K split counter; -1 if the kernel has no per-size stats. */
static long splits(void)
{
	return stat_counter("split");
}

static long splits_failed(void)
{
	return stat_counter("split_failed");
}

static int pagemap_fd = -1, kpageflags_fd = -1;

static uint64_t pagemap(void *addr)
{
	uint64_t v = 0;

	if (pread(pagemap_fd, &v, 8, ((uintptr_t)addr / PAGE) * 8) != 8)
		return 0;
	return v;
}

/* Number of pages in [p, p+len) mapped by a compound (large) folio. */
static int large_pages(char *p, size_t len)
{
	int n = 0;

	for (size_t off = 0; off < len; off += PAGE) {
		uint64_t pm = pagemap(p + off), fl = 0;
		uint64_t pfn = pm & ((1ULL << 55) - 1);

		if (!(pm & (1ULL << 63)) || !pfn)
			continue;
		if (pread(kpageflags_fd, &fl, 8, pfn * 8) != 8)
			continue;
		if (fl & ((1ULL << 15) | (1ULL << 16)))
			n++;
	}
	return n;
}

static int present_pages(char *p, size_t len)
{
	int n = 0;

	for (size_t off = 0; off < len; off += PAGE)
		n += !!(pagemap(p + off) & (1ULL << 63));
	return n;
}

static int swapped_pages(char *p, size_t len)
{
	int n = 0;

	for (size_t off = 0; off < len; off += PAGE)
		n += !!(pagemap(p + off) & (1ULL << 62));
	return n;
}

static int uffd_open(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_MOVE };
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0 || ioctl(fd, UFFDIO_API, &api)) {
		perror("userfaultfd/UFFDIO_API");
		exit(2);
	}
	return fd;
}

static void uffd_register(int uffd, void *p, size_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)p, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (ioctl(uffd, UFFDIO_REGISTER, &reg)) {
		perror("UFFDIO_REGISTER");
		exit(2);
	}
}

/* Returns 0 or errno; *moved gets the "move" field. */
static int uffd_move(int uffd, void *dst, void *src, size_t len, uint64_t mode,
		     int64_t *moved)
{
	struct uffdio_move m = {
		.dst = (uintptr_t)dst, .src = (uintptr_t)src, .len = len,
		.mode = mode, .move = 0,
	};
	int ret = ioctl(uffd, UFFDIO_MOVE, &m);

	*moved = m.move;
	return ret ? errno : 0;
}

static int uffd_copy(int uffd, void *dst, void *src, size_t len)
{
	struct uffdio_copy c = {
		.dst = (uintptr_t)dst, .src = (uintptr_t)src, .len = len,
	};

	return ioctl(uffd, UFFDIO_COPY, &c) ? errno : 0;
}

/* mmap len bytes aligned to 64K; the VMA stays well below 2 MiB. */
static char *map_aligned(size_t len, bool hugepage)
{
	size_t sz = len + FOLIO;
	char *p = mmap(NULL, sz, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	a = (char *)(((uintptr_t)p + FOLIO - 1) & ~(FOLIO - 1));
	if (a > p)
		munmap(p, a - p);
	munmap(a + len, p + sz - (a + len));
	if (hugepage && madvise(a, len, MADV_HUGEPAGE)) {
		perror("MADV_HUGEPAGE");
		exit(2);
	}
	return a;
}

static void fill(char *p, size_t len, unsigned int seed)
{
	for (size_t off = 0; off < len; off += PAGE)
		for (size_t i = 0; i < PAGE; i += 512)
			*(uint64_t *)(p + off + i) = seed * 1000003ULL + off + i;
}

static bool check(const char *p, size_t len, unsigned int seed, size_t base)
{
	for (size_t off = 0; off < len; off += PAGE)
		for (size_t i = 0; i < PAGE; i += 512)
			if (*(const uint64_t *)(p + off + i) !=
			    seed * 1000003ULL + base + off + i)
				return false;
	return true;
}

/* A src area of n 64K folios, populated; returns number of large pages. */
static char *make_src(size_t len, unsigned int seed, int *large)
{
	char *src = map_aligned(len, true);

	fill(src, len, seed);
	*large = large_pages(src, len);
	return src;
}

/* ---- present large folios ---------------------------------------------- */

/*
 * Move [src, src+len) of a fully populated mTHP area to dst + dst_skew.
 * Reports the split delta, whether the destination is still large, timing.
 */
static void case_present(const char *name, size_t dst_skew, size_t len)
{
	int uffd = uffd_open(), src_large, dst_large;
	char *src = make_src(AREA, 1, &src_large);
	char *dstm = map_aligned(AREA + FOLIO, false);
	char *dst = dstm + dst_skew;
	long s0, s1;
	int64_t moved, total = 0;
	uint64_t t0, t1;
	int err = 0;

	uffd_register(uffd, dstm, AREA + FOLIO);
	if (src_large < (int)(AREA / PAGE)) {
		result(name, "SKIP", "reason=no_mthp src_large=%d", src_large);
		goto out;
	}
	s0 = splits();
	t0 = now_ns();
	while (total < (int64_t)len) {
		err = uffd_move(uffd, dst + total, src + total, len - total, 0,
				&moved);
		if (err == EAGAIN && moved > 0) {
			total += moved;
			continue;
		}
		if (!err)
			total += moved;
		break;
	}
	t1 = now_ns();
	s1 = splits();
	dst_large = large_pages(dst, len);
	if (err || total != (int64_t)len || !check(dst, len, 1, 0) ||
	    present_pages(src, len)) {
		result(name, "FAIL", "err=%d moved=%" PRId64 " len=%zu", err,
		       total, len);
		goto out;
	}
	result(name, "OK",
	       "len=%zu split=%ld dst_large=%d/%zu src_large=%d ns_per_page=%.0f",
	       len, s1 - s0, dst_large, len / PAGE, src_large,
	       (double)(t1 - t0) / (len / PAGE));
out:
	munmap(src, AREA);
	munmap(dstm, AREA + FOLIO);
	close(uffd);
}

/*
 * Shared after fork: the child keeps the folio mapped, so the parent's pages
 * are not anon-exclusive.  Expect EBUSY and no split.
 */
static void case_shared_fork(void)
{
	int uffd = uffd_open(), src_large, pfd[2];
	char *src = make_src(FOLIO, 2, &src_large);
	char *dst = map_aligned(FOLIO, false);
	long s0, s1;
	int64_t moved;
	pid_t child;
	int err;
	char c;

	uffd_register(uffd, dst, FOLIO);
	if (pipe(pfd))
		exit(2);
	child = fork();
	if (!child) {
		close(pfd[1]);
		if (read(pfd[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(pfd[0]);
	s0 = splits();
	err = uffd_move(uffd, dst, src, FOLIO, 0, &moved);
	s1 = splits();
	close(pfd[1]);
	waitpid(child, NULL, 0);
	if (err != EBUSY || !check(src, FOLIO, 2, 0))
		result("shared-after-fork", "FAIL", "err=%d moved=%" PRId64,
		       err, moved);
	else
		result("shared-after-fork", "OK",
		       "errno=EBUSY split=%ld src_large=%d/%lu", s1 - s0,
		       large_pages(src, FOLIO), FOLIO / PAGE);
	munmap(src, FOLIO);
	munmap(dst, FOLIO);
	close(uffd);
}

/*
 * Run fn() in a child with a watchdog: SIGKILL after watchdog_s seconds.
 * The child reports through a pipe: "<errno> <split delta>".
 * Returns false if the child had to be killed (livelock).
 */
static bool run_watched(void (*fn)(int wfd), int *err, long *split,
			long *split_failed, double *secs)
{
	int pfd[2], status;
	long f0 = splits_failed();
	uint64_t t0 = now_ns();
	char buf[128] = "";
	bool done = false;
	pid_t child;

	if (pipe(pfd))
		exit(2);
	child = fork();
	if (!child) {
		close(pfd[0]);
		fn(pfd[1]);
		_exit(0);
	}
	close(pfd[1]);
	while (now_ns() - t0 < (uint64_t)watchdog_s * 1000000000ULL) {
		if (waitpid(child, &status, WNOHANG) == child) {
			done = true;
			break;
		}
		usleep(10000);
	}
	if (!done) {
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
	}
	*secs = (now_ns() - t0) / 1e9;
	*split_failed = splits_failed() - f0;
	if (read(pfd[0], buf, sizeof(buf) - 1) < 0)
		buf[0] = 0;
	close(pfd[0]);
	*err = -1;
	*split = -1;
	sscanf(buf, "%d %ld", err, split);
	return done;
}

static size_t extra_ref_len;

/* vmsplice() one page of a 64K folio into a pipe, then move the folio. */
static void extra_ref_child(int wfd)
{
	int uffd = uffd_open(), src_large, p[2];
	char *src = make_src(FOLIO, 3, &src_large);
	char *dst = map_aligned(FOLIO, false);
	struct iovec iov = { .iov_base = src + 2 * PAGE, .iov_len = PAGE };
	char buf[128];
	int64_t moved;
	long s0;
	int err;

	uffd_register(uffd, dst, FOLIO);
	if (pipe(p) || vmsplice(p[1], &iov, 1, 0) != PAGE) {
		dprintf(wfd, "-2 0");
		return;
	}
	s0 = splits();
	err = uffd_move(uffd, dst, src, extra_ref_len, 0, &moved);
	/* verify whatever ended up where */
	if (!err && !check(dst, extra_ref_len, 3, 0))
		err = -3;
	if (err == EBUSY && !check(src, FOLIO, 3, 0))
		err = -3;
	/* the pipe must still hold the original data */
	if (read(p[0], buf, sizeof(buf)) != sizeof(buf) ||
	    *(uint64_t *)buf != 3 * 1000003ULL + 2 * PAGE)
		err = -4;
	dprintf(wfd, "%d %ld", err, splits() - s0);
}

static void case_extra_ref(const char *name, size_t len)
{
	long split, split_failed;
	double secs;
	int err;

	extra_ref_len = len;
	if (!run_watched(extra_ref_child, &err, &split, &split_failed, &secs)) {
		result(name, "LIVELOCK",
		       "killed_after=%.1fs split_failed=%ld", secs, split_failed);
		return;
	}
	if (err == 0)
		result(name, "OK", "moved=1 split=%ld split_failed=%ld", split,
		       split_failed);
	else if (err == EBUSY)
		result(name, "OK", "errno=EBUSY split=%ld split_failed=%ld",
		       split, split_failed);
	else
		result(name, "FAIL", "err=%d split_failed=%ld", err,
		       split_failed);
}

/* Long-term pin (io_uring fixed buffer) on a 64K folio, then move it. */
static void pinned_child(int wfd)
{
	struct { uint32_t v[30]; } params;	/* struct io_uring_params */
	int uffd = uffd_open(), src_large, ring;
	char *src = make_src(FOLIO, 4, &src_large);
	char *dst = map_aligned(FOLIO, false);
	struct iovec iov = { .iov_base = src, .iov_len = FOLIO };
	int64_t moved;
	long s0;
	int err;

	uffd_register(uffd, dst, FOLIO);
	memset(&params, 0, sizeof(params));
	ring = syscall(__NR_io_uring_setup, 1, &params);
	if (ring < 0 || syscall(__NR_io_uring_register, ring, 0 /* BUFFERS */,
				&iov, 1)) {
		dprintf(wfd, "-2 0");
		return;
	}
	s0 = splits();
	err = uffd_move(uffd, dst, src, FOLIO, 0, &moved);
	if (err == EBUSY && !check(src, FOLIO, 4, 0))
		err = -3;
	dprintf(wfd, "%d %ld", err, splits() - s0);
}

static void case_pinned(void)
{
	long split, split_failed;
	double secs;
	int err;

	if (!run_watched(pinned_child, &err, &split, &split_failed, &secs)) {
		result("pinned-io_uring", "LIVELOCK",
		       "killed_after=%.1fs split_failed=%ld", secs, split_failed);
		return;
	}
	if (err == -2)
		result("pinned-io_uring", "SKIP", "reason=no_io_uring");
	else if (err == EBUSY)
		result("pinned-io_uring", "OK", "errno=EBUSY split=%ld", split);
	else
		result("pinned-io_uring", "FAIL", "err=%d split=%ld", err,
		       split);
}

/* ---- swapped-out large folios ------------------------------------------ */

/*
 * Page out 16 x 64K folios and move them right away, one folio per ioctl.
 * On an asynchronous swap device the folios are still in the swap cache:
 * stock kernels answer EBUSY (we fall back to UFFDIO_COPY).
 */
static void case_swap(const char *dev)
{
	int uffd = uffd_open(), src_large, swapped, ebusy = 0, i, err = 0;
	char *src = make_src(AREA, 5, &src_large);
	char *dst = map_aligned(AREA, false);
	long out0 = stat_counter("swpout"), out1;
	char name[64], *bounce = malloc(FOLIO);
	int64_t moved;
	uint64_t t0, t1;

	snprintf(name, sizeof(name), "swap-mthp-%s", dev);
	uffd_register(uffd, dst, AREA);
	if (madvise(src, AREA, MADV_PAGEOUT)) {
		result(name, "SKIP", "reason=MADV_PAGEOUT_errno_%d", errno);
		goto out;
	}
	out1 = stat_counter("swpout");
	swapped = swapped_pages(src, AREA);
	t0 = now_ns();
	for (i = 0; i < NFOLIO; i++) {
		char *s = src + i * FOLIO, *d = dst + i * FOLIO;

		err = uffd_move(uffd, d, s, FOLIO, 0, &moved);
		if (err == EBUSY) {
			ebusy++;
			memcpy(bounce, s, FOLIO);	/* swaps it in */
			err = uffd_copy(uffd, d, bounce, FOLIO);
		}
		if (err)
			break;
	}
	t1 = now_ns();
	if (err || !check(dst, AREA, 5, 0)) {
		result(name, "FAIL", "err=%d folio=%d", err, i);
		goto out;
	}
	result(name, "OK",
	       "swapped=%d/%lu swpout64k=%ld ebusy=%d dst_large_after_readback=%d/%lu us=%.0f",
	       swapped, AREA / PAGE, out1 - out0, ebusy,
	       large_pages(dst, AREA), AREA / PAGE, (t1 - t0) / 1e3);
out:
	free(bounce);
	munmap(src, AREA);
	munmap(dst, AREA);
	close(uffd);
}

/* ---- stress: ping-pong MOVE while pages are paged out ------------------ */

static volatile bool stop;
static char *areas[2];
#define SLEN (1024 * 1024UL)

static void *pageout_thread(void *arg)
{
	unsigned int seed = (uintptr_t)arg;

	while (!stop) {
		char *a = areas[rand_r(&seed) & 1];
		size_t off = (rand_r(&seed) % (SLEN / FOLIO)) * FOLIO;
		size_t len = FOLIO * (1 + rand_r(&seed) % 4);

		if (off + len > SLEN)
			len = SLEN - off;
		madvise(a + off, len, MADV_PAGEOUT);
		usleep(200);
	}
	return NULL;
}

/*
 * Ping-pong SLEN bytes between two registered areas with ALLOW_SRC_HOLES,
 * retrying partial moves, and verify the data after each round.  A partial
 * move followed by EEXIST at the next address although dst holds exactly the
 * expected data and src is empty = a move the kernel did not count (the
 * 6.18 move_pages() -EAGAIN accounting bug).
 */
struct stress_stats {
	int rounds, partial, unaccounted, ebusy, eagain, bad;
	volatile long done, calls;
	volatile int finished;
};

static void stress_child(int seconds, struct stress_stats *st)
{
	int uffd = uffd_open(), rounds = 0, partial = 0, unaccounted = 0;
	int ebusy = 0, bad = 0, from = 0;
	char *bounce = malloc(PAGE);
	pthread_t th[2];
	uint64_t end;

	for (int i = 0; i < 2; i++)
		areas[i] = map_aligned(SLEN, true);
	/* populate before registering: a MISSING fault would block here */
	fill(areas[0], SLEN, 7);
	for (int i = 0; i < 2; i++)
		uffd_register(uffd, areas[i], SLEN);
	stop = false;
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, pageout_thread,
			       (void *)(uintptr_t)(i + 1));
	end = now_ns() + (uint64_t)seconds * 1000000000ULL;
	while (now_ns() < end && !bad) {
		char *s = areas[from], *d = areas[!from];
		size_t done = 0;

		while (done < SLEN) {
			int64_t moved;
			int err;

			st->done = done;
			st->calls++;
			err = uffd_move(uffd, d + done, s + done, SLEN - done,
					UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES, &moved);

			if (!err) {
				done += moved;
				continue;
			}
			if (err == EAGAIN && moved > 0) {
				partial++;
				done += moved;
				continue;
			}
			if (err == EAGAIN) {
				st->eagain++;
				continue;
			}
			if (err == EEXIST) {
				/* already moved but not reported? */
				if (check(d + done, PAGE, 7, done) &&
				    !present_pages(s + done, PAGE) &&
				    !swapped_pages(s + done, PAGE)) {
					unaccounted++;
					done += PAGE;
					continue;
				}
				bad = 1;
				break;
			}
			if (err == EBUSY) {
				ebusy++;
				memcpy(bounce, s + done, PAGE);
				if (uffd_copy(uffd, d + done, bounce, PAGE)) {
					bad = 2;
					break;
				}
				madvise(s + done, PAGE, MADV_DONTNEED);
				done += PAGE;
				continue;
			}
			fprintf(stderr, "stress: move errno %d at %zu\n", err,
				done);
			bad = 3;
			break;
		}
		if (!bad && !check(d, SLEN, 7, 0))
			bad = 4;
		from = !from;
		rounds++;
		st->rounds = rounds;
		st->partial = partial;
		st->unaccounted = unaccounted;
		st->ebusy = ebusy;
	}
	st->bad = bad;
	stop = true;
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++)
		munmap(areas[i], SLEN);
	free(bounce);
	close(uffd);
	st->finished = 1;
}

/*
 * The stress runs in a child: on a kernel with the split_folio() retry loop
 * a folio that reclaim holds an extra reference on can make a MOVE spin.
 */
static void case_stress(int seconds)
{
	struct stress_stats *st = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
				       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t t0 = now_ns();
	bool done = false;
	pid_t child;
	int status;

	memset(st, 0, sizeof(*st));
	child = fork();
	if (!child) {
		stress_child(seconds, st);
		_exit(0);
	}
	while (now_ns() - t0 < (uint64_t)(seconds + 30) * 1000000000ULL) {
		if (waitpid(child, &status, WNOHANG) == child) {
			done = true;
			break;
		}
		usleep(50000);
	}
	if (!done) {
		char path[64], stat[256] = "";

		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", child,
			 child);
		read_file(path, stat, sizeof(stat));
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
		result("stress-pageout", "LIVELOCK",
		       "killed_after=%.0fs rounds=%d partial=%d unaccounted=%d ebusy=%d eagain=%d at=%ld calls=%ld state=%.40s",
		       (now_ns() - t0) / 1e9, st->rounds, st->partial,
		       st->unaccounted, st->ebusy, st->eagain, st->done,
		       st->calls, strchr(stat, ')') ? strchr(stat, ')') + 2 : "?");
	} else if (st->bad || !st->finished) {
		result("stress-pageout", "FAIL",
		       "bad=%d rounds=%d partial=%d unaccounted=%d ebusy=%d",
		       st->bad, st->rounds, st->partial, st->unaccounted,
		       st->ebusy);
	} else {
		result("stress-pageout", st->unaccounted ? "FAIL" : "OK",
		       "seconds=%d rounds=%d partial=%d unaccounted=%d ebusy=%d eagain=%d",
		       seconds, st->rounds, st->partial, st->unaccounted,
		       st->ebusy, st->eagain);
	}
	munmap(st, PAGE);
}

/* ---- anon_vma contention while the folio loses eligibility ------------- */

/*
 * v1 of the series took the anon_vma write lock for a whole-folio move, and
 * when anon_vma_trylock_write() failed it slept in anon_vma_lock_write() and
 * retried with the lock held.  If the folio no longer qualified for the
 * whole-folio move by then, the retry split it, and split_folio() takes the
 * same anon_vma lock: the mover hung in D state, holding the folio lock and
 * the anon_vma lock.  This case makes both happen often:
 *   - contention: RACE_CHILDREN forked children each COW the area Z, which
 *     shares the source's anon_vma, so that anon_vma's interval tree holds
 *     every child's Z; a thread pages Z out and faults it back in a loop,
 *     and each MADV_PAGEOUT walks all those VMAs under the anon_vma read
 *     lock (try_to_unmap()), so the mover's trylock fails and it sleeps;
 *   - losing eligibility: a breaker thread watches the mover and, once it
 *     sleeps in the kernel during the move (state D) or after a random
 *     delay, puts the zero page at the last destination page
 *     (UFFDIO_ZEROPAGE), so the retry sees a populated destination.
 * The mover refaults a 64K folio at the source, moves it to the destination
 * and clears both areas with ALLOW_SRC_HOLES moves into a trash area (no
 * mmap_lock: madvise() would serialize with nothing useful here).
 * A mover that does not exit after SIGKILL is stuck in the kernel: HANG.
 * Needs swap (MADV_PAGEOUT of anon memory); SKIP without it.
 */
#define RACE_CHILDREN 128

static const char *swap_device(void);
#define RACE_TRASH (256 * FOLIO)

struct race_stats {
	volatile long moves, whole, eexist, ebusy, eagain, other, breaks,
		breaks_in_d;
	volatile int finished;
	pid_t children[RACE_CHILDREN];
};

static volatile bool race_stop;
static volatile long race_gen;
static volatile pid_t race_mover_tid;
static char *race_dst, *race_z;
static int race_uffd;

static void *race_pageout(void *arg)
{
	(void)arg;
	while (!race_stop) {
		fill(race_z, 2 * FOLIO, 13);
		madvise(race_z, 2 * FOLIO, MADV_PAGEOUT);
	}
	return NULL;
}

static bool mover_in_d_state(void)
{
	char path[64], buf[256], *p;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", race_mover_tid);
	if (read_file(path, buf, sizeof(buf)))
		return false;
	p = strrchr(buf, ')');
	return p && p[1] && p[2] == 'D';
}

static void *race_breaker(void *arg)
{
	struct race_stats *st = arg;
	struct uffdio_zeropage z = {
		.range = { .start = (uintptr_t)(race_dst + FOLIO - PAGE),
			   .len = PAGE },
	};
	unsigned int seed = 1;
	long seen = 0;

	while (!race_stop) {
		uint64_t t0, wait;
		bool in_d = false;

		while (race_gen == seen && !race_stop)
			;
		seen = race_gen;
		t0 = now_ns();
		wait = 1000 * (1 + rand_r(&seed) % 200);
		while (now_ns() - t0 < wait && !(in_d = mover_in_d_state()))
			;
		if (!ioctl(race_uffd, UFFDIO_ZEROPAGE, &z)) {
			st->breaks++;
			st->breaks_in_d += in_d;
		}
	}
	return NULL;
}

/* Move len bytes with ALLOW_SRC_HOLES, continuing after partial moves. */
static void race_move_all(char *dst, char *src, size_t len)
{
	int64_t moved;

	for (size_t done = 0; done < len; done += moved > 0 ? (size_t)moved : PAGE) {
		if (!uffd_move(race_uffd, dst + done, src + done, len - done,
			       UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES, &moved))
			break;
	}
}

static void race_child(int seconds, struct race_stats *st)
{
	/* [src][guard][dst][guard][Z: 2 folios], one anon_vma */
	char *r = map_aligned(6 * FOLIO, true), *src = r;
	char *trash = map_aligned(RACE_TRASH, false);
	size_t trash_used = 0;
	pthread_t th[2];
	uint64_t end;

	race_uffd = uffd_open();
	race_dst = r + 2 * FOLIO;
	race_z = r + 4 * FOLIO;
	fill(r, 6 * FOLIO, 11);		/* the anon_vma exists from here on */
	if (mprotect(r + FOLIO, FOLIO, PROT_NONE) ||
	    mprotect(r + 3 * FOLIO, FOLIO, PROT_NONE) ||
	    madvise(r, 4 * FOLIO, MADV_DONTFORK) ||
	    madvise(trash, RACE_TRASH, MADV_DONTFORK)) {
		perror("mprotect/MADV_DONTFORK");
		exit(2);
	}
	madvise(race_dst, FOLIO, MADV_DONTNEED);
	uffd_register(race_uffd, race_dst, FOLIO);
	uffd_register(race_uffd, trash, RACE_TRASH);
	/* children keep Z (COWed: their own copies) in the anon_vma's tree */
	for (int i = 0; i < RACE_CHILDREN; i++) {
		st->children[i] = fork();
		if (!st->children[i]) {
			fill(race_z, 2 * FOLIO, 17);
			pause();
			_exit(0);
		}
	}
	usleep(200000);
	race_mover_tid = syscall(SYS_gettid);
	race_stop = false;
	pthread_create(&th[0], NULL, race_pageout, NULL);
	pthread_create(&th[1], NULL, race_breaker, st);
	end = now_ns() + (uint64_t)seconds * 1000000000ULL;
	while (now_ns() < end) {
		int64_t moved;
		int err;

		if (trash_used + 2 * FOLIO > RACE_TRASH) {
			madvise(trash, RACE_TRASH, MADV_DONTNEED);
			trash_used = 0;
		}
		race_move_all(trash + trash_used, race_dst, FOLIO);
		race_move_all(trash + trash_used + FOLIO, src, FOLIO);
		trash_used += 2 * FOLIO;
		fill(src, FOLIO, 11);
		race_gen++;
		/* like a collector: continue after a partial move */
		for (size_t done = 0;; done += moved) {
			err = uffd_move(race_uffd, race_dst + done, src + done,
					FOLIO - done, 0, &moved);
			if (err != EAGAIN || moved <= 0 || done + moved >= FOLIO)
				break;
		}
		st->moves++;
		if (!err)
			st->whole++;
		else if (err == EEXIST)
			st->eexist++;
		else if (err == EBUSY)
			st->ebusy++;
		else if (err == EAGAIN)
			st->eagain++;
		else
			st->other++;
	}
	race_stop = true;
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	st->finished = 1;
}

/* Comma-separated state letters of the threads of pid ("D,R,S"). */
static void task_states(pid_t pid, char *out, size_t len)
{
	char path[300], buf[512], *p;
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	out[0] = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d)) && n + 3 < len) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", pid,
			 de->d_name);
		if (read_file(path, buf, sizeof(buf)))
			continue;
		p = strrchr(buf, ')');
		if (!p || !p[1] || !p[2])
			continue;
		n += snprintf(out + n, len - n, "%s%c", n ? "," : "", p[2]);
	}
	closedir(d);
}

static void case_anon_vma_race(int seconds)
{
	struct race_stats *st = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t t0 = now_ns();
	long s0 = splits();
	char states[64] = "";
	bool done = false, killed = false;
	pid_t child;
	int status;

	if (!swap_device()) {
		result("anon-vma-retry-split", "SKIP", "reason=no_swap");
		return;
	}
	memset(st, 0, sizeof(*st));
	child = fork();
	if (!child) {
		race_child(seconds, st);
		_exit(0);
	}
	while (now_ns() - t0 < (uint64_t)(seconds + watchdog_s) * 1000000000ULL) {
		if (waitpid(child, &status, WNOHANG) == child) {
			done = true;
			break;
		}
		usleep(50000);
	}
	if (!done) {
		task_states(child, states, sizeof(states));
		kill(child, SIGKILL);
		killed = true;
		/* a task asleep in D state does not die: do not wait forever */
		for (int i = 0; i < 100 && !done; i++) {
			done = waitpid(child, &status, WNOHANG) == child;
			usleep(50000);
		}
		result("anon-vma-retry-split", done ? "LIVELOCK" : "HANG",
		       "after=%.0fs moves=%ld whole=%ld eexist=%ld breaks=%ld breaks_in_d=%ld threads=%s",
		       (now_ns() - t0) / 1e9, st->moves, st->whole, st->eexist,
		       st->breaks, st->breaks_in_d, states);
	}
	for (int i = 0; i < RACE_CHILDREN; i++)
		if (st->children[i] > 0)
			kill(st->children[i], SIGKILL);
	if (killed) {
		/* reported above */
	} else if (!st->finished || st->other || !st->moves) {
		result("anon-vma-retry-split", "FAIL",
		       "finished=%d moves=%ld other=%ld", st->finished,
		       st->moves, st->other);
	} else {
		result("anon-vma-retry-split", "OK",
		       "seconds=%d moves=%ld whole=%ld eexist=%ld ebusy=%ld eagain=%ld breaks=%ld breaks_in_d=%ld split=%ld",
		       seconds, st->moves, st->whole, st->eexist, st->ebusy,
		       st->eagain, st->breaks, st->breaks_in_d, splits() - s0);
	}
	munmap(st, PAGE);
}

/* ---- main ------------------------------------------------------------------ */

static char saved_64k[32], saved_2m[32], saved_top[32];

static void thp_setup(void)
{
	thp_mode(THP "/enabled", saved_top, sizeof(saved_top));
	thp_mode(THP "/hugepages-64kB/enabled", saved_64k, sizeof(saved_64k));
	thp_mode(THP "/hugepages-2048kB/enabled", saved_2m, sizeof(saved_2m));
	if (!strcmp(saved_top, "never"))
		write_file(THP "/enabled", "madvise");
	write_file(THP "/hugepages-2048kB/enabled", "never");
	if (write_file(THP "/hugepages-64kB/enabled", "madvise"))
		printf("probe: cannot enable 64K mTHP\n");
}

static void thp_restore(void)
{
	if (saved_64k[0])
		write_file(THP "/hugepages-64kB/enabled", saved_64k);
	if (saved_2m[0])
		write_file(THP "/hugepages-2048kB/enabled", saved_2m);
	if (saved_top[0])
		write_file(THP "/enabled", saved_top);
}

static const char *swap_device(void)
{
	static char dev[64];
	char buf[1024], *l;

	if (read_file("/proc/swaps", buf, sizeof(buf)))
		return NULL;
	l = strchr(buf, '\n');
	if (!l || !l[1])
		return NULL;
	sscanf(l + 1, "%63s", dev);
	l = strrchr(dev, '/');
	return l ? l + 1 : dev;
}

int main(int argc, char **argv)
{
	bool swap_only = false;
	int stress = -1, race = -1;
	const char *dev;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--swap-only"))
			swap_only = true;
		else if (!strcmp(argv[i], "--stress") && i + 1 < argc)
			stress = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--anon-vma-race") && i + 1 < argc)
			race = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--watchdog") && i + 1 < argc)
			watchdog_s = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--swap-only] [--stress S] [--anon-vma-race S] [--watchdog S]\n",
				argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	kpageflags_fd = open("/proc/kpageflags", O_RDONLY);
	if (pagemap_fd < 0 || kpageflags_fd < 0) {
		perror("pagemap/kpageflags (needs root and PROC_PAGE_MONITOR)");
		return 2;
	}
	if (splits() < 0)
		printf("probe: no per-size mTHP split counter\n");
	thp_setup();
	dev = swap_device();
	if (race >= 0) {
		if (race > 0)
			case_anon_vma_race(race);
	} else if (stress >= 0) {
		if (stress > 0)
			case_stress(stress);
	} else if (swap_only) {
		if (dev)
			case_swap(dev);
		else
			result("swap-mthp", "SKIP", "reason=no_swap");
	} else {
		case_present("present-mthp-aligned-full", 0, AREA);
		case_present("present-mthp-dst-skew-4K", PAGE, AREA);
		case_present("present-mthp-partial-len-4K", 0, AREA - PAGE);
		case_shared_fork();
		case_pinned();
		case_extra_ref("extra-ref-vmsplice-whole", FOLIO);
		case_extra_ref("extra-ref-vmsplice-half", FOLIO / 2);
		if (dev)
			case_swap(dev);
	}
	thp_restore();
	printf("probe: %d failure(s)\n", failures);
	return failures ? 1 : 0;
}
