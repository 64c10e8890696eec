/* Host target: the same board logic on a POSIX pseudo-terminal.
 *
 * Usage: bucket_host [--link PATH]
 * Opens a pty pair, prints "READY <slave path>" on stdout, and serves the
 * protocol on it with a 1 ms tick from CLOCK_MONOTONIC. What the "MCU" outputs
 * is reported on stdout in the same line format as the simavr harness:
 *   PWM <t_ns> <motor> <duty 0..1>     on every output change
 *   STROBE <t_ns> <level>              on every strobe edge
 * t_ns is time since start. SIGTERM/SIGINT end it cleanly (the link is removed).
 *
 * The pty is non-blocking: replies go through the same kind of transmit queue
 * as on the MCU (common/txq.h) and are written as the pty takes them. A host
 * that stops reading fills the pty; then frames are dropped and counted
 * (STATUS tx_dropped) while the tick, and so the watchdog, runs on. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../../common/txq.h"
#include "../board.h"
#include "../hal.h"

static int master_fd = -1;
static txq_t txq;
static struct timespec t0;
static volatile sig_atomic_t stop_requested;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)(t.tv_sec - t0.tv_sec) * 1000000000ull + (uint64_t)(t.tv_nsec - t0.tv_nsec);
}

uint32_t hal_now_us(void) { return (uint32_t)(now_ns() / 1000u); }
uint32_t hal_now_ms(void) { return (uint32_t)(now_ns() / 1000000u); }

void hal_set_pwm(uint8_t ch, uint16_t duty)
{
    printf("PWM %llu %u %.6f\n", (unsigned long long)now_ns(), ch, duty / (double)DUTY_FULL_SCALE);
}

void hal_strobe(uint8_t level) { printf("STROBE %llu %u\n", (unsigned long long)now_ns(), level); }

/* Write what the pty takes now; the rest waits for POLLOUT in the main loop. */
static void tx_flush(void)
{
    const uint8_t *p;
    size_t n;
    while ((n = txq_peek(&txq, &p)) > 0) {
        ssize_t w = write(master_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* EAGAIN: the host is not reading */
        txq_consume(&txq, (size_t)w);
    }
}

uint8_t hal_uart_write(const uint8_t *data, size_t len)
{
    uint8_t queued = txq_put(&txq, data, len);
    tx_flush();
    return queued;
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int main(int argc, char **argv)
{
    const char *link_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--link") && i + 1 < argc)
            link_path = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--link PATH]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);

    int slave_fd;
    char name[128];
    if (openpty(&master_fd, &slave_fd, name, NULL, NULL) < 0) {
        perror("openpty");
        return 1;
    }
    struct termios tio;
    tcgetattr(slave_fd, &tio);
    cfmakeraw(&tio);
    tcsetattr(slave_fd, TCSANOW, &tio);
    fcntl(master_fd, F_SETFL, fcntl(master_fd, F_GETFL) | O_NONBLOCK);
    /* slave_fd stays open so the master never sees a hang-up between clients */
    if (link_path) {
        unlink(link_path);
        if (symlink(name, link_path) != 0) {
            fprintf(stderr, "bucket_host: cannot link %s -> %s: %s\n", link_path, name,
                    strerror(errno));
            return 1;
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    static board_t board;
    txq_init(&txq);
    board_init(&board);
    printf("READY %s\n", name);

    uint32_t done_ms = hal_now_ms();
    while (!stop_requested) {
        uint64_t t = now_ns(), next = (uint64_t)(done_ms + 1) * 1000000u;
        uint64_t wait = next > t ? next - t : 0;
        struct timespec ts = {(time_t)(wait / 1000000000u), (long)(wait % 1000000000u)};
        short events = (short)(POLLIN | (txq_empty(&txq) ? 0 : POLLOUT));
        struct pollfd pfd = {master_fd, events, 0};
        int r = ppoll(&pfd, 1, &ts, NULL);
        if (r > 0 && (pfd.revents & POLLOUT))
            tx_flush();
        if (r > 0 && (pfd.revents & POLLIN)) {
            uint8_t buf[256];
            ssize_t n = read(master_fd, buf, sizeof buf);
            for (ssize_t i = 0; i < n; i++)
                board_rx_byte(&board, buf[i]);
        }
        uint32_t now = hal_now_ms();
        while (done_ms != now)
            board_tick(&board, ++done_ms);
    }
    if (link_path)
        unlink(link_path);
    printf("EXIT signal\n");
    return 0;
}
