/* What every board's board.c gives the target mains (common/avr/main.c,
 * common/host/main.c) and its tests. The board's board.h defines board_t, holding
 * its link_t as `link` (the mains feed it the received bytes), then includes this. */
#ifndef PHYSRES_BOARD_API_H
#define PHYSRES_BOARD_API_H
#include <stdint.h>

#include "link.h"

/* Start from nothing: counters zero, outputs safe, the link's watchdog at its default. */
void board_init(board_t *b);
/* Act on a new request (link_rx_byte() filled f) and answer it. */
void board_request(board_t *b, const link_frame_t *f);
/* Call once per elapsed millisecond; now_ms is the millisecond counter. */
void board_tick(board_t *b, uint32_t now_ms);

#endif
