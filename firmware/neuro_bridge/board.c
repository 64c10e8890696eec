/* Neuromorphic bridge logic; see firmware/PROTOCOL.md for the wire format. */
#include "board.h"

#include <string.h>

#include "../common/board_checks.h"
#include "../common/le.h"
#include "../common/reply.h"
#include "../common/crc16.h"
#include "hal.h"

typedef char in_frame_fits[(4 + IN_PER_FRAME * IN_EVENT_BYTES <= MAX_PAYLOAD) ? 1 : -1];
typedef char out_frame_fits[(6 + OUT_PER_FRAME * OUT_EVENT_BYTES <= MAX_PAYLOAD) ? 1 : -1];
typedef char syn_frame_fits[(5 + SYN_PER_FRAME * SYN_ENTRY_BYTES <= MAX_PAYLOAD) ? 1 : -1];
typedef char crc_frame_fits[(4 + CRC_PER_FRAME * 2 <= MAX_PAYLOAD) ? 1 : -1];
typedef char bias_frame_fits[(4 + BIAS_PER_FRAME * 2 <= MAX_PAYLOAD) ? 1 : -1];

/* the longest frame on the wire: payload + type, seq, crc; COBS adds one byte; delimiter */
#define FRAME_MAX (MAX_PAYLOAD + 4 + 2)


/* ------------------------------------------------------------------ chip bus */

static uint8_t chip_payload_len(uint8_t type)
{
    switch (type) {
    case CHIP_OUTPUT: return 6;
    case CHIP_READ_BIAS: return 4;
    case CHIP_READ_SYN: return 4; /* header; then 4 bytes per slot */
    case CHIP_IDENTIFY: return 9;
    default: return 0xFF;
    }
}

static void out_push(board_t *b, uint32_t t_us, uint16_t addr)
{
    if (b->out_len >= OUT_FIFO) { /* the link cannot carry the chip's rate: drop, count */
        b->out_overflow++;
        return;
    }
    if (b->out_len == 0)
        b->out_since_ms = hal_now_ms();
    out_event_t *e = &b->out[(uint16_t)((b->out_head + b->out_len) % OUT_FIFO)];
    e->t_us = t_us;
    e->addr = addr;
    b->out_len++;
    b->out_total++;
}

static uint8_t chip_fail(board_t *b)
{
    if (b->chip_errors < 0xFFFFu)
        b->chip_errors++;
    return 0;
}

/* A broken chip record: counted; the caller gives up on its read. */
static uint8_t chip_broken(board_t *b)
{
    chip_fail(b);
    return 0xFF;
}

/* Read one record from the chip into b->chip_rx (its payload after the type byte).
 * Returns its type, 0 when the chip had nothing (or is gone), 0xFF for a broken
 * record. Output records are taken here, whatever the caller waits for. */
static uint8_t chip_record(board_t *b, uint16_t timeout_ms)
{
    int16_t c = hal_chip_getc(timeout_ms);
    if (c <= 0)
        return 0;
    uint8_t type = (uint8_t)c, n = chip_payload_len(type), *buf = b->chip_rx;
    if (n == 0xFF)
        return chip_broken(b);
    for (uint8_t i = 0; i < n; i++) {
        int16_t v = hal_chip_getc(CHIP_REPLY_MS);
        if (v < 0)
            return chip_broken(b);
        buf[i] = (uint8_t)v;
    }
    if (type == CHIP_READ_SYN) { /* variable part: n slots of 4 bytes */
        uint8_t slots = buf[3];
        if (slots > CHIP_SYN_READ_MAX)
            return chip_broken(b);
        for (uint8_t i = 0; i < 4u * slots; i++) {
            int16_t v = hal_chip_getc(CHIP_REPLY_MS);
            if (v < 0)
                return chip_broken(b);
            buf[4 + i] = (uint8_t)v;
        }
    }
    if (type == CHIP_OUTPUT)
        out_push(b, get32(buf), get16(buf + 4));
    return type;
}

/* Send a read request and wait for the answer of type want (outputs are queued
 * meanwhile, stale answers skipped); its payload is then in b->chip_rx. 1 when it
 * came, 0 (counted in chip_errors) when it did not. */
