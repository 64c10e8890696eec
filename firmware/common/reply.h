/* Answers every board gives the same way (firmware/PROTOCOL.md, common layer): the
 * status byte that starts each reply and its first codes, the error reply, HELLO's
 * version check, a reply that is the board time, SET_WATCHDOG, and the fields every
 * STATUS reply starts with. A board's proto.h repeats the codes (its driver's unit
 * test parses that header) and its board.c checks that the two agree. */
#ifndef PHYSRES_REPLY_H
#define PHYSRES_REPLY_H
#include <stdint.h>

#include "link.h"

/* HELLO has this type on every board */
#define LINK_MSG_HELLO 0x01u
#define LINK_OK 0u
#define LINK_ERR_UNKNOWN_TYPE 1u
#define LINK_ERR_BAD_LENGTH 2u
#define LINK_ERR_OUT_OF_RANGE 3u
/* STATUS reply bytes that link_status_head() fills */
#define LINK_STATUS_HEAD 16u
/* STATUS flag: the link watchdog tripped (cleared by the board's next input) */
#define LINK_FLAG_WATCHDOG_TRIPPED 0x01u

/* A refusal: the code and one detail byte. */
void link_reply_error(link_t *l, uint8_t type, uint8_t seq, uint8_t code, uint8_t detail);
/* A request type the board does not know: UNKNOWN_TYPE, the type as the detail. */
void link_reply_unknown(link_t *l, uint8_t type, uint8_t seq);
/* HELLO's payload is the host's protocol version: 1 when it is one byte equal to
 * version; otherwise 0, having answered BAD_LENGTH (1) or bad_version (version). */
uint8_t link_hello_ok(link_t *l, uint8_t seq, const uint8_t *p, uint8_t len, uint8_t version,
                      uint8_t bad_version);
/* The first 5 bytes of a HELLO reply: OK, the protocol version, and the firmware's
 * major, minor and patch numbers. */
void link_hello_head(uint8_t *r, uint8_t version, uint8_t major, uint8_t minor, uint8_t patch);
/* An empty request answered with OK and the board time now_us (u32). */
void link_reply_time(link_t *l, uint8_t type, uint8_t seq, uint8_t len, uint32_t now_us);
/* SET_WATCHDOG: timeout_ms u16 within min_ms..max_ms becomes the link watchdog's
 * timeout and is echoed; BAD_LENGTH (2) or OUT_OF_RANGE (0) otherwise. */
void link_reply_watchdog(link_t *l, uint8_t type, uint8_t seq, const uint8_t *p, uint8_t len,
                         uint16_t min_ms, uint16_t max_ms);
/* The first LINK_STATUS_HEAD bytes of a STATUS reply: OK, uptime_us u32, frames_ok u32,
 * frames_bad u32, wd_trips u16, flags u8 (LINK_FLAG_WATCHDOG_TRIPPED and the board's). */
void link_status_head(const link_t *l, uint8_t *r, uint32_t now_us, uint8_t flags);
/* The 1 ms tick's watchdog check: 1 (and LINK_FLAG_WATCHDOG_TRIPPED set in *flags)
 * once per silence longer than the timeout; the board then makes its outputs safe. */
uint8_t link_watchdog_trip(link_t *l, uint32_t now_ms, uint8_t *flags);

#endif
