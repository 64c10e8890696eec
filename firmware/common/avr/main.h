/* What a board's avr/hal.c gives the common AVR main (common/avr/main.c). */
#ifndef PHYSRES_AVR_MAIN_H
#define PHYSRES_AVR_MAIN_H

/* Set up the board's own pins and peripherals; called once with interrupts off,
 * after the UART and before Timer1 starts the tick. */
void avr_board_init(void);

#endif
