/* Hardware-abstraction layer: everything board.c needs from the outside.
 * avr/main.c implements it on an ATmega328P, host/main.c on a POSIX pty. */
#ifndef BUCKET_HAL_H
#define BUCKET_HAL_H
#include <stddef.h>
#include <stdint.h>

/* Microseconds since boot (wraps after 71 minutes; compare with differences). */
uint32_t hal_now_us(void);
/* Milliseconds since boot, the same clock board_tick() is driven by. */
uint32_t hal_now_ms(void);
/* Set motor ch's output duty (0..DUTY_FULL_SCALE); 0 must mean fully off. */
void hal_set_pwm(uint8_t ch, uint16_t duty);
/* Drive the camera-sync strobe pin to level (0/1). */
void hal_strobe(uint8_t level);
/* Queue one whole frame for the UART and return 1, or drop all of it and
 * return 0 when there is no room. Never blocks: a host that stops reading must
 * not stop the tick (and with it the watchdog). Both targets queue through
 * common/txq.h. */
uint8_t hal_uart_write(const uint8_t *data, size_t len);

#endif
