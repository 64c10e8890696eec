/* Host target of the neuromorphic bridge: the chip in a child process.
 *
 * Usage: neuro_bridge_host [--link PATH] [--baud N] [-- CHIP_COMMAND ARGS...]
 * (common/host/main.c: the pty, the 1 ms tick, the --baud throttle, READY and EXIT).
 * CHIP_COMMAND (the emulator: physres.sim.neuromorphic.chip_bus) is started with one
 * end of a socket pair on its file descriptor 3 and speaks the chip bus (chip.h)
 * there; it shares this process's stdout for its own report lines and is ended when
 * the board is. Without a chip command the board runs with no chip (HELLO reports
 * model 0).
 *   ACT <t_ns> <level>   every request the board acts on toggles the activity LED
 * t_ns is time since start. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../common/host/main.h"
#include "../hal.h"

static int chip_fd = -1;
static pid_t chip_pid = -1;
static uint8_t chip_buf[8192];
static size_t chip_len, chip_pos;

void hal_activity(uint8_t level)
{
    printf("ACT %llu %u\n", (unsigned long long)host_now_ns(), level);
}

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
        fprintf(stderr, "%s: chip write failed: %s\n", host_prog, strerror(errno));
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
        fprintf(stderr, "%s: the chip took nothing for 2 s\n", host_prog);
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
        if (sv[1] != 3) {
            dup2(sv[1], 3);
            close(sv[1]);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "%s: cannot start chip %s: %s\n", host_prog, argv[0], strerror(errno));
        _exit(127);
    }
    close(sv[1]);
    return sv[0];
}

int host_board_start(char **cmd)
{
    if (cmd && (chip_fd = start_chip(cmd)) < 0)
        return 1;
    return 0;
}

void host_board_poll(void) { chip_flush(0); }

void host_board_stop(void)
{
    if (chip_pid > 0) {
        chip_gone();
        kill(chip_pid, SIGTERM);
        waitpid(chip_pid, NULL, 0);
    }
}