static uint8_t chip_ask(board_t *b, const uint8_t *req, uint8_t n, uint8_t want)
{
    if (b->flags & FLAG_CHIP_LOST)
        return 0;
    if (!hal_chip_write(req, n)) {
        b->flags |= FLAG_CHIP_LOST;
        return chip_fail(b);
    }
    uint32_t t0 = hal_now_ms();
    for (;;) {
        uint32_t waited = hal_now_ms() - t0;
        if (waited >= CHIP_REPLY_MS)
            return chip_fail(b);
        uint8_t got = chip_record(b, (uint16_t)(CHIP_REPLY_MS - waited));
        if (got == want)
            return 1;
        if (got == 0xFF)
            return 0;
    }
}

static uint8_t chip_send(board_t *b, const uint8_t *rec, uint8_t n)
{
    if (b->flags & FLAG_CHIP_LOST)
        return 0;
    if (!hal_chip_write(rec, n)) {
        b->flags |= FLAG_CHIP_LOST;
        return chip_fail(b);
    }
    return 1;
}

static void chip_identify(board_t *b)
{
    uint8_t q = CHIP_IDENTIFY, *r = b->chip_rx;
    memset(&b->chip, 0, sizeof b->chip);
    if (!chip_ask(b, &q, 1, CHIP_IDENTIFY))
        return;
    b->chip.model = r[0];
    b->chip.n_cores = r[1];
    b->chip.neurons_per_core = get16(r + 2);
    b->chip.slots = get16(r + 4);
    b->chip.n_syn = r[6];
    b->chip.max_weight = r[7];
    b->chip.n_bias = r[8];
}

static uint8_t chip_known(board_t *b)
{
    if (b->chip.model == CHIP_NONE)
        chip_identify(b);
    return b->chip.model != CHIP_NONE;
}

/* Is addr = core * 256 + neuron a neuron of this chip? */
static uint8_t addr_ok(const board_t *b, uint16_t addr)
{
    return (addr / NEURONS_PER_CORE_MAX) < b->chip.n_cores &&
           (addr % NEURONS_PER_CORE_MAX) < b->chip.neurons_per_core;
}

/* ------------------------------------------------------------------ handlers */

static void handle_hello(board_t *b, uint8_t seq, const uint8_t *p, uint8_t len)
{
    if (!link_hello_ok(&b->link, seq, p, len, PROTO_VERSION, ERR_BAD_VERSION))
        return;
    chip_identify(b); /* a fresh look: the chip behind the board may have been swapped */
    uint8_t r[29];
    link_hello_head(r, PROTO_VERSION, FW_VERSION_MAJOR, FW_VERSION_MINOR, FW_VERSION_PATCH);
    put16(r + 5, TICK_US);
    put16(r + 7, b->link.wd.timeout_ms);
    put16(r + 9, WATCHDOG_MS_MIN);
    put16(r + 11, WATCHDOG_MS_MAX);
    put16(r + 13, IN_FIFO);
    put16(r + 15, OUT_FIFO);
    r[17] = b->chip.model;
    r[18] = b->chip.n_cores;
    put16(r + 19, b->chip.neurons_per_core);
    put16(r + 21, b->chip.slots);
    r[23] = b->chip.n_syn;
    r[24] = b->chip.max_weight;
    r[25] = b->chip.n_bias;
    r[26] = IN_PER_FRAME;
    r[27] = OUT_PER_FRAME;
    r[28] = SYN_PER_FRAME;
    link_reply(&b->link, MSG_HELLO, seq, r, sizeof r);
}

static void handle_status(board_t *b, uint8_t seq, uint8_t len)
{
    if (len != 0)
        return link_reply_error(&b->link, MSG_STATUS, seq, ERR_BAD_LENGTH, 0);
    uint8_t r[54];
    link_status_head(&b->link, r, hal_now_us(), b->flags);
    put16(r + 16, b->link.wd.timeout_ms);
    put16(r + 18, b->link.tx_dropped);
    put16(r + 20, b->in_len);
    put16(r + 22, (uint16_t)(IN_FIFO - b->in_len));
    put32(r + 24, b->in_total);
    put32(r + 28, b->in_overflow);
    put32(r + 32, b->in_underflow);
    put32(r + 36, b->in_flushed);
    put32(r + 40, b->out_total);
    put32(r + 44, b->out_overflow);
    put16(r + 48, b->out_len);
    put16(r + 50, b->chip_errors);
    put16(r + 52, 0); /* reserved */
    link_reply(&b->link, MSG_STATUS, seq, r, sizeof r);
}

