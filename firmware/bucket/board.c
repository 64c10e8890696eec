/* Bucket motor board logic; see firmware/PROTOCOL.md for the wire format. */
#include "board.h"

#include <string.h>

#include "../common/board_checks.h"
#include "../common/le.h"
#include "../common/reply.h"
#include "hal.h"

static void all_off(board_t *b)
{
    for (uint8_t i = 0; i < N_MOTORS; i++) {
        b->target[i] = 0;
        if (b->output[i]) {
            b->output[i] = 0;
            hal_set_pwm(i, 0);
        }
    }
    b->queue_len = 0;
}

/* Take a duty vector: clamp per motor, toggle the strobe, count it. */
static void apply_vector(board_t *b, const uint16_t *duty)
{
    for (uint8_t i = 0; i < N_MOTORS; i++)
        b->target[i] = duty[i] > b->duty_max[i] ? b->duty_max[i] : duty[i];
    b->strobe_level ^= 1;
    hal_strobe(b->strobe_level);
    b->strobe_seq++;
    b->flags &= (uint8_t)~(FLAG_WATCHDOG_TRIPPED | FLAG_STOPPED);
}

static void read_duties(const uint8_t *p, uint16_t *duty)
{
    for (uint8_t i = 0; i < N_MOTORS; i++)
        duty[i] = get16(p + 2 * i);
}

static void handle_hello(board_t *b, uint8_t seq, const uint8_t *p, uint8_t len)
{
    if (!link_hello_ok(&b->link, seq, p, len, PROTO_VERSION, ERR_BAD_VERSION))
        return;
    uint8_t r[19 + 2 * N_MOTORS];
    link_hello_head(r, PROTO_VERSION, FW_VERSION_MAJOR, FW_VERSION_MINOR, FW_VERSION_PATCH);
    r[5] = N_MOTORS;
    r[6] = SCHED_DEPTH;
    put16(r + 7, DUTY_FULL_SCALE);
    put16(r + 9, SLEW_PER_TICK);
    put16(r + 11, TICK_US);
    put16(r + 13, b->link.wd.timeout_ms);
    put16(r + 15, WATCHDOG_MS_MIN);
    put16(r + 17, WATCHDOG_MS_MAX);
    for (uint8_t i = 0; i < N_MOTORS; i++)
        put16(r + 19 + 2 * i, b->duty_max[i]);
    link_reply(&b->link, MSG_HELLO, seq, r, sizeof r);
}

static void handle_set_duty(board_t *b, uint8_t seq, const uint8_t *p, uint8_t len)
{
    if (len != 2 * N_MOTORS)
        return link_reply_error(&b->link, MSG_SET_DUTY, seq, ERR_BAD_LENGTH, 2 * N_MOTORS);
    uint16_t duty[N_MOTORS];
    read_duties(p, duty);
    uint32_t t = hal_now_us();
    apply_vector(b, duty);
    uint8_t r[7];
    r[0] = ERR_OK;
    put32(r + 1, t);
    put16(r + 5, b->strobe_seq);
    link_reply(&b->link, MSG_SET_DUTY, seq, r, sizeof r);
}

static void handle_schedule(board_t *b, uint8_t seq, const uint8_t *p, uint8_t len)
{
    if (len != 4 + 2 * N_MOTORS)
        return link_reply_error(&b->link, MSG_SCHEDULE, seq, ERR_BAD_LENGTH, 4 + 2 * N_MOTORS);
    if (b->queue_len >= SCHED_DEPTH)
        return link_reply_error(&b->link, MSG_SCHEDULE, seq, ERR_QUEUE_FULL, SCHED_DEPTH);
    sched_entry_t e;
    e.t_us = get32(p);
    read_duties(p + 4, e.duty);
    /* insertion keeps the queue sorted by time (wrap-safe comparison) */
    uint8_t i = b->queue_len;
    while (i > 0 && (int32_t)(b->queue[i - 1].t_us - e.t_us) > 0) {
        b->queue[i] = b->queue[i - 1];
        i--;
    }
    b->queue[i] = e;
    b->queue_len++;
    uint8_t r[2] = {ERR_OK, b->queue_len};
    link_reply(&b->link, MSG_SCHEDULE, seq, r, sizeof r);
}

