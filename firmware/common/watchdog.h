/* Link watchdog: "no valid frame for timeout_ms" means the host is gone.
 * Pure logic on a millisecond clock the caller supplies (wrap-safe), so the
 * same code runs on the AVR tick and on the host's monotonic clock. */
#ifndef PHYSRES_WATCHDOG_H
#define PHYSRES_WATCHDOG_H
#include <stdint.h>

typedef struct {
    uint32_t last_feed_ms; /* time of the last valid frame */
    uint16_t timeout_ms;
    uint8_t armed;         /* armed by the first valid frame, disarmed by a trip */
    uint16_t trips;
} link_watchdog_t;

void link_watchdog_init(link_watchdog_t *wd, uint16_t timeout_ms);
void link_watchdog_feed(link_watchdog_t *wd, uint32_t now_ms);
/* Returns 1 exactly once per silence longer than the timeout (and counts it). */
uint8_t link_watchdog_expired(link_watchdog_t *wd, uint32_t now_ms);

#endif
