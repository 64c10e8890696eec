/* Transmit queue: a byte ring that takes whole frames or nothing.
 *
 * Output must never stall a control loop: when the link cannot take a frame
 * (the UART is slower than the replies, or the host stopped reading its
 * port), txq_put() refuses it at once and the caller counts the drop and
 * carries on; the watchdog and the slew ticks keep running. A frame is never
 * cut short, so the receiver sees whole frames or nothing, never a torn one.
 *
 * One producer (the main loop) and one consumer (a UART interrupt on the MCU,
 * the pty writer on the host). The indices are single bytes, so each update is
 * atomic on an 8-bit MCU; the producer writes the bytes before it moves head,
 * the consumer reads a byte before it moves tail. Board-independent: any
 * physres firmware links it. */
#ifndef PHYSRES_TXQ_H
#define PHYSRES_TXQ_H
#include <stddef.h>
#include <stdint.h>

/* Capacity in bytes: a power of two up to 256 (one slot stays empty). 128 holds
 * three 38-byte frames (32-byte payload, COBS, CRC); override with -DTXQ_CAP=N. */
#ifndef TXQ_CAP
#define TXQ_CAP 128u
#endif
#if (TXQ_CAP & (TXQ_CAP - 1u)) || TXQ_CAP > 256u || TXQ_CAP < 2u
#error "TXQ_CAP must be a power of two between 2 and 256"
#endif

typedef struct {
    volatile uint8_t buf[TXQ_CAP];
    volatile uint8_t head; /* next byte the producer writes */
    volatile uint8_t tail; /* next byte the consumer sends */
} txq_t;

void txq_init(txq_t *q);
/* Bytes free for the next put. */
size_t txq_room(const txq_t *q);
/* Queue all len bytes and return 1, or queue none and return 0 (no room). */
uint8_t txq_put(txq_t *q, const uint8_t *data, size_t len);
uint8_t txq_empty(const txq_t *q);
/* Take the oldest byte; only when !txq_empty(q). */
uint8_t txq_pop(txq_t *q);
/* The oldest queued bytes that lie contiguously in the ring (for a bulk write()):
 * sets *data and returns their count; then txq_consume() as many as were sent. */
size_t txq_peek(const txq_t *q, const uint8_t **data);
void txq_consume(txq_t *q, size_t n);

#endif
