/* Protocol and control logic of the bucket motor board, free of hardware:
 * bytes in (board_rx_byte), a 1 ms tick (board_tick), everything else
 * through hal.h. The same file builds for the ATmega328P and the host. */
#ifndef BUCKET_BOARD_H
#define BUCKET_BOARD_H
#include <stdint.h>

#include "../common/cobs.h"
#include "../common/watchdog.h"
#include "proto.h"

#define RX_CAP COBS_MAX_ENCODED(MAX_RAW)
#define TX_CAP (COBS_MAX_ENCODED(MAX_RAW) + 1)

typedef struct {
    uint32_t t_us;
    uint16_t duty[N_MOTORS];
} sched_entry_t;

typedef struct {
    uint16_t target[N_MOTORS]; /* clamped set point */
    uint16_t output[N_MOTORS]; /* what the PWM outputs now (slew-limited) */
    uint16_t duty_max[N_MOTORS];
    link_watchdog_t wd;
    uint32_t frames_ok, frames_bad;
    uint16_t tx_dropped; /* frames the UART had no room for (wraps) */
    uint16_t strobe_seq;
    uint8_t strobe_level;
    uint8_t flags;
    uint8_t evt_seq;
    sched_entry_t queue[SCHED_DEPTH];
    uint8_t queue_len;
    /* receive state: COBS bytes up to the next 0x00 */
    uint8_t rx[RX_CAP];
    uint8_t rx_len;
    uint8_t rx_overflow;
    /* last request and its encoded reply, resent verbatim on a retry */
    uint8_t last_type, last_seq, have_last;
    uint16_t last_crc;
    uint8_t last_reply[TX_CAP];
    uint8_t last_reply_len;
} board_t;

void board_init(board_t *b);
void board_rx_byte(board_t *b, uint8_t byte);
/* Call once per elapsed millisecond; now_ms is the millisecond counter. */
void board_tick(board_t *b, uint32_t now_ms);

#endif