static void handle_time_reply(board_t *b, uint8_t type, uint8_t seq, uint8_t len)
{
    if (type == MSG_STOP && len == 0) {
        all_off(b);
        b->flags |= FLAG_STOPPED;
    }
    link_reply_time(&b->link, type, seq, len, hal_now_us());
}

static void handle_status(board_t *b, uint8_t seq, uint8_t len)
{
    if (len != 0)
        return link_reply_error(&b->link, MSG_STATUS, seq, ERR_BAD_LENGTH, 0);
    uint8_t r[STATUS_FIXED + 2 * N_MOTORS];
    link_status_head(&b->link, r, hal_now_us(), b->flags);
    r[16] = b->queue_len;
    put16(r + 17, b->strobe_seq);
    put16(r + 19, b->link.wd.timeout_ms);
    put16(r + 21, b->link.tx_dropped);
    for (uint8_t i = 0; i < N_MOTORS; i++)
        put16(r + STATUS_FIXED + 2 * i, b->output[i]);
    link_reply(&b->link, MSG_STATUS, seq, r, sizeof r);
}

void board_request(board_t *b, const link_frame_t *f)
{
    uint8_t type = f->type, seq = f->seq, len = f->len;
    const uint8_t *p = f->payload;
    switch (type) {
    case MSG_HELLO: handle_hello(b, seq, p, len); break;
    case MSG_SET_DUTY: handle_set_duty(b, seq, p, len); break;
    case MSG_SCHEDULE: handle_schedule(b, seq, p, len); break;
    case MSG_STOP:
    case MSG_PING: handle_time_reply(b, type, seq, len); break;
    case MSG_STATUS: handle_status(b, seq, len); break;
    case MSG_SET_WATCHDOG:
        link_reply_watchdog(&b->link, type, seq, p, len, WATCHDOG_MS_MIN, WATCHDOG_MS_MAX);
        break;
    default: link_reply_unknown(&b->link, type, seq); break;
    }
}

void board_init(board_t *b)
{
    memset(b, 0, sizeof *b);
    for (uint8_t i = 0; i < N_MOTORS; i++) {
        b->duty_max[i] = DUTY_MAX_DEFAULT;
        hal_set_pwm(i, 0);
    }
    link_init(&b->link, hal_uart_write, WATCHDOG_MS_DEFAULT);
    hal_strobe(0);
}

void board_tick(board_t *b, uint32_t now_ms)
{
    if (link_watchdog_trip(&b->link, now_ms, &b->flags))
        all_off(b);
    while (b->queue_len && (int32_t)(hal_now_us() - b->queue[0].t_us) >= 0) {
        uint8_t e[7 + 2 * N_MOTORS];
        uint32_t t = hal_now_us();
        apply_vector(b, b->queue[0].duty);
        put32(e, t);
        put16(e + 4, b->strobe_seq);
        e[6] = b->strobe_level;
        for (uint8_t i = 0; i < N_MOTORS; i++)
            put16(e + 7 + 2 * i, b->target[i]);
        b->queue_len--;
        memmove(b->queue, b->queue + 1, b->queue_len * sizeof b->queue[0]);
        link_send(&b->link, EVT_STROBE, b->evt_seq++, e, sizeof e);
    }
    for (uint8_t i = 0; i < N_MOTORS; i++) {
        uint16_t o = b->output[i], t = b->target[i];
        if (o == t)
            continue;
        if (t > o)
            o = (uint16_t)((t - o) > SLEW_PER_TICK ? o + SLEW_PER_TICK : t);
        else
            o = (uint16_t)((o - t) > SLEW_PER_TICK ? o - SLEW_PER_TICK : t);
        b->output[i] = o;
        hal_set_pwm(i, o);
    }
}
