/* Hardware-abstraction layer of the neuromorphic bridge: everything board.c needs.
 * avr/main.c implements it on an ATmega328P (chip on SPI), host/main.c on a POSIX
 * pty (chip: the emulator process on a socket). */
#ifndef NEURO_BRIDGE_HAL_H
#define NEURO_BRIDGE_HAL_H
#include <stddef.h>
#include <stdint.h>

/* Microseconds since boot (wraps after 71 minutes; compare with differences). */
uint32_t hal_now_us(void);
/* Milliseconds since boot, the clock board_tick() is driven by. */
uint32_t hal_now_ms(void);
/* Queue one whole frame for the UART: 1 if queued, 0 if dropped (never blocks). */
uint8_t hal_uart_write(const uint8_t *data, size_t len);
/* Bytes the UART queue can take now: spike frames are only built when they fit. */
size_t hal_uart_room(void);
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
