#include "watchdog.h"

void link_watchdog_init(link_watchdog_t *wd, uint16_t timeout_ms)
{
    wd->last_feed_ms = 0;
    wd->timeout_ms = timeout_ms;
    wd->armed = 0;
    wd->trips = 0;
}

void link_watchdog_feed(link_watchdog_t *wd, uint32_t now_ms)
{
    wd->last_feed_ms = now_ms;
    wd->armed = 1;
}

uint8_t link_watchdog_expired(link_watchdog_t *wd, uint32_t now_ms)
{
    if (!wd->armed)
        return 0;
    /* signed: a feed stamped after a late tick's time must not look ancient */
    if ((int32_t)(now_ms - wd->last_feed_ms) < (int32_t)wd->timeout_ms)
        return 0;
    wd->armed = 0;
    wd->trips++;
    return 1;
}
