/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0.
 * Shared by every physres firmware; the host side uses crcmod's "crc-ccitt-false".
 * Check value: crc16("123456789") == 0x29B1. */
#ifndef PHYSRES_CRC16_H
#define PHYSRES_CRC16_H
#include <stddef.h>
#include <stdint.h>

#define CRC16_INIT 0xFFFFu

uint16_t crc16_update(uint16_t crc, uint8_t byte);
uint16_t crc16(const uint8_t *data, size_t len);

#endif