static void handle_write_biases(board_t *b, uint8_t seq, const uint8_t *p, uint8_t len)
{
    if (len < 4 || (len - 2) % 2)
        return link_reply_error(&b->link, MSG_WRITE_BIASES, seq, ERR_BAD_LENGTH, 4);
    if (!chip_known(b))
        return link_reply_error(&b->link, MSG_WRITE_BIASES, seq, ERR_CHIP, 0);
    uint8_t core = p[0], first = p[1], n = (uint8_t)((len - 2) / 2);
    if (core >= b->chip.n_cores || first + n > b->chip.n_bias)
        return link_reply_error(&b->link, MSG_WRITE_BIASES, seq, ERR_OUT_OF_RANGE, 0);
    for (uint8_t i = 0; i < n; i++) /* a coarse code selects one of 8 current ranges */
        if (p[2 + 2 * i] > COARSE_MAX)
            return link_reply_error(&b->link, MSG_WRITE_BIASES, seq, ERR_OUT_OF_RANGE, (uint8_t)(i + 1));
    for (uint8_t i = 0; i < n; i++) {
        uint8_t rec[5] = {CHIP_WRITE_BIAS, core, (uint8_t)(first + i), p[2 + 2 * i], p[3 + 2 * i]};
        if (!chip_send(b, rec, sizeof rec))
            return link_reply_error(&b->link, MSG_WRITE_BIASES, seq, ERR_CHIP, i);
    }
    uint8_t r[2] = {ERR_OK, n};
    link_reply(&b->link, MSG_WRITE_BIASES, seq, r, sizeof r);
}

static void handle_read_biases(board_t *b, uint8_t seq, const uint8_t *p, uint8_t len)
{
    if (len != 3)
        return link_reply_error(&b->link, MSG_READ_BIASES, seq, ERR_BAD_LENGTH, 3);
    if (!chip_known(b))
        return link_reply_error(&b->link, MSG_READ_BIASES, seq, ERR_CHIP, 0);
    uint8_t core = p[0], first = p[1], n = p[2];
    if (core >= b->chip.n_cores || n > BIAS_PER_FRAME || first + n > b->chip.n_bias)
        return link_reply_error(&b->link, MSG_READ_BIASES, seq, ERR_OUT_OF_RANGE, 0);
    uint8_t r[4 + 2 * BIAS_PER_FRAME];
    r[0] = ERR_OK;
    r[1] = core;
    r[2] = first;
    r[3] = n;
    for (uint8_t i = 0; i < n; i++) {
        uint8_t q[3] = {CHIP_READ_BIAS, core, (uint8_t)(first + i)}, *a = b->chip_rx;
        if (!chip_ask(b, q, sizeof q, CHIP_READ_BIAS) || a[0] != core ||
            a[1] != first + i)
            return link_reply_error(&b->link, MSG_READ_BIASES, seq, ERR_CHIP, i);
        r[4 + 2 * i] = a[2];
        r[5 + 2 * i] = a[3];
    }
    link_reply(&b->link, MSG_READ_BIASES, seq, r, (uint8_t)(4 + 2 * n));
}

static void handle_write_synapses(board_t *b, uint8_t seq, const uint8_t *p, uint8_t len)
{
    if (len < 3 + SYN_ENTRY_BYTES || (len - 3) % SYN_ENTRY_BYTES)
        return link_reply_error(&b->link, MSG_WRITE_SYNAPSES, seq, ERR_BAD_LENGTH, 3 + SYN_ENTRY_BYTES);
    if (!chip_known(b))
        return link_reply_error(&b->link, MSG_WRITE_SYNAPSES, seq, ERR_CHIP, 0);
    uint16_t target = get16(p);
    uint8_t first = p[2], n = (uint8_t)((len - 3) / SYN_ENTRY_BYTES);
    if (!addr_ok(b, target) || first + n > b->chip.slots)
        return link_reply_error(&b->link, MSG_WRITE_SYNAPSES, seq, ERR_OUT_OF_RANGE, 0);
    for (uint8_t i = 0; i < n; i++) { /* check all before the chip sees any */
        const uint8_t *e = p + 3 + SYN_ENTRY_BYTES * i;
        if (e[3] != WEIGHT_EMPTY &&
            (!addr_ok(b, get16(e)) || e[2] >= b->chip.n_syn || e[3] > b->chip.max_weight))
            return link_reply_error(&b->link, MSG_WRITE_SYNAPSES, seq, ERR_OUT_OF_RANGE, (uint8_t)(i + 1));
    }
    for (uint8_t i = 0; i < n; i++) {
        const uint8_t *e = p + 3 + SYN_ENTRY_BYTES * i;
        uint8_t rec[8] = {CHIP_WRITE_SYN, p[0], p[1], (uint8_t)(first + i), e[0], e[1], e[2], e[3]};
        if (!chip_send(b, rec, sizeof rec))
            return link_reply_error(&b->link, MSG_WRITE_SYNAPSES, seq, ERR_CHIP, i);
    }
    uint8_t r[2] = {ERR_OK, n};
    link_reply(&b->link, MSG_WRITE_SYNAPSES, seq, r, sizeof r);
}

