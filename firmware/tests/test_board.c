/* Unit tests of the board logic on the host with a fake HAL and a fake clock.
 * Deterministic to the microsecond, which the pty tests (real time) cannot be.
 * Build and run: make test */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bucket/board.h"
#include "../bucket/hal.h"
#include "../common/cobs.h"
#include "../common/crc16.h"
#include "../common/txq.h"

/* ------------------------------------------------------------ fake HAL */
static uint32_t fake_us;
static uint16_t pwm[N_MOTORS];
static int strobe_edges;
static uint8_t tx[1024];
static size_t tx_len;
static size_t tx_room = sizeof tx; /* a host that stops reading: set it low */

uint32_t hal_now_us(void) { return fake_us; }
uint32_t hal_now_ms(void) { return fake_us / 1000u; }
void hal_set_pwm(uint8_t ch, uint16_t duty) { pwm[ch] = duty; }
void hal_strobe(uint8_t level) { (void)level; strobe_edges++; }
uint8_t hal_uart_write(const uint8_t *data, size_t len)
{
    if (tx_len + len > tx_room)
        return 0;
    memcpy(tx + tx_len, data, len);
    tx_len += len;
    return 1;
}

/* ------------------------------------------------------------ helpers */
static int failures, checks;
#define CHECK(cond)                                                                     \
    do {                                                                                \
        checks++;                                                                       \
        if (!(cond)) {                                                                  \
            failures++;                                                                 \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);    \
        }                                                                               \
    } while (0)

static board_t b;

/* What the target mains do with a received byte. */
static void rx_byte(uint8_t byte)
{
    link_frame_t f;
    if (link_rx_byte(&b.link, byte, hal_now_ms(), &f))
        board_request(&b, &f);
}

static void reset(void)
{
    fake_us = 0;
    memset(pwm, 0, sizeof pwm);
    strobe_edges = 0;
    tx_len = 0;
    tx_room = sizeof tx;
    board_init(&b);
    strobe_edges = 0;
}

static void send(uint8_t type, uint8_t seq, const uint8_t *payload, uint8_t len)
{
    uint8_t raw[64], enc[80];
    raw[0] = type;
    raw[1] = seq;
    memcpy(raw + 2, payload, len);
    uint16_t crc = crc16(raw, (size_t)len + 2);
    raw[2 + len] = (uint8_t)crc;
    raw[3 + len] = (uint8_t)(crc >> 8);
    size_t n = cobs_encode(raw, (size_t)len + 4, enc, sizeof enc);
    for (size_t i = 0; i < n; i++)
        rx_byte(enc[i]);
    rx_byte(0);
}

/* Decode the next reply in tx; returns its payload length or -1. */
static int take_reply(uint8_t *type, uint8_t *payload)
{
    uint8_t *end = memchr(tx, 0, tx_len);
    if (!end)
        return -1;
    size_t flen = (size_t)(end - tx);
    uint8_t raw[64];
    int n = cobs_decode(tx, flen, raw, sizeof raw);
    memmove(tx, end + 1, tx_len - flen - 1);
    tx_len -= flen + 1;
    if (n < 4 || crc16(raw, (size_t)n - 2) != (uint16_t)(raw[n - 2] | (raw[n - 1] << 8)))
        return -1;
    *type = raw[0];
    memcpy(payload, raw + 2, (size_t)n - 4);
    return n - 4;
}

static void set_duty(uint8_t seq, uint16_t d0, uint16_t d1, uint16_t d2, uint16_t d3)
{
    uint16_t d[4] = {d0, d1, d2, d3};
    uint8_t p[8];
    for (int i = 0; i < 4; i++) {
        p[2 * i] = (uint8_t)d[i];
        p[2 * i + 1] = (uint8_t)(d[i] >> 8);
    }
    send(MSG_SET_DUTY, seq, p, 8);
}

/* advance the fake clock to ms and run every tick on the way */
static void run_to_ms(uint32_t ms)
{
    uint32_t done = fake_us / 1000u;
    while (done < ms) {
        done++;
        fake_us = done * 1000u;
        board_tick(&b, done);
    }
}

