/* Host target: the bridge logic on a POSIX pseudo-terminal, the chip in a child process.
 *
 * Usage: neuro_bridge_host [--link PATH] [--baud N] [-- CHIP_COMMAND ARGS...]
 * Opens a pty pair, prints "READY <slave path>" on stdout and serves the bridge
 * protocol on it with a 1 ms tick from CLOCK_MONOTONIC. CHIP_COMMAND (the
 * emulator: physres.sim.neuromorphic.chip_bus) is started with one end of a
 * socket pair on its file descriptor 3 and speaks the chip bus (chip.h) there;
 * it shares this process's stdout for its own report lines. Without a chip
 * command the board runs with no chip (HELLO reports model 0).
 *   ACT <t_ns> <level>   every request the board acts on toggles the activity LED
 * t_ns is time since start. SIGTERM/SIGINT end it cleanly (the chip process too,
 * and the link is removed). The pty is non-blocking: replies and spike frames go
 * through the same transmit queue as on the MCU (common/txq.h). --baud N (N > 0)
 * lets bytes leave no faster than a UART at N baud (8N1: N / 10 bytes per second),
 * so the link budget and the board's output overflow behave as on the wire. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../../common/txq.h"
#include "../board.h"
#include "../hal.h"

static int master_fd = -1, chip_fd = -1;
static pid_t chip_pid = -1;
static txq_t txq;
static struct timespec t0;
static volatile sig_atomic_t stop_requested;
static uint8_t chip_buf[8192];
static uint32_t baud;       /* 0: unthrottled */
static double tx_credit;    /* bytes the emulated UART may send now */
static uint64_t tx_credit_ns;
static size_t chip_len, chip_pos;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)(t.tv_sec - t0.tv_sec) * 1000000000ull + (uint64_t)(t.tv_nsec - t0.tv_nsec);
}

uint32_t hal_now_us(void) { return (uint32_t)(now_ns() / 1000u); }
uint32_t hal_now_ms(void) { return (uint32_t)(now_ns() / 1000000u); }

void hal_activity(uint8_t level) { printf("ACT %llu %u\n", (unsigned long long)now_ns(), level); }

/* Write what the pty takes now; the rest waits for POLLOUT in the main loop. */
static void tx_flush(void)
{
    const uint8_t *p;
    size_t n;
    if (baud) { /* a UART sends baud / 10 bytes a second; the loop wakes every tick (later
                   * on a busy host), so unused time is credited for up to 20 ms */
        uint64_t t = now_ns();
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

static void chip_gone(void)
{
    if (chip_fd >= 0)
        close(chip_fd);
    chip_fd = -1;
}

/* Records wait here until the chip process takes them: one send per batch, not per
 * record (a socket charges each send a whole buffer), and a chip that is still
 * starting up only makes them wait. */
static uint8_t chip_out[65536];
static size_t chip_out_len;

/* Send what is buffered; wait_ms > 0 waits that long for room. 0 when it did not all
 * go (the chip is busy: the bytes stay buffered) or the chip is gone. */
static uint8_t chip_flush(int wait_ms)
{
    while (chip_fd >= 0 && chip_out_len) {
        ssize_t w = send(chip_fd, chip_out, chip_out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            memmove(chip_out, chip_out + w, chip_out_len - (size_t)w);
            chip_out_len -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {chip_fd, POLLOUT, 0};
            if (wait_ms > 0 && poll(&pfd, 1, wait_ms) > 0)
                continue;
            return 0; /* busy (starting up, or computing): try again later */
        }
        fprintf(stderr, "neuro_bridge_host: chip write failed: %s\n", strerror(errno));
        chip_gone();
        return 0;
    }
    return chip_fd >= 0;
}

uint8_t hal_chip_write(const uint8_t *rec, uint8_t len)
{
    if (chip_fd < 0)
        return 0;
    if (chip_out_len + len > sizeof chip_out && !chip_flush(2000)) {
        /* 64 KB the chip did not take in 2 s: it is not coming back */
        fprintf(stderr, "neuro_bridge_host: the chip took nothing for 2 s\n");
        chip_gone();
        return 0;
    }
    memcpy(chip_out + chip_out_len, rec, len);
    chip_out_len += len;
    return 1;
}

size_t hal_chip_backlog(void) { return chip_out_len; }

int16_t hal_chip_getc(uint16_t timeout_ms)
{
    if (chip_pos < chip_len)
        return chip_buf[chip_pos++];
    if (chip_fd < 0 || !chip_flush(timeout_ms)) /* a read waits for its request to go */
        return -1;
    struct pollfd pfd = {chip_fd, POLLIN, 0};
    int r = poll(&pfd, 1, timeout_ms);
    if (r <= 0)
        return -1;
    ssize_t n = recv(chip_fd, chip_buf, sizeof chip_buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        chip_gone();
        return -1;
    }
    if (n < 0)
        return -1;
    chip_len = (size_t)n;
    chip_pos = 1;
    return chip_buf[0];
}

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int start_chip(char **argv)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        perror("socketpair");
        return -1;
    }
    fflush(stdout);
    chip_pid = fork();
    if (chip_pid < 0) {
        perror("fork");
        return -1;
    }
    if (chip_pid == 0) {
        close(sv[0]);
        close(master_fd);
        if (sv[1] != 3) {
            dup2(sv[1], 3);
            close(sv[1]);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "neuro_bridge_host: cannot start chip %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(sv[1]);
    return sv[0];
}

int main(int argc, char **argv)
{
    const char *link_path = NULL;
    char **chip_argv = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--link") && i + 1 < argc)
            link_path = argv[++i];
        else if (!strcmp(argv[i], "--baud") && i + 1 < argc)
            baud = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--") && i + 1 < argc) {
            chip_argv = argv + i + 1;
            break;
        } else {
            fprintf(stderr, "usage: %s [--link PATH] [--baud N] [-- CHIP_COMMAND ARGS...]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tx_credit_ns = 0;

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
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if (chip_argv && (chip_fd = start_chip(chip_argv)) < 0)
        return 1;
    if (link_path) {
        unlink(link_path);
        if (symlink(name, link_path) != 0) {
            fprintf(stderr, "neuro_bridge_host: cannot link %s -> %s: %s\n", link_path, name,
                    strerror(errno));
            return 1;
        }
    }

    static board_t board;
    txq_init(&txq);
    board_init(&board);
    printf("READY %s\n", name);

    uint32_t done_ms = hal_now_ms();
    while (!stop_requested) {
        uint64_t t = now_ns(), next = (uint64_t)(done_ms + 1) * 1000000u;
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
            for (ssize_t i = 0; i < n; i++)
                board_rx_byte(&board, buf[i]);
        }
        uint32_t now = hal_now_ms();
        while (done_ms != now)
            board_tick(&board, ++done_ms);
        if (baud)
            tx_flush();
        chip_flush(0);
    }
    if (link_path)
        unlink(link_path);
    if (chip_pid > 0) {
        chip_gone();
        kill(chip_pid, SIGTERM);
        waitpid(chip_pid, NULL, 0);
    }
    printf("EXIT signal\n");
    return 0;
}
