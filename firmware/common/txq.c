#include "txq.h"

#define MASK ((uint8_t)(TXQ_CAP - 1u))

void txq_init(txq_t *q)
{
    q->head = 0;
    q->tail = 0;
}

size_t txq_room(const txq_t *q)
{
    return (size_t)(TXQ_CAP - 1u) - (uint8_t)((q->head - q->tail) & MASK);
}

uint8_t txq_put(txq_t *q, const uint8_t *data, size_t len)
{
    if (len > txq_room(q))
        return 0;
    uint8_t h = q->head;
    while (len--) {
        q->buf[h] = *data++;
        h = (uint8_t)((h + 1u) & MASK);
    }
    q->head = h; /* publish only after every byte is in place */
    return 1;
}

uint8_t txq_empty(const txq_t *q) { return q->head == q->tail; }

uint8_t txq_pop(txq_t *q)
{
    uint8_t t = q->tail;
    uint8_t c = q->buf[t];
    q->tail = (uint8_t)((t + 1u) & MASK);
    return c;
}

size_t txq_peek(const txq_t *q, const uint8_t **data)
{
    uint8_t h = q->head, t = q->tail;
    /* the consumer is the only one to move tail, so reading buf here is safe */
    *data = (const uint8_t *)&q->buf[t];
    return h >= t ? (size_t)(h - t) : (size_t)(TXQ_CAP - t);
}

void txq_consume(txq_t *q, size_t n) { q->tail = (uint8_t)((q->tail + n) & MASK); }
