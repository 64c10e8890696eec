/* Hardware-abstraction layer of the neuromorphic bridge: everything board.c needs.
 * The clocks and the UART queue are common/hal_core.h's (common/avr/main.c on an
 * ATmega328P, common/host/main.c on a POSIX pty); the activity LED and the chip bus
 * below are avr/hal.c's (chip on SPI) and host/hal.c's (chip: the emulator process on
 * a socket). */
#ifndef NEURO_BRIDGE_HAL_H
#define NEURO_BRIDGE_HAL_H
#include <stddef.h>
#include <stdint.h>

#include "../common/hal_core.h"

/* The link-activity LED, toggled by every request the board acts on (the harness
 * timestamps its edges on the MCU clock: the time of the last valid frame). */
void hal_activity(uint8_t level);
/* Send one chip-bus record (chip.h); 0 when the chip is gone. */
uint8_t hal_chip_write(const uint8_t *rec, uint8_t len);
/* Bytes written to the chip that it has not taken yet (SPI: always 0). */
size_t hal_chip_backlog(void);
/* The next byte of the chip's stream, waiting up to timeout_ms; -1 when none came
 * (SPI never waits: the chip answers CHIP_IDLE when it has nothing). */
int16_t hal_chip_getc(uint16_t timeout_ms);

#endif
