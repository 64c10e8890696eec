/* The common link layer of every physres board (firmware/PROTOCOL.md, common layer):
 * COBS frames ending in 0x00, CRC-16 over type | seq | payload, counters of good
 * and bad frames, the link watchdog fed by every good frame, and retries
 * answered from a cached reply so a resent request is never acted on twice.
 *
 * A board feeds received bytes to link_rx_byte(); each new request comes back
 * as a link_frame_t for the board's own dispatch, which answers with
 * link_reply() (or link_send() for events). Bytes leave through the write
 * function given to link_init(), which must never block: it returns 0 when a
 * frame does not fit (see txq.h) and the link counts the drop. */
#ifndef PHYSRES_LINK_H
#define PHYSRES_LINK_H
#include <stddef.h>
#include <stdint.h>

#include "cobs.h"
#include "watchdog.h"

/* Longest payload a frame carries; a board may build with a different -D value. */
#ifndef LINK_MAX_PAYLOAD
#define LINK_MAX_PAYLOAD 32u
#endif
/* type + seq + payload + crc16 */
#define LINK_MAX_RAW (2u + LINK_MAX_PAYLOAD + 2u)
#define LINK_RX_CAP COBS_MAX_ENCODED(LINK_MAX_RAW)
#define LINK_TX_CAP (COBS_MAX_ENCODED(LINK_MAX_RAW) + 1u)
/* a reply has the request's type | LINK_REPLY_FLAG */
#define LINK_REPLY_FLAG 0x80u

/* Queue one whole frame for the wire: 1 if queued, 0 if dropped (never blocks). */
typedef uint8_t (*link_write_fn)(const uint8_t *data, size_t len);

typedef struct {
    uint8_t type, seq;
    const uint8_t *payload; /* valid until the next link_rx_byte() */
    uint8_t len;
} link_frame_t;

typedef struct {
    link_write_fn write;
    link_watchdog_t wd;
    uint32_t frames_ok, frames_bad;
    uint16_t tx_dropped; /* frames the write function had no room for (wraps) */
    /* receive state: COBS bytes up to the next 0x00, and the decoded frame */
    uint8_t rx[LINK_RX_CAP];
    uint8_t rx_len, rx_overflow;
    uint8_t raw[LINK_MAX_RAW];
    /* last request and its encoded reply, resent verbatim on a retry */
    uint8_t last_type, last_seq, have_last;
    uint16_t last_crc;
    uint8_t last_reply[LINK_TX_CAP];
    uint8_t last_reply_len;
} link_t;

void link_init(link_t *l, link_write_fn write, uint16_t watchdog_ms);
/* Take one received byte at now_ms; returns 1 and fills *out when it completes a
 * good frame that is not a retry (bad frames are counted, retries answered). */
uint8_t link_rx_byte(link_t *l, uint8_t byte, uint32_t now_ms, link_frame_t *out);
/* Answer request (type, seq) and cache the reply for a retry. */
void link_reply(link_t *l, uint8_t type, uint8_t seq, const uint8_t *payload, uint8_t len);
/* Send a frame that answers nothing (an event: the board's own counter in seq). */
void link_send(link_t *l, uint8_t type, uint8_t seq, const uint8_t *payload, uint8_t len);

#endif
