/* Message set and control logic of the bucket motor board, free of hardware:
 * requests in (board_request, from the link the target's main feeds), a 1 ms
 * tick (board_tick), everything else through hal.h; framing, retries and the
 * watchdog are common/link.h's. The same file builds for the ATmega328P and the
 * host. */
#ifndef BUCKET_BOARD_H
#define BUCKET_BOARD_H
#include <stdint.h>

#include "../common/link.h"
#include "proto.h"

typedef struct {
    uint32_t t_us;
    uint16_t duty[N_MOTORS];
} sched_entry_t;

typedef struct {
    uint16_t target[N_MOTORS]; /* clamped set point */
    uint16_t output[N_MOTORS]; /* what the PWM outputs now (slew-limited) */
    uint16_t duty_max[N_MOTORS];
    link_t link; /* framing, CRC, retries, counters, watchdog (common/link.h) */
    uint16_t strobe_seq;
    uint8_t strobe_level;
    uint8_t flags;
    uint8_t evt_seq;
    sched_entry_t queue[SCHED_DEPTH];
    uint8_t queue_len;
} board_t;

#include "../common/board_api.h"

#endif
