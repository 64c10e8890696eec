/* Consistent Overhead Byte Stuffing: frames never contain 0x00, so 0x00 is
 * the delimiter and a receiver resynchronises at the next zero after garbage. */
#ifndef PHYSRES_COBS_H
#define PHYSRES_COBS_H
#include <stddef.h>
#include <stdint.h>

/* Worst-case encoded size of n raw bytes (without the 0x00 delimiter). */
#define COBS_MAX_ENCODED(n) ((n) + ((n) / 254u) + 1u)

/* Encode len bytes from src into dst (capacity cap); returns the encoded
 * length, or 0 if dst is too small. Does not append the delimiter. */
size_t cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap);

/* Decode len bytes (no delimiter) into dst (capacity cap); returns the
 * decoded length, or -1 if the input is not valid COBS or dst is too small. */
int cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap);

#endif
