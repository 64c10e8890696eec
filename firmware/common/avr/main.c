/* ATmega328P target of every board (16 MHz): the UART, the clocks and the main loop.
 *
 * UART 38400 8N1 (build-time BAUD), interrupt-driven both ways: received bytes wait
 * in a ring (AVR_RX_BUF bytes, a power of two up to 128), frames leave through the
 * transmit queue (common/txq.h) that the UDRE interrupt drains. Timer1 in CTC mode
 * gives the 1 ms tick and the microsecond clock (2 MHz count). The main loop feeds the
 * board its bytes and ticks and sleeps (idle) when there is nothing to do, which also
 * keeps simavr close to real time. The board's avr/hal.c sets up its own pins
 * (avr_board_init) and implements the rest of its hal.h.
 *
 * The board's logic comes from its board.h (board_t, which holds its link_t as link;
 * board_init, board_request, board_tick), found on the include path the Makefile
 * gives (-I<board folder>): the link takes each received byte, and a new request goes
 * to board_request(). */
#include "main.h"

#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <util/atomic.h>

#ifndef BAUD
#define BAUD 38400
#endif
#include <util/setbaud.h>

#include "../hal_core.h"
#include "../txq.h"
#include "board.h"

/* MCU name and clock for simavr, stored in a section it reads from the ELF */
#include "avr_mcu_section.h"
AVR_MCU(F_CPU, "atmega328p");

#ifndef AVR_RX_BUF
#define AVR_RX_BUF 64u
#endif
#if (AVR_RX_BUF & (AVR_RX_BUF - 1u)) || AVR_RX_BUF > 128u
#error "AVR_RX_BUF must be a power of two up to 128"
#endif
static volatile uint8_t rx_buf[AVR_RX_BUF], rx_head, rx_tail;
static txq_t txq; /* drained by the UDRE interrupt */
static volatile uint32_t ms_ticks;

ISR(USART_RX_vect)
{
    uint8_t c = UDR0;
    uint8_t next = (uint8_t)((rx_head + 1) & (AVR_RX_BUF - 1));
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

uint8_t hal_uart_write(const uint8_t *data, size_t len)
{
    if (!txq_put(&txq, data, len))
        return 0; /* the UART is behind: drop the frame, keep ticking */
    UCSR0B |= _BV(UDRIE0);
    return 1;
}

size_t hal_uart_room(void) { return txq_room(&txq); }

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

    avr_board_init();

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
            rx_tail = (uint8_t)((rx_tail + 1) & (AVR_RX_BUF - 1));
            link_frame_t f;
            if (link_rx_byte(&board.link, c, hal_now_ms(), &f))
                board_request(&board, &f);
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
