/* The part of the hardware-abstraction layer every board has, whatever its pins: the
 * clocks and the UART's transmit queue. common/avr/main.c implements it on an
 * ATmega328P, common/host/main.c on a POSIX pty; a board's hal.h includes this and
 * adds its own outputs, which its avr/hal.c and host/hal.c implement. */
#ifndef PHYSRES_HAL_CORE_H
#define PHYSRES_HAL_CORE_H
#include <stddef.h>
#include <stdint.h>

/* Microseconds since boot (wraps after 71 minutes; compare with differences). */
uint32_t hal_now_us(void);
/* Milliseconds since boot, the clock board_tick() is driven by. */
uint32_t hal_now_ms(void);
/* Queue one whole frame for the UART and return 1, or drop all of it and return 0
 * when there is no room. Never blocks: a host that stops reading must not stop the
 * tick (and with it the watchdog). Both targets queue through common/txq.h. */
uint8_t hal_uart_write(const uint8_t *data, size_t len);
/* Bytes the UART queue can take now (a board that streams builds a frame only when
 * it fits). */
size_t hal_uart_room(void);

#endif
