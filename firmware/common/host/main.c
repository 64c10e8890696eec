/* Host target of every board: its logic on a POSIX pseudo-terminal.
 *
 * Usage: PROG [--link PATH] [--baud N] [-- COMMAND ARGS...]
 * Opens a pty pair, prints "READY <slave path>" on stdout, and serves the board's
 * protocol on it with a 1 ms tick from CLOCK_MONOTONIC; the board's host/hal.c
 * reports what its outputs do on stdout (times: host_now_ns()) and may start a far
 * side from COMMAND (host_board_start). SIGTERM/SIGINT end it cleanly (the link is
 * removed) and print "EXIT signal".
 *
 * The pty is non-blocking: replies and events go through the same kind of transmit
 * queue as on the MCU (common/txq.h) and are written as the pty takes them. A host
 * that stops reading fills the pty; then frames are dropped and counted (STATUS
 * tx_dropped) while the tick, and so the watchdog, runs on. --baud N (N > 0) lets
 * bytes leave no faster than a UART at N baud (8N1: N / 10 bytes per second), so a
 * link budget and an output overflow behave as on the wire; 0 (the default) sends
 * as fast as the pty takes them.
 *
 * The board's logic comes from its board.h (board_t, which holds its link_t as link;
 * board_init, board_request, board_tick), found on the include path the Makefile
 * gives (-I<board folder>): the link takes each received byte, and a new request goes
 * to board_request(). */
#define _GNU_SOURCE
#include "main.h"

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

#include "../hal_core.h"
#include "../txq.h"
#include "board.h"

const char *host_prog = "host";
static int master_fd = -1;
static txq_t txq;
static struct timespec t0;
static volatile sig_atomic_t stop_requested;
static uint32_t baud;    /* 0: unthrottled */
static double tx_credit; /* bytes the emulated UART may send now */
static uint64_t tx_credit_ns;

uint64_t host_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)(t.tv_sec - t0.tv_sec) * 1000000000ull + (uint64_t)(t.tv_nsec - t0.tv_nsec);
}

uint32_t hal_now_us(void) { return (uint32_t)(host_now_ns() / 1000u); }
uint32_t hal_now_ms(void) { return (uint32_t)(host_now_ns() / 1000000u); }

/* Write what the pty takes now; the rest waits for POLLOUT (or the next tick when
 * throttled) in the main loop. */
static void tx_flush(void)
{
    const uint8_t *p;
    size_t n;
    if (baud) { /* a UART sends baud / 10 bytes a second; the loop wakes every tick (later
                   * on a busy host), so unused time is credited for up to 20 ms */
        uint64_t t = host_now_ns();
        double cap = baud / 10.0 * 20e-3 > 16.0 ? baud / 10.0 * 20e-3 : 16.0;
        tx_credit += (double)(t - tx_credit_ns) * baud / 10.0 / 1e9;
        tx_credit_ns = t;
        if (tx_credit > cap)
            tx_credit = cap;
    }
    while ((n = txq_peek(&txq, &p)) > 0) {
        if (baud) {
            if (tx_credit < 1.0)
                return;
            if (n > (size_t)tx_credit)
                n = (size_t)tx_credit;
        }
        ssize_t w = write(master_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* EAGAIN: the host is not reading */
        txq_consume(&txq, (size_t)w);
        tx_credit -= (double)w;
    }
}

uint8_t hal_uart_write(const uint8_t *data, size_t len)
{
    uint8_t queued = txq_put(&txq, data, len);
    tx_flush();
    return queued;
}

size_t hal_uart_room(void) { return txq_room(&txq); }

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* The pty (raw, non-blocking master) and its name; -1 when it cannot be had. */
static int open_pty(char *name)
{
    int slave_fd;
    if (openpty(&master_fd, &slave_fd, name, NULL, NULL) < 0) {
        perror("openpty");
        return -1;
    }
    struct termios tio;
    tcgetattr(slave_fd, &tio);
    cfmakeraw(&tio);
    tcsetattr(slave_fd, TCSANOW, &tio);
    fcntl(master_fd, F_SETFL, fcntl(master_fd, F_GETFL) | O_NONBLOCK);
    fcntl(master_fd, F_SETFD, FD_CLOEXEC); /* a far side the board starts never holds it */
    /* slave_fd stays open so the master never sees a hang-up between clients */
    return 0;
}

/* Feed received bytes to the board and run the 1 ms tick until a signal comes. */
static void serve(board_t *board)
{
    uint32_t done_ms = hal_now_ms();
    while (!stop_requested) {
        uint64_t t = host_now_ns(), next = (uint64_t)(done_ms + 1) * 1000000u;
        uint64_t wait = next > t ? next - t : 0;
        struct timespec ts = {(time_t)(wait / 1000000000u), (long)(wait % 1000000000u)};
        /* throttled: the tick paces the bytes out, POLLOUT would only spin */
        short events = (short)(POLLIN | (txq_empty(&txq) || baud ? 0 : POLLOUT));
        struct pollfd pfd = {master_fd, events, 0};
        int r = ppoll(&pfd, 1, &ts, NULL);
        if (r > 0 && (pfd.revents & POLLOUT))
            tx_flush();
        if (r > 0 && (pfd.revents & POLLIN)) {
            uint8_t buf[512];
            ssize_t n = read(master_fd, buf, sizeof buf);
            link_frame_t f;
            for (ssize_t i = 0; i < n; i++)
                if (link_rx_byte(&board->link, buf[i], hal_now_ms(), &f))
                    board_request(board, &f);
        }
        uint32_t now = hal_now_ms();
        while (done_ms != now)
            board_tick(board, ++done_ms);
        if (baud)
            tx_flush();
        host_board_poll();
    }
}

int main(int argc, char **argv)
{
    const char *link_path = NULL;
    char **cmd = NULL;
    const char *slash = strrchr(argv[0], '/');
    host_prog = slash ? slash + 1 : argv[0];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--link") && i + 1 < argc)
            link_path = argv[++i];
        else if (!strcmp(argv[i], "--baud") && i + 1 < argc)
            baud = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--") && i + 1 < argc) {
            cmd = argv + i + 1;
            break;
        } else {
            fprintf(stderr, "usage: %s [--link PATH] [--baud N] [-- COMMAND ARGS...]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);

    char name[128];
    if (open_pty(name) < 0)
        return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int code = host_board_start(cmd);
    if (code)
        return code;
    if (link_path) {
        unlink(link_path);
        if (symlink(name, link_path) != 0) {
            fprintf(stderr, "%s: cannot link %s -> %s: %s\n", host_prog, link_path, name,
                    strerror(errno));
            host_board_stop();
            return 1;
        }
    }

    static board_t board;
    txq_init(&txq);
    board_init(&board);
    printf("READY %s\n", name);
    serve(&board);
    if (link_path)
        unlink(link_path);
    host_board_stop();
    printf("EXIT signal\n");
    return 0;
}
