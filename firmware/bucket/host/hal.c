/* Host target of the bucket motor board: its outputs as stdout lines.
 *
 * Usage: bucket_host [--link PATH] [--baud N] (common/host/main.c: the pty, the 1 ms
 * tick, READY and EXIT). What the "MCU" outputs is reported on stdout in the same
 * line format as the simavr harness:
 *   PWM <t_ns> <motor> <duty 0..1>     on every output change
 *   STROBE <t_ns> <level>              on every strobe edge
 * t_ns is time since start. */
#include <stdio.h>

#include "../../common/host/main.h"
#include "../hal.h"
#include "../proto.h"

void hal_set_pwm(uint8_t ch, uint16_t duty)
{
    printf("PWM %llu %u %.6f\n", (unsigned long long)host_now_ns(), ch,
           duty / (double)DUTY_FULL_SCALE);
}

void hal_strobe(uint8_t level)
{
    printf("STROBE %llu %u\n", (unsigned long long)host_now_ns(), level);
}

/* The motor board has no far side: a command after "--" is a mistake. */
int host_board_start(char **cmd)
{
    if (!cmd)
        return 0;
    fprintf(stderr, "%s: the motor board starts no command (%s)\n", host_prog, cmd[0]);
    return 2;
}

void host_board_poll(void) {}
void host_board_stop(void) {}
