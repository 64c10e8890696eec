/* ATmega328P target of the neuromorphic bridge (16 MHz): the chip bus and the activity
 * LED on real registers. The UART, Timer1's clock and the main loop are
 * common/avr/main.c's (built with a 128-byte receive ring: one whole EVENTS_IN frame).
 *
 * Pins (Arduino names): the chip on the hardware SPI as master (SS PB2/D10 held
 * low as chip select, MOSI PB3/D11, MISO PB4/D12, SCK PB5/D13, 1 MHz); link
 * activity LED on PB1 (D9). The chip bus is polled: a read clocks out CHIP_CLOCK
 * and the chip answers one byte of its stream (CHIP_IDLE if none). */
#include <avr/io.h>

#include "../../common/avr/main.h"
#include "../chip.h"
#include "../hal.h"

void hal_activity(uint8_t level)
{
    if (level)
        PORTB |= _BV(PB1);
    else
        PORTB &= (uint8_t)~_BV(PB1);
}

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

void avr_board_init(void)
{
    /* SPI master, mode 0, f/16 = 1 MHz; SS low selects the chip; LED output low */
    PORTB &= (uint8_t)~(_BV(PB1) | _BV(PB2));
    DDRB |= _BV(PB1) | _BV(PB2) | _BV(PB3) | _BV(PB5);
    SPCR = _BV(SPE) | _BV(MSTR) | _BV(SPR0);
}
