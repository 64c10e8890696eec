/* Bucket motor board logic; see firmware/PROTOCOL.md for the wire format. */
#include "board.h"

#include <string.h>

#include "hal.h"

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | ((uint16_t)p[1] << 8)); }
static uint32_t get32(const uint8_t *p) { return get16(p) | ((uint32_t)get16(p + 2) << 16); }

/* proto.h repeats the common link's numbers for the host's header check: keep them equal */
typedef char payload_fits_the_link[(MAX_PAYLOAD == LINK_MAX_PAYLOAD) ? 1 : -1];
typedef char reply_flag_is_the_link_s[(REPLY_FLAG == LINK_REPLY_FLAG) ? 1 : -1];

static void reply(board_t *b, uint8_t type, uint8_t seq, const uint8_t *payload, uint8_t len)
{
    link_reply(&b->link, type, seq, payload, len);
}

static void reply_error(board_t *b, uint8_t type, uint8_t seq, uint8_t code, uint8_t detail)
{
    uint8_t p[2] = {code, detail};
    reply(b, type, seq, p, 2);
}

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
    if (len != 1)
        return reply_error(b, MSG_HELLO, seq, ERR_BAD_LENGTH, 1);
    if (p[0] != PROTO_VERSION)
        return reply_error(b, MSG_HELLO, seq, ERR_BAD_VERSION, PROTO_VERSION);
    uint8_t r[19 + 2 * N_MOTORS];
    r[0] = ERR_OK;
    r[1] = PROTO_VERSION;
    r[2] = FW_VERSION_MAJOR;
    r[3] = FW_VERSION_MINOR;
    r[4] = FW_VERSION_PATCH;
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
    reply(b, MSG_HELLO, seq, r, sizeof r);
}

static void handle_set_duty(board_t *b, uint8_t seq, const uint8_t *p, uint8_t len)
{
    if (len != 2 * N_MOTORS)
        return reply_error(b, MSG_SET_DUTY, seq, ERR_BAD_LENGTH, 2 * N_MOTORS);
    uint16_t duty[N_MOTORS];
    read_duties(p, duty);
    uint32_t t = hal_now_us();
    apply_vector(b, duty);
    uint8_t r[7];
    r[0] = ERR_OK;
    put32(r + 1, t);
    put16(r + 5, b->strobe_seq);
    reply(b, MSG_SET_DUTY, seq, r, sizeof r);
}

static void handle_schedule(board_t *b, uint8_t seq, const uint8_t *p, uint8_t len)
{
    if (len != 4 + 2 * N_MOTORS)
        return reply_error(b, MSG_SCHEDULE, seq, ERR_BAD_LENGTH, 4 + 2 * N_MOTORS);
    if (b->queue_len >= SCHED_DEPTH)
        return reply_error(b, MSG_SCHEDULE, seq, ERR_QUEUE_FULL, SCHED_DEPTH);
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
    reply(b, MSG_SCHEDULE, seq, r, sizeof r);
}

static void handle_time_reply(board_t *b, uint8_t type, uint8_t seq, uint8_t len)
{
    if (len != 0)
        return reply_error(b, type, seq, ERR_BAD_LENGTH, 0);
    if (type == MSG_STOP) {
        all_off(b);
        b->flags |= FLAG_STOPPED;
    }
    uint8_t r[5];
    r[0] = ERR_OK;
    put32(r + 1, hal_now_us());
    reply(b, type, seq, r, sizeof r);
}

static void handle_status(board_t *b, uint8_t seq, uint8_t len)
{
    if (len != 0)
        return reply_error(b, MSG_STATUS, seq, ERR_BAD_LENGTH, 0);
    uint8_t r[STATUS_FIXED + 2 * N_MOTORS];
    r[0] = ERR_OK;
    put32(r + 1, hal_now_us());
    put32(r + 5, b->link.frames_ok);
    put32(r + 9, b->link.frames_bad);
    put16(r + 13, b->link.wd.trips);
    r[15] = b->flags;
    r[16] = b->queue_len;
    put16(r + 17, b->strobe_seq);
    put16(r + 19, b->link.wd.timeout_ms);
    put16(r + 21, b->link.tx_dropped);
    for (uint8_t i = 0; i < N_MOTORS; i++)
        put16(r + STATUS_FIXED + 2 * i, b->output[i]);
    reply(b, MSG_STATUS, seq, r, sizeof r);
}

static void handle_set_watchdog(board_t *b, uint8_t seq, const uint8_t *p, uint8_t len)
{
    if (len != 2)
        return reply_error(b, MSG_SET_WATCHDOG, seq, ERR_BAD_LENGTH, 2);
    uint16_t ms = get16(p);
    if (ms < WATCHDOG_MS_MIN || ms > WATCHDOG_MS_MAX)
        return reply_error(b, MSG_SET_WATCHDOG, seq, ERR_OUT_OF_RANGE, 0);
    b->link.wd.timeout_ms = ms;
    uint8_t r[3] = {ERR_OK, 0, 0};
    put16(r + 1, ms);
    reply(b, MSG_SET_WATCHDOG, seq, r, sizeof r);
}

static void dispatch(board_t *b, uint8_t type, uint8_t seq, const uint8_t *p, uint8_t len)
{
    switch (type) {
    case MSG_HELLO: handle_hello(b, seq, p, len); break;
    case MSG_SET_DUTY: handle_set_duty(b, seq, p, len); break;
    case MSG_SCHEDULE: handle_schedule(b, seq, p, len); break;
    case MSG_STOP:
    case MSG_PING: handle_time_reply(b, type, seq, len); break;
    case MSG_STATUS: handle_status(b, seq, len); break;
    case MSG_SET_WATCHDOG: handle_set_watchdog(b, seq, p, len); break;
    default: reply_error(b, type & (uint8_t)~REPLY_FLAG, seq, ERR_UNKNOWN_TYPE, type); break;
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

void board_rx_byte(board_t *b, uint8_t byte)
{
    link_frame_t f;
    if (link_rx_byte(&b->link, byte, hal_now_ms(), &f))
        dispatch(b, f.type, f.seq, f.payload, f.len);
}

void board_tick(board_t *b, uint32_t now_ms)
{
    if (link_watchdog_expired(&b->link.wd, now_ms)) {
        all_off(b);
        b->flags |= FLAG_WATCHDOG_TRIPPED;
    }
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
