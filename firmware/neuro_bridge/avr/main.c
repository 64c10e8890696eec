/* ATmega328P target (16 MHz): the bridge HAL on real registers and the main loop.
 *
 * Pins (Arduino names): the chip on the hardware SPI as master (SS PB2/D10 held
 * low as chip select, MOSI PB3/D11, MISO PB4/D12, SCK PB5/D13, 1 MHz); link
 * activity LED on PB1 (D9). Timer1 in CTC mode gives the 1 ms tick and the
 * microsecond clock. UART 38400 8N1, interrupt-driven both ways; the CPU sleeps
 * (idle) when there is nothing to do. The chip bus is polled: a read clocks out
 * CHIP_CLOCK and the chip answers one byte of its stream (CHIP_IDLE if none). */
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

#define RXBUF 128 /* power of two: one whole EVENTS_IN frame */
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

void hal_activity(uint8_t level)
{
    if (level)
        PORTB |= _BV(PB1);
    else
        PORTB &= (uint8_t)~_BV(PB1);
}

uint8_t hal_uart_write(const uint8_t *data, size_t len)
{
    if (!txq_put(&txq, data, len))
        return 0; /* the UART is behind: drop the frame, keep ticking */
    UCSR0B |= _BV(UDRIE0);
    return 1;
}

size_t hal_uart_room(void) { return txq_room(&txq); }

static uint8_t spi_xfer(uint8_t out)
{
    SPDR = out;
    while (!(SPSR & _BV(SPIF)))
        ;
    return SPDR;
}

uint8_t hal_chip_write(const uint8_t *rec, uint8_t len)
{
    while (len--)
        spi_xfer(*rec++);
    return 1;
}

size_t hal_chip_backlog(void) { return 0; }

int16_t hal_chip_getc(uint16_t timeout_ms)
{
    (void)timeout_ms; /* SPI does not wait: the chip says CHIP_IDLE */
    return spi_xfer(CHIP_CLOCK);
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

    /* SPI master, mode 0, f/16 = 1 MHz; SS low selects the chip; LED output low */
    PORTB &= (uint8_t)~(_BV(PB1) | _BV(PB2));
    DDRB |= _BV(PB1) | _BV(PB2) | _BV(PB3) | _BV(PB5);
    SPCR = _BV(SPE) | _BV(MSTR) | _BV(SPR0);

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
