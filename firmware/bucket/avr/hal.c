/* ATmega328P target of the bucket motor board (Arduino Uno/Nano class, 16 MHz): its
 * outputs on real registers. The UART, Timer1's clock and the main loop are
 * common/avr/main.c's.
 *
 * Pins (Arduino names): motors 0..3 on OC0A/PD6 (D6), OC0B/PD5 (D5),
 * OC2A/PB3 (D11), OC2B/PD3 (D3), 8-bit fast PWM at 976 Hz; camera strobe on
 * PB0 (D8). */
#include <avr/io.h>

#include "../../common/avr/main.h"
#include "../hal.h"
#include "../proto.h"

void hal_set_pwm(uint8_t ch, uint16_t duty)
{
    static volatile uint8_t *const ocr[N_MOTORS] = {&OCR0A, &OCR0B, &OCR2A, &OCR2B};
    static volatile uint8_t *const tccr[N_MOTORS] = {&TCCR0A, &TCCR0A, &TCCR2A, &TCCR2A};
    static const uint8_t com[N_MOTORS] = {_BV(COM0A1), _BV(COM0B1), _BV(COM2A1), _BV(COM2B1)};
    if (ch >= N_MOTORS)
        return;
    if (duty == 0) { /* fast PWM cannot reach 0 %: disconnect, pin low */
        *tccr[ch] &= (uint8_t)~com[ch];
        *ocr[ch] = 0;
    } else {
        *ocr[ch] = (uint8_t)(duty >> 8);
        *tccr[ch] |= com[ch];
    }
}

void hal_strobe(uint8_t level)
{
    if (level)
        PORTB |= _BV(PB0);
    else
        PORTB &= (uint8_t)~_BV(PB0);
}

void avr_board_init(void)
{
    /* motor pins low and outputs; strobe pin output */
    PORTD &= (uint8_t)~(_BV(PD6) | _BV(PD5) | _BV(PD3));
    DDRD |= _BV(PD6) | _BV(PD5) | _BV(PD3);
    PORTB &= (uint8_t)~(_BV(PB3) | _BV(PB0));
    DDRB |= _BV(PB3) | _BV(PB0);
    TCCR0A = _BV(WGM01) | _BV(WGM00); /* fast PWM, outputs disconnected */
    TCCR0B = _BV(CS01) | _BV(CS00);   /* /64 */
    TCCR2A = _BV(WGM21) | _BV(WGM20);
    TCCR2B = _BV(CS22); /* /64 on timer2 */
}
