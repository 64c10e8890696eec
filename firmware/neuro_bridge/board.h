/* Message set and event logic of the neuromorphic bridge, free of hardware:
 * requests in (board_request, from the link the target's main feeds), a 1 ms tick
 * (board_tick), everything else through hal.h; framing, retries and the link
 * watchdog are common/link.h's. The board keeps no copy of the chip's tables:
 * writes go to the chip, reads come back from it, so a read-back shows what the
 * chip holds. */
#ifndef NEURO_BRIDGE_BOARD_H
#define NEURO_BRIDGE_BOARD_H
#include <stdint.h>

#include "../common/link.h"
#include "chip.h"
#include "proto.h"

/* FIFO depths (events); the AVR build sets small ones to fit 2 KB of RAM */
#ifndef IN_FIFO
#define IN_FIFO 4096u
#endif
#ifndef OUT_FIFO
#define OUT_FIFO 4096u
#endif
/* send a time beacon to the chip every BEACON_MS (the SPI chip needs none often) */
#ifndef BEACON_MS
#define BEACON_MS 1u
#endif
/* a partly filled spike frame waits at most this long for more events */
#ifndef OUT_FLUSH_MS
#define OUT_FLUSH_MS 2u
#endif
/* how long a chip read may take before the request fails with ERR_CHIP */
#ifndef CHIP_REPLY_MS
#define CHIP_REPLY_MS 500u
#endif
/* chip records read per tick at most (bounds the tick's length on the MCU) */
#ifndef CHIP_POLL_MAX
#define CHIP_POLL_MAX 1000u
#endif

typedef struct {
    uint32_t t_us;
    uint16_t addr;
    uint8_t syn;
} in_event_t;

typedef struct {
    uint32_t t_us;
    uint16_t addr;
} out_event_t;

typedef struct {
    uint8_t model, n_cores, n_syn, max_weight, n_bias;
    uint16_t neurons_per_core, slots;
} chip_info_t;

typedef struct {
    link_t link; /* framing, CRC, retries, counters, watchdog (common/link.h) */
    uint8_t flags;
    uint8_t evt_seq;
    uint8_t act;
    chip_info_t chip;
    uint8_t chip_rx[4 + 4 * CHIP_SYN_READ_MAX]; /* the last record read from the chip */
    in_event_t in[IN_FIFO];
    uint16_t in_head, in_len;
    uint32_t in_last_t; /* time of the last accepted input (order check) */
    uint8_t in_have_last;
    out_event_t out[OUT_FIFO];
    uint16_t out_head, out_len;
    uint32_t out_since_ms; /* when the oldest queued output arrived */
    uint32_t beacon_ms;
    /* counters (PROTOCOL.md, STATUS) */
    uint32_t in_total, in_overflow, in_underflow, in_flushed;
    uint32_t out_total, out_overflow;
    uint16_t chip_errors;
} board_t;

#include "../common/board_api.h"

#endif