/* Read slots [first, first + n) of target's row from the chip into out (4 bytes each). */
static uint8_t read_row(board_t *b, uint16_t target, uint8_t first, uint8_t n, uint8_t *out)
{
    const uint8_t *a = b->chip_rx;
    while (n) {
        uint8_t k = n > CHIP_SYN_READ_MAX ? CHIP_SYN_READ_MAX : n;
        uint8_t q[5] = {CHIP_READ_SYN, (uint8_t)target, (uint8_t)(target >> 8), first, k};
        if (!chip_ask(b, q, sizeof q, CHIP_READ_SYN) || get16(a) != target ||
            a[2] != first || a[3] != k)
            return chip_fail(b);
        memcpy(out, a + 4, 4u * k);
        out += 4u * k;
        first = (uint8_t)(first + k);
        n = (uint8_t)(n - k);
    }
    return 1;
}

static void handle_read_synapses(board_t *b, uint8_t seq, const uint8_t *p, uint8_t len)
{
    if (len != 4)
        return link_reply_error(&b->link, MSG_READ_SYNAPSES, seq, ERR_BAD_LENGTH, 4);
    if (!chip_known(b))
        return link_reply_error(&b->link, MSG_READ_SYNAPSES, seq, ERR_CHIP, 0);
    uint16_t target = get16(p);
    uint8_t first = p[2], n = p[3];
    if (!addr_ok(b, target) || n > SYN_PER_FRAME || first + n > b->chip.slots)
        return link_reply_error(&b->link, MSG_READ_SYNAPSES, seq, ERR_OUT_OF_RANGE, 0);
    uint8_t r[5 + SYN_ENTRY_BYTES * SYN_PER_FRAME];
    r[0] = ERR_OK;
    memcpy(r + 1, p, 4);
    if (!read_row(b, target, first, n, r + 5))
        return link_reply_error(&b->link, MSG_READ_SYNAPSES, seq, ERR_CHIP, 0);
    link_reply(&b->link, MSG_READ_SYNAPSES, seq, r, (uint8_t)(5 + SYN_ENTRY_BYTES * n));
}

/* CRC-16 of every slot of n rows from first: the host diffs its tables against these */
static void handle_row_crc(board_t *b, uint8_t seq, const uint8_t *p, uint8_t len)
{
    if (len != 3)
        return link_reply_error(&b->link, MSG_ROW_CRC, seq, ERR_BAD_LENGTH, 3);
    if (!chip_known(b))
        return link_reply_error(&b->link, MSG_ROW_CRC, seq, ERR_CHIP, 0);
    uint16_t first = get16(p);
    uint8_t n = p[2];
    if (n > CRC_PER_FRAME || !addr_ok(b, first) || !addr_ok(b, (uint16_t)(first + n - 1)) ||
        n == 0)
        return link_reply_error(&b->link, MSG_ROW_CRC, seq, ERR_OUT_OF_RANGE, 0);
    uint8_t r[4 + 2 * CRC_PER_FRAME];
    r[0] = ERR_OK;
    memcpy(r + 1, p, 3);
    for (uint8_t i = 0; i < n; i++) {
        uint16_t crc = CRC16_INIT, slot = 0;
        while (slot < b->chip.slots) {
            uint8_t k = (b->chip.slots - slot) > CHIP_SYN_READ_MAX ? CHIP_SYN_READ_MAX
                                                                  : (uint8_t)(b->chip.slots - slot);
            uint8_t buf[4 * CHIP_SYN_READ_MAX];
            if (!read_row(b, (uint16_t)(first + i), (uint8_t)slot, k, buf))
                return link_reply_error(&b->link, MSG_ROW_CRC, seq, ERR_CHIP, i);
            for (uint8_t j = 0; j < 4u * k; j++)
                crc = crc16_update(crc, buf[j]);
            slot = (uint16_t)(slot + k);
        }
        put16(r + 4 + 2 * i, crc);
    }
    link_reply(&b->link, MSG_ROW_CRC, seq, r, (uint8_t)(4 + 2 * n));
}

