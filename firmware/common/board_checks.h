/* A board's proto.h repeats the common layer's numbers (its driver's unit test parses
 * that header): included by its board.c after proto.h, this stops a build in which the
 * two disagree. */
#ifndef PHYSRES_BOARD_CHECKS_H
#define PHYSRES_BOARD_CHECKS_H

#include "link.h"
#include "reply.h"

typedef char payload_fits_the_link[(MAX_PAYLOAD == LINK_MAX_PAYLOAD) ? 1 : -1];
typedef char reply_flag_is_the_link_s[(REPLY_FLAG == LINK_REPLY_FLAG) ? 1 : -1];
typedef char hello_is_the_link_s[(MSG_HELLO == LINK_MSG_HELLO) ? 1 : -1];
typedef char ok_is_the_link_s[(ERR_OK == LINK_OK) ? 1 : -1];
typedef char unknown_type_is_the_link_s[(ERR_UNKNOWN_TYPE == LINK_ERR_UNKNOWN_TYPE) ? 1 : -1];
typedef char bad_length_is_the_link_s[(ERR_BAD_LENGTH == LINK_ERR_BAD_LENGTH) ? 1 : -1];
typedef char out_of_range_is_the_link_s[(ERR_OUT_OF_RANGE == LINK_ERR_OUT_OF_RANGE) ? 1 : -1];
typedef char watchdog_flag_is_the_link_s[(FLAG_WATCHDOG_TRIPPED == LINK_FLAG_WATCHDOG_TRIPPED) ? 1 : -1];

#endif
