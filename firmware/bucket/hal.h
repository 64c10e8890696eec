/* Hardware-abstraction layer: everything board.c needs from the outside. The clocks
 * and the UART queue are common/hal_core.h's (common/avr/main.c on an ATmega328P,
 * common/host/main.c on a POSIX pty); the outputs below are avr/hal.c's on the MCU and
 * host/hal.c's on the host. */
#ifndef BUCKET_HAL_H
#define BUCKET_HAL_H
#include <stddef.h>
#include <stdint.h>

#include "../common/hal_core.h"

/* Set motor ch's output duty (0..DUTY_FULL_SCALE); 0 must mean fully off. */
void hal_set_pwm(uint8_t ch, uint16_t duty);
/* Drive the camera-sync strobe pin to level (0/1). */
void hal_strobe(uint8_t level);

#endif