static void handle_events_in(board_t *b, uint8_t seq, const uint8_t *p, uint8_t len)
{
    if (len < 4 || (len - 4) % IN_EVENT_BYTES)
        return link_reply_error(&b->link, MSG_EVENTS_IN, seq, ERR_BAD_LENGTH, 4);
    if (!chip_known(b))
        return link_reply_error(&b->link, MSG_EVENTS_IN, seq, ERR_CHIP, 0);
    uint32_t t0 = get32(p), last = b->in_last_t;
    uint8_t n = (uint8_t)((len - 4) / IN_EVENT_BYTES), have = b->in_have_last;
    for (uint8_t i = 0; i < n; i++) { /* refuse the whole batch before queuing any of it */
        const uint8_t *e = p + 4 + IN_EVENT_BYTES * i;
        uint32_t t = t0 + get16(e);
        if (have && (int32_t)(t - last) < 0)
            return link_reply_error(&b->link, MSG_EVENTS_IN, seq, ERR_OUT_OF_ORDER, (uint8_t)(i + 1));
        if (!addr_ok(b, get16(e + 2)) || e[4] >= b->chip.n_syn)
            return link_reply_error(&b->link, MSG_EVENTS_IN, seq, ERR_OUT_OF_RANGE, (uint8_t)(i + 1));
        last = t;
        have = 1;
    }
    uint32_t now = hal_now_us();
    uint8_t accepted = 0;
    for (uint8_t i = 0; i < n; i++) {
        const uint8_t *e = p + 4 + IN_EVENT_BYTES * i;
        if (b->in_len >= IN_FIFO) {
            b->in_overflow += (uint32_t)(n - i); /* the host outran the FIFO: drop, count */
            break;
        }
        in_event_t *q = &b->in[(uint16_t)((b->in_head + b->in_len) % IN_FIFO)];
        q->t_us = t0 + get16(e);
        q->addr = get16(e + 2);
        q->syn = e[4];
        if ((int32_t)(q->t_us - now) < 0)
            b->in_underflow++; /* due already: the host fell behind the board clock */
        b->in_len++;
        b->in_last_t = q->t_us;
        b->in_have_last = 1;
        accepted++;
    }
    b->flags &= (uint8_t)~FLAG_WATCHDOG_TRIPPED;
    uint8_t r[8];
    r[0] = ERR_OK;
    r[1] = accepted;
    put16(r + 2, (uint16_t)(IN_FIFO - b->in_len));
    put32(r + 4, now);
    link_reply(&b->link, MSG_EVENTS_IN, seq, r, sizeof r);
}

static void flush_inputs(board_t *b)
{
    b->in_flushed += b->in_len;
    b->in_len = 0;
    b->in_have_last = 0;
}

/* Drop queued inputs and outputs, reset the neurons (not the tables); the stream restarts */
static void handle_clear(board_t *b, uint8_t seq, uint8_t len)
{
    if (len != 0)
        return link_reply_error(&b->link, MSG_CLEAR, seq, ERR_BAD_LENGTH, 0);
    uint32_t now = hal_now_us();
    b->in_len = 0;
    b->in_have_last = 0;
    b->out_len = 0;
    uint8_t rec[5] = {CHIP_RESET};
    put32(rec + 1, now);
    if (!chip_send(b, rec, sizeof rec))
        return link_reply_error(&b->link, MSG_CLEAR, seq, ERR_CHIP, 0);
    uint8_t r[5];
    r[0] = ERR_OK;
    put32(r + 1, now);
    link_reply(&b->link, MSG_CLEAR, seq, r, sizeof r);
}

