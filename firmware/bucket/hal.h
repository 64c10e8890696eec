/* Hardware-abstraction layer: everything board.c needs from the outside.
 * avr/hal_avr.c implements it on an ATmega328P, host/main.c on a POSIX pty. */
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
/* Queue bytes for the UART (may block until there is room). */
void hal_uart_write(const uint8_t *data, size_t len);

#endif
