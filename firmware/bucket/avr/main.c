/* ATmega328P target (Arduino Uno/Nano class, 16 MHz): the HAL on real
 * registers and the main loop.
 *
 * Pins (Arduino names): motors 0..3 on OC0A/PD6 (D6), OC0B/PD5 (D5),
 * OC2A/PB3 (D11), OC2B/PD3 (D3), 8-bit fast PWM at 976 Hz; camera strobe on
 * PB0 (D8). Timer1 in CTC mode gives the 1 ms tick and the microsecond clock.
 * UART 38400 8N1, interrupt-driven both ways; the CPU sleeps (idle) when there
 * is nothing to do, which also keeps simavr close to real time. */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <util/atomic.h>

#ifndef BAUD
#define BAUD 38400
#endif
#include <util/setbaud.h>

#include "../../common/txq.h"
#include "../board.h"
#include "../hal.h"

/* MCU name and clock for simavr, stored in a section it reads from the ELF */
#include "avr_mcu_section.h"
AVR_MCU(F_CPU, "atmega328p");

#define RXBUF 64 /* power of two */
static volatile uint8_t rx_buf[RXBUF], rx_head, rx_tail;
static txq_t txq; /* drained by the UDRE interrupt */
static volatile uint32_t ms_ticks;

ISR(USART_RX_vect)
{
    uint8_t c = UDR0;
    uint8_t next = (uint8_t)((rx_head + 1) & (RXBUF - 1));
    if (next != rx_tail) { /* on overflow the byte is lost: the CRC catches it */
        rx_buf[rx_head] = c;
        rx_head = next;
    }
}

ISR(USART_UDRE_vect)
{
    if (txq_empty(&txq)) {
        UCSR0B &= (uint8_t)~_BV(UDRIE0);
        return;
    }
    UDR0 = txq_pop(&txq);
}

ISR(TIMER1_COMPA_vect) { ms_ticks++; }

uint32_t hal_now_ms(void)
{
    uint32_t ms;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { ms = ms_ticks; }
    return ms;
}

uint32_t hal_now_us(void)
{
    uint32_t ms;
    uint16_t sub;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        ms = ms_ticks;
        sub = TCNT1;
        /* the compare match fired but its ISR has not run yet */
        if ((TIFR1 & _BV(OCF1A)) && sub < 1000)
            ms++;
    }
    return ms * 1000u + sub / 2u; /* timer1 counts at 2 MHz */
}

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

uint8_t hal_uart_write(const uint8_t *data, size_t len)
{
    if (!txq_put(&txq, data, len))
        return 0; /* the UART is behind: drop the frame, keep ticking */
    UCSR0B |= _BV(UDRIE0);
    return 1;
}

static void hw_init(void)
{
    UBRR0H = UBRRH_VALUE;
    UBRR0L = UBRRL_VALUE;
#if USE_2X
    UCSR0A |= _BV(U2X0);
#else
    UCSR0A &= (uint8_t)~_BV(U2X0);
#endif
    UCSR0C = _BV(UCSZ01) | _BV(UCSZ00);
    UCSR0B = _BV(RXEN0) | _BV(TXEN0) | _BV(RXCIE0);

    /* motor pins low and outputs; strobe pin output */
    PORTD &= (uint8_t)~(_BV(PD6) | _BV(PD5) | _BV(PD3));
    DDRD |= _BV(PD6) | _BV(PD5) | _BV(PD3);
    PORTB &= (uint8_t)~(_BV(PB3) | _BV(PB0));
    DDRB |= _BV(PB3) | _BV(PB0);
    TCCR0A = _BV(WGM01) | _BV(WGM00); /* fast PWM, outputs disconnected */
    TCCR0B = _BV(CS01) | _BV(CS00);   /* /64 */
    TCCR2A = _BV(WGM21) | _BV(WGM20);
    TCCR2B = _BV(CS22); /* /64 on timer2 */

    TCCR1A = 0;
    TCCR1B = _BV(WGM12) | _BV(CS11); /* CTC, /8: 2 MHz */
    OCR1A = 1999;                     /* 1 kHz */
    TIMSK1 = _BV(OCIE1A);
}

int main(void)
{
    static board_t board;
    hw_init();
    txq_init(&txq);
    board_init(&board);
    set_sleep_mode(SLEEP_MODE_IDLE);
    sei();
    uint32_t done_ms = 0;
    for (;;) {
        while (rx_tail != rx_head) {
            uint8_t c = rx_buf[rx_tail];
            rx_tail = (uint8_t)((rx_tail + 1) & (RXBUF - 1));
            board_rx_byte(&board, c);
        }
        uint32_t now = hal_now_ms();
        while (done_ms != now)
            board_tick(&board, ++done_ms);
        cli();
        if (rx_tail == rx_head && done_ms == ms_ticks) {
            sleep_enable();
            sei();
            sleep_cpu();
            sleep_disable();
        }
        sei();
    }
}