void board_request(board_t *b, const link_frame_t *f)
{
    uint8_t type = f->type, seq = f->seq, len = f->len;
    const uint8_t *p = f->payload;
    b->act ^= 1;
    hal_activity(b->act);
    switch (type) {
    case MSG_HELLO: handle_hello(b, seq, p, len); break;
    case MSG_PING: link_reply_time(&b->link, type, seq, len, hal_now_us()); break;
    case MSG_STATUS: handle_status(b, seq, len); break;
    case MSG_SET_WATCHDOG:
        link_reply_watchdog(&b->link, type, seq, p, len, WATCHDOG_MS_MIN, WATCHDOG_MS_MAX);
        break;
    case MSG_WRITE_BIASES: handle_write_biases(b, seq, p, len); break;
    case MSG_READ_BIASES: handle_read_biases(b, seq, p, len); break;
    case MSG_WRITE_SYNAPSES: handle_write_synapses(b, seq, p, len); break;
    case MSG_READ_SYNAPSES: handle_read_synapses(b, seq, p, len); break;
    case MSG_ROW_CRC: handle_row_crc(b, seq, p, len); break;
    case MSG_EVENTS_IN: handle_events_in(b, seq, p, len); break;
    case MSG_CLEAR: handle_clear(b, seq, len); break;
    default: link_reply_unknown(&b->link, type, seq); break;
    }
}

/* ------------------------------------------------------------------- streams */

/* Pack queued outputs into EVT_SPIKES frames while the UART can take one whole
 * frame and still hold a reply (a reply must never wait behind the stream). */
static void send_spikes(board_t *b, uint32_t now_ms)
{
    while (b->out_len &&
           (b->out_len >= OUT_PER_FRAME || (uint32_t)(now_ms - b->out_since_ms) >= OUT_FLUSH_MS) &&
           hal_uart_room() >= 2u * FRAME_MAX) {
        uint8_t e[6 + OUT_EVENT_BYTES * OUT_PER_FRAME];
        uint32_t t0 = b->out[b->out_head].t_us;
        put32(e, t0);
        put16(e + 4, (uint16_t)b->out_overflow);
        uint8_t n = 0;
        while (n < OUT_PER_FRAME && b->out_len) {
            const out_event_t *o = &b->out[b->out_head];
            uint32_t dt = o->t_us - t0;
            if (n && dt > 0xFFFFu) /* beyond a u16 offset (or earlier): the next frame's */
                break;
            put16(e + 6 + OUT_EVENT_BYTES * n, (uint16_t)(n ? dt : 0));
            put16(e + 8 + OUT_EVENT_BYTES * n, o->addr);
            n++;
            b->out_head = (uint16_t)((b->out_head + 1) % OUT_FIFO);
            b->out_len--;
        }
        b->out_since_ms = now_ms;
        link_send(&b->link, EVT_SPIKES, b->evt_seq++, e, (uint8_t)(6 + OUT_EVENT_BYTES * n));
    }
}

void board_init(board_t *b)
{
    memset(b, 0, sizeof *b);
    link_init(&b->link, hal_uart_write, WATCHDOG_MS_DEFAULT);
    hal_activity(0);
}

void board_tick(board_t *b, uint32_t now_ms)
{
    if (link_watchdog_trip(&b->link, now_ms, &b->flags)) /* the host went quiet */
        flush_inputs(b); /* silence the inputs */
    uint32_t now_us = hal_now_us();
    while (b->in_len && (int32_t)(now_us - b->in[b->in_head].t_us) >= 0) {
        const in_event_t *e = &b->in[b->in_head];
        uint8_t rec[8] = {CHIP_EVENT};
        put32(rec + 1, e->t_us);
        put16(rec + 5, e->addr);
        rec[7] = e->syn;
        if (!chip_send(b, rec, sizeof rec)) {
            flush_inputs(b);
            break;
        }
        b->in_head = (uint16_t)((b->in_head + 1) % IN_FIFO);
        b->in_len--;
        b->in_total++;
    }
    /* a beacon only says "run up to now": a chip still busy with the last ones needs no more */
    if ((uint32_t)(now_ms - b->beacon_ms) >= BEACON_MS && hal_chip_backlog() < 256u) {
        uint8_t rec[5] = {CHIP_TIME};
        put32(rec + 1, now_us);
        chip_send(b, rec, sizeof rec);
        b->beacon_ms = now_ms;
    }
    for (uint16_t i = 0; i < CHIP_POLL_MAX; i++) {
        uint8_t got = chip_record(b, 0);
        if (got == 0 || got == 0xFF)
            break;
    }
    send_spikes(b, now_ms);
}
