/* Host target: the same board logic on a POSIX pseudo-terminal.
 *
 * Usage: bucket_host [--link PATH]
 * Opens a pty pair, prints "READY <slave path>" on stdout, and serves the
 * protocol on it with a 1 ms tick from CLOCK_MONOTONIC. What the "MCU" outputs
 * is reported on stdout in the same line format as the simavr harness:
 *   PWM <t_ns> <motor> <duty 0..1>     on every output change
 *   STROBE <t_ns> <level>              on every strobe edge
 * t_ns is time since start. SIGTERM/SIGINT end it cleanly (the link is removed). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "../board.h"
#include "../hal.h"

static int master_fd = -1;
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

void hal_uart_write(const uint8_t *data, size_t len)
{
    while (len) {
        ssize_t n = write(master_fd, data, len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return;
        }
        data += n;
        len -= (size_t)n;
    }
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
    board_init(&board);
    printf("READY %s\n", name);

    uint32_t done_ms = hal_now_ms();
    while (!stop_requested) {
        uint64_t t = now_ns(), next = (uint64_t)(done_ms + 1) * 1000000u;
        uint64_t wait = next > t ? next - t : 0;
        struct timespec ts = {(time_t)(wait / 1000000000u), (long)(wait % 1000000000u)};
        struct pollfd pfd = {master_fd, POLLIN, 0};
        int r = ppoll(&pfd, 1, &ts, NULL);
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
