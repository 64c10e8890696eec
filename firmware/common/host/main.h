/* What a board's host/hal.c gives the common host main (common/host/main.c), and the
 * clock it may use for its stdout lines. */
#ifndef PHYSRES_HOST_MAIN_H
#define PHYSRES_HOST_MAIN_H
#include <stdint.h>

/* Nanoseconds since the program started: the times of the stdout lines. */
uint64_t host_now_ns(void);
/* The program's name, for messages on stderr. */
extern const char *host_prog;

/* Start the board's far side once the pty exists, before READY: cmd is what followed
 * "--" on the command line (NULL when nothing did). Returns 0, or the exit code to end
 * the program with (having said why on stderr). */
int host_board_start(char **cmd);
/* Once a pass of the main loop, after the ticks (move buffered bytes along). */
void host_board_poll(void);
/* At exit, after the link is removed (end what host_board_start started). */
void host_board_stop(void);

#endif
