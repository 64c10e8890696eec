#include "reply.h"

#include "le.h"

void link_reply_error(link_t *l, uint8_t type, uint8_t seq, uint8_t code, uint8_t detail)
{
    uint8_t p[2] = {code, detail};
    link_reply(l, type, seq, p, 2);
}

void link_reply_unknown(link_t *l, uint8_t type, uint8_t seq)
{
    link_reply_error(l, type & (uint8_t)~LINK_REPLY_FLAG, seq, LINK_ERR_UNKNOWN_TYPE, type);
}

uint8_t link_hello_ok(link_t *l, uint8_t seq, const uint8_t *p, uint8_t len, uint8_t version,
                      uint8_t bad_version)
{
    if (len != 1)
        link_reply_error(l, LINK_MSG_HELLO, seq, LINK_ERR_BAD_LENGTH, 1);
    else if (p[0] != version)
        link_reply_error(l, LINK_MSG_HELLO, seq, bad_version, version);
    else
        return 1;
    return 0;
}

void link_hello_head(uint8_t *r, uint8_t version, uint8_t major, uint8_t minor, uint8_t patch)
{
    r[0] = LINK_OK;
    r[1] = version;
    r[2] = major;
    r[3] = minor;
    r[4] = patch;
}

void link_reply_time(link_t *l, uint8_t type, uint8_t seq, uint8_t len, uint32_t now_us)
{
    if (len != 0)
        return link_reply_error(l, type, seq, LINK_ERR_BAD_LENGTH, 0);
    uint8_t r[5];
    r[0] = LINK_OK;
    put32(r + 1, now_us);
    link_reply(l, type, seq, r, sizeof r);
}

void link_reply_watchdog(link_t *l, uint8_t type, uint8_t seq, const uint8_t *p, uint8_t len,
                         uint16_t min_ms, uint16_t max_ms)
{
    if (len != 2)
        return link_reply_error(l, type, seq, LINK_ERR_BAD_LENGTH, 2);
    uint16_t ms = get16(p);
    if (ms < min_ms || ms > max_ms)
        return link_reply_error(l, type, seq, LINK_ERR_OUT_OF_RANGE, 0);
    l->wd.timeout_ms = ms;
    uint8_t r[3] = {LINK_OK, 0, 0};
    put16(r + 1, ms);
    link_reply(l, type, seq, r, sizeof r);
}

void link_status_head(const link_t *l, uint8_t *r, uint32_t now_us, uint8_t flags)
{
    r[0] = LINK_OK;
    put32(r + 1, now_us);
    put32(r + 5, l->frames_ok);
    put32(r + 9, l->frames_bad);
    put16(r + 13, l->wd.trips);
    r[15] = flags;
}

uint8_t link_watchdog_trip(link_t *l, uint32_t now_ms, uint8_t *flags)
{
    if (!link_watchdog_expired(&l->wd, now_ms))
        return 0;
    *flags |= LINK_FLAG_WATCHDOG_TRIPPED;
    return 1;
}
