#include "cobs.h"

size_t cobs_encode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
    if (cap < COBS_MAX_ENCODED(len))
        return 0;
    size_t out = 1, code_at = 0;
    uint8_t code = 1;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == 0) {
            dst[code_at] = code;
            code_at = out++;
            code = 1;
        } else {
            dst[out++] = src[i];
            if (++code == 0xFF) {
                dst[code_at] = code;
                code_at = out++;
                code = 1;
            }
        }
    }
    dst[code_at] = code;
    return out;
}

int cobs_decode(const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
    size_t in = 0, out = 0;
    while (in < len) {
        uint8_t code = src[in++];
        if (code == 0)
            return -1;
        for (uint8_t i = 1; i < code; i++) {
            if (in >= len || src[in] == 0 || out >= cap)
                return -1;
            dst[out++] = src[in++];
        }
        if (code != 0xFF && in < len) {
            if (out >= cap)
                return -1;
            dst[out++] = 0;
        }
    }
    return (int)out;
}
