#include "link.h"

#include <string.h>

#include "crc16.h"
#include "le.h"

void link_init(link_t *l, link_write_fn write, uint16_t watchdog_ms)
{
    memset(l, 0, sizeof *l);
    l->write = write;
    link_watchdog_init(&l->wd, watchdog_ms);
}

static void put(link_t *l, const uint8_t *frame, size_t n)
{
    if (!l->write(frame, n))
        l->tx_dropped++;
}

/* Encode type/seq/payload + CRC, COBS it, send it; optionally keep a copy. */
static void send(link_t *l, uint8_t type, uint8_t seq, const uint8_t *payload, uint8_t len,
                 uint8_t remember)
{
    uint8_t raw[LINK_MAX_RAW];
    uint8_t enc[LINK_TX_CAP];
    if (len > LINK_MAX_PAYLOAD)
        return;
    raw[0] = type;
    raw[1] = seq;
    memcpy(raw + 2, payload, len);
    uint16_t crc = crc16(raw, (size_t)len + 2);
    raw[2 + len] = (uint8_t)crc;
    raw[3 + len] = (uint8_t)(crc >> 8);
    size_t n = cobs_encode(raw, (size_t)len + 4, enc, sizeof enc - 1);
    enc[n++] = 0;
    put(l, enc, n);
    if (remember) {
        memcpy(l->last_reply, enc, n);
        l->last_reply_len = (uint8_t)n;
    }
}

void link_reply(link_t *l, uint8_t type, uint8_t seq, const uint8_t *payload, uint8_t len)
{
    send(l, (uint8_t)(type | LINK_REPLY_FLAG), seq, payload, len, 1);
}

void link_send(link_t *l, uint8_t type, uint8_t seq, const uint8_t *payload, uint8_t len)
{
    send(l, type, seq, payload, len, 0);
}

/* A whole frame is in rx: check it; 1 when it is a new request for the board. */
static uint8_t end_frame(link_t *l, uint32_t now_ms, link_frame_t *out)
{
    int n = cobs_decode(l->rx, l->rx_len, l->raw, sizeof l->raw);
    if (n < 4 || crc16(l->raw, (size_t)n - 2) != get16(l->raw + n - 2)) {
        l->frames_bad++;
        return 0;
    }
    l->frames_ok++;
    link_watchdog_feed(&l->wd, now_ms);
    uint8_t type = l->raw[0], seq = l->raw[1];
    uint16_t crc = get16(l->raw + n - 2);
    if (l->have_last && type == l->last_type && seq == l->last_seq && crc == l->last_crc) {
        /* the host did not get our reply: resend it, do not act twice */
        put(l, l->last_reply, l->last_reply_len);
        return 0;
    }
    l->have_last = 1;
    l->last_type = type;
    l->last_seq = seq;
    l->last_crc = crc;
    out->type = type;
    out->seq = seq;
    out->payload = l->raw + 2;
    out->len = (uint8_t)(n - 4);
    return 1;
}

uint8_t link_rx_byte(link_t *l, uint8_t byte, uint32_t now_ms, link_frame_t *out)
{
    if (byte != 0) {
        if (l->rx_len < LINK_RX_CAP)
            l->rx[l->rx_len++] = byte;
        else
            l->rx_overflow = 1;
        return 0;
    }
    uint8_t got = 0;
    if (l->rx_overflow)
        l->frames_bad++;
    else if (l->rx_len > 0) /* empty frames (0x00 0x00) are idle fill */
        got = end_frame(l, now_ms, out);
    l->rx_len = 0;
    l->rx_overflow = 0;
    return got;
}