/* ------------------------------------------------------------ tests */
static void test_crc_and_cobs(void)
{
    CHECK(crc16((const uint8_t *)"123456789", 9) == 0x29B1);
    uint8_t src[300], enc[310], dec[300];
    for (int i = 0; i < 300; i++)
        src[i] = (uint8_t)(i % 7 ? i : 0);
    size_t n = cobs_encode(src, sizeof src, enc, sizeof enc);
    CHECK(n <= COBS_MAX_ENCODED(300));
    CHECK(memchr(enc, 0, n) == NULL);
    CHECK(cobs_decode(enc, n, dec, sizeof dec) == 300 && !memcmp(src, dec, 300));
    memset(src, 0xAA, 254); /* a run of 254 non-zero bytes needs the 0xFF code */
    n = cobs_encode(src, 254, enc, sizeof enc);
    CHECK(enc[0] == 0xFF && n == 256);
    CHECK(cobs_decode(enc, n, dec, sizeof dec) == 254);
    CHECK(cobs_encode(src, 254, enc, 10) == 0); /* too small: refused, not overrun */
}

static void test_slew_and_clamp(void)
{
    reset();
    set_duty(1, 65535, 4096, 0, 0);
    uint8_t type, p[40];
    CHECK(take_reply(&type, p) == 7 && type == (MSG_SET_DUTY | REPLY_FLAG) && p[0] == ERR_OK);
    CHECK(b.target[0] == DUTY_MAX_DEFAULT && b.target[1] == 4096);
    CHECK(pwm[0] == 0); /* nothing moves before the next tick */
    run_to_ms(1);
    CHECK(pwm[0] == SLEW_PER_TICK && pwm[1] == SLEW_PER_TICK);
    run_to_ms(2);
    CHECK(pwm[1] == 4096);
    run_to_ms(29);
    CHECK(pwm[0] == 29 * SLEW_PER_TICK);
    run_to_ms(30);
    CHECK(pwm[0] == DUTY_MAX_DEFAULT); /* 60000 / 2048 -> 30 ticks */
    CHECK(strobe_edges == 1 && b.strobe_seq == 1);
}

static void test_watchdog_boundary(void)
{
    reset();
    fake_us = 1000500; /* a frame at 1000.5 ms */
    set_duty(1, 30000, 30000, 30000, 30000);
    run_to_ms(1249);
    CHECK(pwm[0] == 30000 && b.link.wd.trips == 0);
    run_to_ms(1250); /* 249.5 ms after the frame: the tick at timeout ms */
    CHECK(pwm[0] == 0 && pwm[3] == 0 && b.link.wd.trips == 1);
    CHECK(b.flags & FLAG_WATCHDOG_TRIPPED);
    run_to_ms(3000);
    CHECK(b.link.wd.trips == 1); /* disarmed until the next valid frame */
}

static void test_feed_ahead_of_a_late_tick_does_not_trip(void)
{
    reset();
    run_to_ms(10);
    fake_us = 15000; /* the main loop is 5 ticks behind when a frame arrives */
    set_duty(1, 1000, 0, 0, 0);
    uint32_t late;
    for (late = 11; late <= 15; late++)
        board_tick(&b, late);
    CHECK(b.link.wd.trips == 0);
}

static void test_resent_request_is_not_applied_twice(void)
{
    reset();
    uint8_t t1, t2, p1[40], p2[40];
    set_duty(9, 1000, 0, 0, 0);
    int n1 = take_reply(&t1, p1);
    set_duty(9, 1000, 0, 0, 0);
    int n2 = take_reply(&t2, p2);
    CHECK(n1 == n2 && t1 == t2 && !memcmp(p1, p2, (size_t)n1));
    CHECK(strobe_edges == 1 && b.link.frames_ok == 2);
    set_duty(10, 1000, 0, 0, 0); /* same payload, new seq: a new command */
    CHECK(strobe_edges == 2);
}

static void test_bad_frames_are_counted_silently(void)
{
    reset();
    const uint8_t junk[] = {0x05, 0x11, 0x22, 0x00, 0x00, 0x00}; /* one bad, then idle fill */
    for (size_t i = 0; i < sizeof junk; i++)
        rx_byte(junk[i]);
    for (int i = 0; i < 100; i++) /* longer than any frame */
        rx_byte(0x42);
    rx_byte(0);
    CHECK(b.link.frames_bad == 2 && b.link.frames_ok == 0 && tx_len == 0);
    set_duty(1, 5, 5, 5, 5); /* and the next good frame works */
    CHECK(b.link.frames_ok == 1 && strobe_edges == 1);
}

static void test_schedule_sorted_and_applied_on_time(void)
{
    reset();
    uint32_t when[3] = {30000, 10000, 20000};
    for (uint8_t i = 0; i < 3; i++) {
        uint8_t p[12] = {0};
        memcpy(p, &when[i], 4); /* little-endian host */
        p[4] = (uint8_t)(i + 1);
        send(MSG_SCHEDULE, (uint8_t)(i + 1), p, 12);
    }
    CHECK(b.queue_len == 3 && b.queue[0].t_us == 10000 && b.queue[2].t_us == 30000);
    tx_len = 0;
    run_to_ms(9);
    CHECK(strobe_edges == 0);
    run_to_ms(10);
    CHECK(strobe_edges == 1 && b.target[0] == 2);
    uint8_t type, p[40];
    CHECK(take_reply(&type, p) == 7 + 2 * N_MOTORS && type == EVT_STROBE);
    run_to_ms(30);
    CHECK(strobe_edges == 3 && b.target[0] == 1 && b.queue_len == 0);
}

static void test_txq_whole_frames_or_nothing(void)
{
    static txq_t q;
    txq_init(&q);
    uint8_t frame[50], out[TXQ_CAP];
    for (uint8_t i = 0; i < sizeof frame; i++)
        frame[i] = (uint8_t)(i + 1);
    CHECK(txq_room(&q) == TXQ_CAP - 1);
    CHECK(txq_put(&q, frame, 50) && txq_put(&q, frame, 50));
    CHECK(!txq_put(&q, frame, 50) && txq_room(&q) == TXQ_CAP - 101); /* refused whole */
    for (int i = 0; i < 60; i++)
        out[i] = txq_pop(&q);
    CHECK(out[0] == 1 && out[49] == 50 && out[50] == 1 && out[59] == 10);
    CHECK(txq_put(&q, frame, 50)); /* wraps around the end of the ring */
    size_t got = 0;
    const uint8_t *p;
    size_t n;
    while ((n = txq_peek(&q, &p)) > 0) { /* bulk reads see every byte in order */
        memcpy(out + got, p, n);
        got += n;
        txq_consume(&q, n);
    }
    CHECK(got == 90 && out[0] == 11 && out[39] == 50 && out[40] == 1 && out[89] == 50);
    CHECK(txq_empty(&q));
}

static void test_full_uart_drops_frames_but_not_the_watchdog(void)
{
    reset();
    set_duty(1, 60000, 60000, 60000, 60000);
    run_to_ms(40);
    CHECK(pwm[0] == 60000);
    tx_room = tx_len; /* the host stops reading: nothing more fits */
    uint8_t seq = 2;
    for (uint32_t ms = 41; ms <= 100; ms++, seq++) { /* requests keep coming, unanswered */
        set_duty(seq, 60000, 60000, 60000, 60000);
        run_to_ms(ms);
    }
    CHECK(b.link.tx_dropped == 60 && b.link.frames_ok == 61 && pwm[0] == 60000);
    run_to_ms(348); /* the last request came at 99 ms */
    CHECK(pwm[0] == 60000 && b.link.wd.trips == 0);
    run_to_ms(349); /* 250 ms after it, as if the host were reading */
    CHECK(pwm[0] == 0 && pwm[3] == 0 && b.link.wd.trips == 1);
    tx_room = sizeof tx; /* the host reads again: STATUS reports the drops */
    tx_len = 0;
    send(MSG_STATUS, seq, NULL, 0);
    uint8_t type, p[40];
    CHECK(take_reply(&type, p) == STATUS_FIXED + 2 * N_MOTORS && type == (MSG_STATUS | REPLY_FLAG));
    CHECK(p[21] == 60 && p[22] == 0);
}

int main(void)
{
    test_crc_and_cobs();
    test_slew_and_clamp();
    test_watchdog_boundary();
    test_feed_ahead_of_a_late_tick_does_not_trip();
    test_resent_request_is_not_applied_twice();
    test_bad_frames_are_counted_silently();
    test_schedule_sorted_and_applied_on_time();
    test_txq_whole_frames_or_nothing();
    test_full_uart_drops_frames_but_not_the_watchdog();
    if (failures) {
        fprintf(stderr, "%d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("all %d checks passed\n", checks);
    return 0;
}
